"""generators.expression: static poses from any condition, keyframe tracks and eased timelines."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.emotion import Emotion, emotion_to_arkit
from avatar.errors import AvatarInputError, UnknownNameError
from avatar.facs import ActionUnits
from avatar.head import default_head
from avatar.rig import index_of
from avatar.sequence import ExpressionSequence
from generators.expression import EASINGS, Keyframe, expression_weights, parse_emotion_track, refined_weights, timeline


@pytest.fixture(scope="module")
def head():
    return default_head()


# ------------------------------------------------------------------------- static poses


def test_no_condition_is_neutral():
    w = expression_weights()
    assert w.shape == (52,) and w.dtype == np.float32 and not w.any()


def test_emotion_forms_agree():
    # Emotion labels use the default prototype table (the refined one); "facs" gives avatar.emotion's EMFACS poses.
    ref = refined_weights("anger", 0.9)
    for form in (dict(emotion="anger", intensity=0.9), dict(emotion="angry@0.9"), dict(emotion=Emotion("anger", 0.9)),
                 dict(emotion=Emotion("anger"), intensity=0.9)):
        np.testing.assert_allclose(expression_weights(**form), ref, atol=1e-6)
        np.testing.assert_allclose(expression_weights(**form, prototypes="facs"), emotion_to_arkit("anger", 0.9), atol=1e-6)
    assert np.abs(ref - emotion_to_arkit("anger", 0.9)).max() > 0.05  # the two tables really differ


def test_aus_forms_agree():
    ref = ActionUnits({"AU6": 0.8, "AU12": 1.0}).to_arkit()
    for aus in ("AU6=0.8,AU12=1", {6: 0.8, "AU12": 1.0}, ActionUnits({"AU6": 0.8, "AU12": 1})):
        np.testing.assert_allclose(expression_weights(aus=aus), ref)
    half = expression_weights(aus="AU12=1", intensity=0.5)
    assert half[index_of("mouthSmileLeft")] == pytest.approx(0.5)


def test_va_and_mixture(head):
    w = expression_weights(va=(0.8, 0.5))
    corner = head.landmark("mouth_corner_left", head.pose(w))[1] - head.landmark("mouth_corner_left")[1]
    assert corner > 0.4  # mostly happy
    np.testing.assert_allclose(expression_weights(emotion=Emotion(valence=0.8, arousal=0.5)), w)
    mix = expression_weights(mixture={"happy": 0.5, "surprise": 0.5})
    assert mix[index_of("mouthSmileLeft")] == pytest.approx(0.5) and mix[index_of("browInnerUp")] == pytest.approx(0.5)


def test_condition_errors():
    with pytest.raises(AvatarInputError, match="emotion and aus"):
        expression_weights(emotion="happy", aus="AU12=1")
    with pytest.raises(UnknownNameError, match="'gleeful'"):
        expression_weights(emotion="gleeful")
    with pytest.raises(AvatarInputError, match="1.2"):
        expression_weights(emotion="happy", intensity=1.2)
    with pytest.raises(AvatarInputError, match="'AU12=2'"):
        expression_weights(aus="AU12=2")
    with pytest.raises(AvatarInputError, match="2.5"):
        expression_weights(aus={"AU12": 2.5})
    with pytest.raises(AvatarInputError, match="1.5"):
        expression_weights(va=(1.5, 0))
    with pytest.raises(AvatarInputError, match="pair"):
        expression_weights(va=0.5)  # type: ignore[arg-type]


def test_custom_prototypes_flow_through():
    protos = {"pain": "AU4=0.8,AU6=0.7,AU7=0.8"}
    w = expression_weights(emotion="pain@0.5", prototypes=protos)
    assert w[index_of("browDownLeft")] == pytest.approx(0.4)
    seq = timeline([Keyframe(0, "neutral"), Keyframe(1, "pain")], fps=10, prototypes=protos)
    assert seq.weights[-1, index_of("browDownLeft")] == pytest.approx(0.8) and seq.labels[-1] == "pain"


# ------------------------------------------------------------------------------ tracks


def test_parse_emotion_track():
    keys = parse_emotion_track("0:neutral,1.5:anger@0.9,4:neutral")
    assert [k.time for k in keys] == [0.0, 1.5, 4.0]
    assert keys[1].emotion == Emotion("anger", 0.9)
    assert [k.label() for k in keys] == ["neutral", "anger", "neutral"]
    assert parse_emotion_track(" 0 : happy , 2:va=-0.6/-0.4")[1].label() == "sad"


@pytest.mark.parametrize(
    ("track", "quoted"),
    [
        ("0:neutral,1.5:angr@0.9", "'1.5:angr@0.9'"),
        ("0:neutral,1.5:anger@1.9", "'1.5:anger@1.9'"),
        ("0:neutral,x:anger", "'x:anger'"),
        ("0:neutral,anger", "'anger'"),
        ("0:neutral,2:happy,1:sad", "'1:sad'"),
        ("0:neutral,1:happy,1:sad", "'1:sad'"),
        ("-1:happy", "'-1:happy'"),
        ("0:neutral,,1:sad", "''"),
    ],
)
def test_track_errors_name_the_token(track, quoted):
    with pytest.raises(AvatarInputError) as info:
        parse_emotion_track(track)
    assert quoted in str(info.value) and "\n" not in str(info.value)


def test_keyframe_validation():
    with pytest.raises(AvatarInputError, match="emotion and va"):
        Keyframe(0, emotion="happy", va=(0.1, 0.1))
    with pytest.raises(AvatarInputError, match="-0.5"):
        Keyframe(-0.5, "happy")
    with pytest.raises(AvatarInputError, match="1.5"):
        Keyframe(0, "happy", intensity=1.5)
    with pytest.raises(AvatarInputError, match="'AU99'"):
        Keyframe(0, aus="AU99=0.5")
    assert Keyframe(1, aus="AU12=1").label() == "" and Keyframe(1).label() == "neutral"
    assert Keyframe(1, mixture={"sad": 0.3, "fear": 0.7}).label() == "fear"


# ----------------------------------------------------------------------------- timeline


def _ramp_is_monotone(x: np.ndarray) -> bool:
    d = np.diff(x)
    return bool(np.all(d >= -1e-7) or np.all(d <= 1e-7))


@pytest.mark.parametrize("easing", sorted(EASINGS))
def test_timeline_hits_keys_and_eases_monotonically(easing):
    keys = parse_emotion_track("0:neutral,1.5:anger@0.9,4:happy")
    seq = timeline(keys, fps=30, easing=easing, transition=0.5)
    assert isinstance(seq, ExpressionSequence) and seq.fps == 30
    assert len(seq) == 121 and seq.weights.dtype == np.float32  # ends on the last keyframe
    for key in keys:
        i = int(round(key.time * 30))
        np.testing.assert_allclose(seq.weights[i], key.weights(), atol=1e-6)
    for a, b in ((0, 45), (45, 120)):  # each shape moves one way between consecutive keys
        for c in range(52):
            assert _ramp_is_monotone(seq.weights[a:b + 1, c])
    # holds until the transition starts, then moves
    np.testing.assert_allclose(seq.weights[45:105], np.repeat(keys[1].weights()[None], 60, 0), atol=1e-6)
    assert not np.allclose(seq.weights[106], keys[1].weights())


def test_timeline_labels_follow_the_dominant_keyframe():
    seq = timeline("0:neutral,1:sad", fps=10, transition=0.4, easing="linear")
    assert seq.labels[:8] == ["neutral"] * 8  # t <= 0.7: sad's weight < 0.5
    assert seq.labels[8:] == ["sad"] * 3


def test_timeline_transition_options():
    whole = timeline("0:neutral,1:happy", fps=10, transition=None, easing="linear")
    smile = whole.column("mouthSmileLeft")
    np.testing.assert_allclose(smile, np.linspace(0, 1, 11), atol=1e-6)
    jump = timeline("0:neutral,1:happy", fps=10, transition=0)
    assert np.all(jump.column("mouthSmileLeft")[:10] == 0) and jump.column("mouthSmileLeft")[10] == 1
    long = timeline("0:neutral,1:happy", fps=10, transition=5.0, easing="linear")  # clamped to the gap
    np.testing.assert_allclose(long.column("mouthSmileLeft"), smile, atol=1e-6)


def test_timeline_holds_outside_the_keys_and_duration():
    seq = timeline([Keyframe(0.5, "surprise"), Keyframe(1.0, "neutral")], fps=20, duration=2.0, transition=0.2)
    assert len(seq) == 40
    np.testing.assert_allclose(seq.weights[:10], np.repeat(expression_weights("surprise")[None], 10, 0), atol=1e-6)
    assert not seq.weights[20:].any()
    single = timeline([Keyframe(0, "happy")], fps=25, duration=1.0)
    assert len(single) == 25 and np.allclose(single.weights, expression_weights("happy"))
    assert timeline([Keyframe(0, aus="AU26=1")], fps=30).labels == [""]


def test_timeline_mixes_condition_kinds():
    keys = [Keyframe(0, "neutral"), Keyframe(1, aus="AU12=1"), Keyframe(2, va=(-0.6, -0.4)), Keyframe(3, mixture={"fear": 1})]
    seq = timeline(keys, fps=10, transition=0.3)
    assert len(seq) == 31
    for k in keys:
        np.testing.assert_allclose(seq.weights[int(k.time * 10)], k.weights(), atol=1e-6)
    assert seq.labels[20] == "sad" and seq.labels[30] == "fear"


def test_timeline_errors():
    with pytest.raises(AvatarInputError, match="increase"):
        timeline([Keyframe(1, "happy"), Keyframe(0.5, "sad")])
    with pytest.raises(AvatarInputError, match="at least one"):
        timeline([])
    with pytest.raises(AvatarInputError, match="'bounce'"):
        timeline("0:happy", easing="bounce")
    with pytest.raises(AvatarInputError, match="-1"):
        timeline("0:happy", fps=-1)
    with pytest.raises(AvatarInputError, match="-0.1"):
        timeline("0:happy,1:sad", transition=-0.1)
    with pytest.raises(AvatarInputError, match="0"):
        timeline("0:happy", duration=0)
    with pytest.raises(AvatarInputError, match="'happy'"):
        timeline(["happy"])  # type: ignore[list-item]
