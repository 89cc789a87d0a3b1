"""avatar.emotion: vocabulary, prototypes posed on the real head, mixtures and valence/arousal."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.emotion import (
    CIRCUMPLEX,
    DEFAULT_PROTOTYPES,
    EMOTIONS,
    Emotion,
    arkit_prototypes,
    emotion_to_arkit,
    emotion_to_aus,
    mixture_to_aus,
    mixture_to_va,
    normalize_emotion,
    prototype,
    prototype_matrix,
    va_to_aus,
    va_to_mixture,
)
from avatar.errors import AvatarInputError, UnknownNameError
from avatar.facs import AU_NUMBERS, ActionUnits
from avatar.facs_inverse import arkit_to_au
from avatar.head import default_head


@pytest.fixture(scope="module")
def head():
    return default_head()


def _dy(head, landmark: str, weights: np.ndarray) -> float:
    posed = head.landmark(landmark, head.pose(weights))
    return float(posed[1] - head.landmark(landmark, head.neutral)[1])


def _dxy(head, landmark: str, weights: np.ndarray) -> np.ndarray:
    return np.asarray(head.landmark(landmark, head.pose(weights)) - head.landmark(landmark, head.neutral))[:2]


# ---------------------------------------------------------------------------- vocabulary


def test_vocabulary_order_is_affectnet8():
    assert EMOTIONS == ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
    assert set(DEFAULT_PROTOTYPES) == set(EMOTIONS) and set(CIRCUMPLEX) == set(EMOTIONS)


@pytest.mark.parametrize(
    ("text", "label"),
    [("Happy", "happy"), ("joy", "happy"), ("happiness", "happy"), ("surprised", "surprise"), ("ANGRY", "anger"),
     ("fearful", "fear"), ("disgusted", "disgust"), (" sad ", "sad"), ("contempt", "contempt")],
)
def test_synonyms(text, label):
    assert normalize_emotion(text) == label
    assert Emotion(text).label == label


def test_unknown_emotion_lists_the_eight():
    with pytest.raises(UnknownNameError) as info:
        Emotion("joyous-ish")
    msg = str(info.value)
    assert "'joyous-ish'" in msg and all(e in msg for e in EMOTIONS) and "\n" not in msg
    with pytest.raises(UnknownNameError, match="'angy'"):
        emotion_to_aus("angy")


@pytest.mark.parametrize(("bad", "quoted"), [(1.5, "1.5"), (-0.2, "-0.2"), (float("nan"), "nan"), ("lots", "'lots'")])
def test_intensity_outside_range_is_quoted(bad, quoted):
    with pytest.raises(AvatarInputError, match=quoted):
        Emotion("happy", bad)
    with pytest.raises(AvatarInputError):
        emotion_to_aus("happy", bad)


def test_parse():
    assert Emotion.parse("anger@0.9") == Emotion("anger", 0.9)
    assert Emotion.parse("Angry") == Emotion("anger", 1.0)
    assert Emotion.parse("va=0.8/0.5") == Emotion(valence=0.8, arousal=0.5)
    assert str(Emotion("anger", 0.9)) == "anger@0.9" and str(Emotion("sad")) == "sad"
    with pytest.raises(AvatarInputError, match="'anger@1.7'"):
        Emotion.parse("anger@1.7")
    with pytest.raises(AvatarInputError, match="'x'"):
        Emotion.parse("anger@x")
    with pytest.raises(AvatarInputError, match="1.2"):
        Emotion.parse("va=1.2/0")


def test_va_emotion_validation():
    with pytest.raises(AvatarInputError, match="1.5"):
        Emotion(valence=1.5, arousal=0.0)
    with pytest.raises(AvatarInputError, match="both"):
        Emotion(valence=0.5)
    with pytest.raises(AvatarInputError, match="not both"):
        Emotion("happy", valence=0.5, arousal=0.5)
    assert Emotion().label == "neutral"


# -------------------------------------------------------------------- prototypes on the head


def test_neutral_is_the_rest_pose():
    assert np.all(emotion_to_arkit("neutral") == 0)


def test_happy_raises_both_mouth_corners_and_sad_lowers_them(head):
    happy, sad = emotion_to_arkit("happy"), emotion_to_arkit("sad")
    for corner in ("mouth_corner_left", "mouth_corner_right"):
        assert _dy(head, corner, happy) > 0.5
        assert _dy(head, corner, sad) < -0.2


def test_sad_raises_inner_brows(head):
    sad = emotion_to_arkit("sad")
    assert _dy(head, "brow_left_inner", sad) > 0.2 and _dy(head, "brow_right_inner", sad) > 0.2


def test_surprise_raises_the_brows_and_drops_the_jaw(head):
    w = emotion_to_arkit("surprise")
    for brow in ("brow_left_inner", "brow_right_inner", "brow_left_outer", "brow_right_outer"):
        assert _dy(head, brow, w) > 0.3
    assert _dy(head, "chin", w) < -0.5


def test_anger_lowers_the_brows(head):
    w = emotion_to_arkit("anger")
    assert _dy(head, "brow_left_inner", w) < -0.1 and _dy(head, "brow_right_inner", w) < -0.1


def test_contempt_is_asymmetric(head):
    w = emotion_to_arkit("contempt")
    left = np.linalg.norm(_dxy(head, "mouth_corner_left", w))
    right = np.linalg.norm(_dxy(head, "mouth_corner_right", w))
    assert right > 0.5 and left < 0.1 * right  # the subject's right corner only (R12 + R14)


def test_every_emotion_is_distinct_and_round_trips_through_facs():
    protos = arkit_prototypes()
    assert protos.shape == (8, 52) and protos.dtype == np.float32
    dist = np.linalg.norm(protos[:, None] - protos[None], axis=-1) + np.eye(8) * 9
    assert dist.min() > 0.5
    for label in EMOTIONS:
        back = arkit_to_au(emotion_to_arkit(label))
        assert back.to_dict() == pytest.approx(prototype(label).to_dict(), abs=1e-3), label
    assert prototype_matrix().shape == (8, len(AU_NUMBERS))


def test_intensity_scales_linearly():
    full = emotion_to_aus("fear", 1.0)
    half = emotion_to_aus("fear", 0.5)
    for k in full:
        assert half[k] == pytest.approx(0.5 * full[k])
    assert np.all(emotion_to_arkit("happy", 0.0) == 0)


def test_user_prototypes_override_and_extend():
    custom = {"happy": {"AU12": 0.5}, "pain": "AU4=0.8,AU6=0.7,AU7=0.8,AU10=0.6"}
    assert emotion_to_aus("happy", prototypes=custom).to_dict() == {"AU12": 0.5}
    assert emotion_to_aus("pain", 0.5, prototypes=custom)["AU4"] == pytest.approx(0.4)
    assert Emotion.parse("pain@0.5", prototypes=custom).to_aus(custom)["AU4"] == pytest.approx(0.4)
    with pytest.raises(UnknownNameError, match="pain"):
        emotion_to_aus("pain")
    assert DEFAULT_PROTOTYPES["happy"]["AU12"] == 1.0  # defaults untouched


# ------------------------------------------------------------------------------ mixtures


def test_mixture_sum_and_max():
    mix = {"fear": 0.5, "surprise": 0.5}
    summed, maxed = mixture_to_aus(mix), mixture_to_aus(mix, combine="max")
    assert summed["AU1"] == pytest.approx(0.5 * 1.0 + 0.5 * 1.0)
    assert maxed["AU1"] == pytest.approx(0.5)
    assert summed["AU20"] == pytest.approx(0.5)  # fear only
    assert mixture_to_aus({"happy": 1.0, "surprise": 1.0})["AU1"] <= 1.0
    assert mixture_to_aus({}) == ActionUnits()
    assert mixture_to_aus({"angry": 1.0}).to_dict() == pytest.approx(emotion_to_aus("anger").to_dict())


def test_mixture_keeps_sides():
    aus = mixture_to_aus({"contempt": 1.0, "happy": 0.2})
    assert aus["AU12"] == pytest.approx(0.2) and aus["R12"] == pytest.approx(0.6)


def test_mixture_errors():
    with pytest.raises(UnknownNameError, match="'bored'"):
        mixture_to_aus({"bored": 0.5})
    with pytest.raises(AvatarInputError, match="1.3"):
        mixture_to_aus({"happy": 1.3})
    with pytest.raises(AvatarInputError, match="'avg'"):
        mixture_to_aus({"happy": 1.0}, combine="avg")


# -------------------------------------------------------------------------- valence/arousal


def test_va_mixture_is_a_distribution():
    mix = va_to_mixture(0.3, -0.2)
    assert set(mix) == set(EMOTIONS) and sum(mix.values()) == pytest.approx(1.0)


def test_va_quadrants():
    happy = va_to_mixture(0.8, 0.5)
    assert happy["happy"] > 0.6 and max(happy, key=happy.get) == "happy"
    sad = va_to_mixture(-0.6, -0.4)
    assert sad["sad"] > 0.6 and max(sad, key=sad.get) == "sad"
    assert max(va_to_mixture(0.0, 0.0).items(), key=lambda kv: kv[1])[0] == "neutral"
    for label, (v, a) in CIRCUMPLEX.items():
        mix = va_to_mixture(v, a)
        assert max(mix, key=mix.get) == label  # every anchor owns its own point


def test_va_radius_acts_as_intensity(head):
    v, a = CIRCUMPLEX["happy"]
    strengths = [va_to_mixture(v * r, a * r)["happy"] for r in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(x < y for x, y in zip(strengths, strengths[1:]))
    lifts = [_dy(head, "mouth_corner_left", va_to_aus(v * r, a * r).to_arkit()) for r in (0.2, 0.6, 1.0)]
    assert lifts[0] < lifts[1] < lifts[2] and lifts[2] > 0.5


def test_va_errors_and_coordinates():
    with pytest.raises(AvatarInputError, match="1.4"):
        va_to_mixture(1.4, 0.0)
    with pytest.raises(AvatarInputError, match="-2"):
        va_to_aus(0.0, -2)
    with pytest.raises(AvatarInputError, match="'high'"):
        va_to_mixture(0.0, "high")
    assert Emotion("happy", 0.5).va == pytest.approx((0.5 * CIRCUMPLEX["happy"][0], 0.5 * CIRCUMPLEX["happy"][1]))
    assert Emotion(valence=0.8, arousal=0.5).dominant() == "happy"
    assert mixture_to_va({"happy": 1.0}) == pytest.approx(CIRCUMPLEX["happy"])
    moved = va_to_mixture(0.0, 0.9, coordinates={"surprise": (0.0, 0.9)})
    assert max(moved, key=moved.get) == "surprise"
