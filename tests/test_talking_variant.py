"""An angry talker shows anger with the brows, lids and lips instead of holding the teeth bared between words
(`emotion_layer.talking_variant`, `TALKING_VARIANTS`); still frames, long pauses and silent clips keep the prototype."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.speech

FPS = 30.0


def _pose(emotion: str, intensity: float) -> np.ndarray:
    from generators.expression import expression_weights

    return np.asarray(expression_weights(emotion=emotion, intensity=intensity), np.float32)


def _col(*names: str) -> list[int]:
    from avatar.rig import index_of

    return [index_of(n) for n in names]


def _rest_gap(emotion: str, intensity: float, talking: float, variants: dict | None = None) -> float:
    """Return the inner-lip gap (cm) of the emotion's own mouth, no speech but the lips' parted rest, at `talking`."""
    from generators.speech.emotion_layer import compose
    from generators.speech.visemes import default_lip_model, rest_posture

    w = _pose(emotion, intensity)[None]
    speech = rest_posture(np.zeros_like(w), pause=np.array([True]))
    t = np.array([talking], np.float32)
    return float(default_lip_model().gap(compose(speech, w, np.zeros(1, bool), t, talking=t, variants=variants))[0])


def test_anger_has_a_talking_variant_that_trades_bared_teeth_for_closed_mouth_cues() -> None:
    from generators.speech.emotion_layer import TALKING_VARIANTS, talking_variant

    assert "anger" in TALKING_VARIANTS
    w = np.repeat(_pose("anger", 0.5)[None], 3, axis=0)
    out = talking_variant(w, np.array([0.0, 0.5, 1.0], np.float32))
    teeth = _col("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight")
    np.testing.assert_array_equal(out[0], w[0])  # not talking: the prototype itself
    assert out[2, teeth].sum() < 0.6 * w[2, teeth].sum(), "talking, most of the bared teeth go"
    assert out[1, teeth].sum() < w[1, teeth].sum() and out[1, teeth].sum() > out[2, teeth].sum(), "in proportion"
    cues = _col("browDownLeft", "browDownRight", "eyeSquintLeft", "eyeSquintRight", "noseSneerLeft", "noseSneerRight",
                "mouthPressLeft", "mouthPressRight")
    gain = out[2, cues] - w[2, cues]
    assert gain.min() >= -1e-6 and gain.sum() > 0.3, f"the brow lowerer / lids / nose wrinkle rise while talking: {gain}"


def test_an_angry_talker_rests_the_lips_closer_and_an_idle_angry_face_is_unchanged() -> None:
    before, after = _rest_gap("anger", 0.5, 1.0, variants={}), _rest_gap("anger", 0.5, 1.0)
    assert after < before - 0.3, f"talking, anger's own mouth rests {after:.2f} cm apart against {before:.2f} before"
    idle_before, idle_after = _rest_gap("anger", 0.5, 0.0, variants={}), _rest_gap("anger", 0.5, 0.0)
    assert idle_after == pytest.approx(idle_before, abs=1e-6) and idle_after > before, "idle, the snarl stays whole"


@pytest.mark.parametrize("emotion", ["neutral", "happy", "sad", "surprise", "contempt"])
def test_emotions_without_a_variant_talk_as_before(emotion: str) -> None:
    from generators.speech.emotion_layer import TALKING_VARIANTS, talking_variant

    assert emotion not in TALKING_VARIANTS
    w = np.repeat(_pose(emotion, 0.8)[None], 2, axis=0)
    np.testing.assert_allclose(talking_variant(w, np.ones(2, np.float32)), w, atol=1e-5)


def test_a_track_from_anger_to_neutral_fades_the_variant_and_a_raw_au_pose_is_left_alone() -> None:
    from avatar.facs import ActionUnits
    from generators.expression import expression_weights
    from generators.speech.emotion_layer import talking_variant

    a = _pose("anger", 0.8)
    mix = np.stack([a * s for s in np.linspace(1.0, 0.0, 11)]).astype(np.float32)  # what a track's easing does
    out = talking_variant(mix, np.ones(len(mix), np.float32))
    step = np.abs(np.diff(out - mix, axis=0)).max()
    assert step < 0.15, f"the variant follows the emotion's share smoothly (largest step {step:.3f})"
    np.testing.assert_allclose(out[-1], mix[-1], atol=1e-6)
    snarl = np.asarray(expression_weights(aus=ActionUnits({"AU11": 0.8, "AU16": 0.8, "AU25": 0.5})), np.float32)[None]
    np.testing.assert_allclose(talking_variant(snarl, np.ones(1, np.float32)), snarl, atol=1e-6)


def test_speech_keeps_its_opening_and_its_closures_under_the_variant() -> None:
    """The same speech over anger opens as far beyond anger's own talking mouth as over a neutral face, and closes."""
    from generators.speech.emotion_layer import compose
    from generators.speech.visemes import default_lip_model

    lips = default_lip_model()
    t = 40
    speech = np.zeros((t, 52), np.float32)
    speech[:, _col("jawOpen")[0]] = 0.25 * (1 + np.sin(np.linspace(0, 6 * np.pi, t)))
    shut = np.zeros(t, bool)
    shut[[10, 11, 30, 31]] = True
    act = np.ones(t, np.float32)
    gaps = {}
    for emotion in ("neutral", "anger"):
        emo = np.repeat(_pose(emotion, 0.8)[None], t, axis=0)
        gaps[emotion] = lips.gap(compose(speech, emo, shut, act, lip_model=lips, talking=act))
        gaps[emotion + "_rest"] = lips.gap(compose(np.zeros_like(speech), emo, np.zeros(t, bool), act, lip_model=lips,
                                                   talking=act))
    open_ = ~shut
    opening = {e: gaps[e][open_] - gaps[e + "_rest"][open_] for e in ("neutral", "anger")}
    assert np.percentile(opening["anger"], 90) >= 0.97 * np.percentile(opening["neutral"], 90)
    assert np.all(gaps["anger"][shut] < 0.15), "p/b/m still close over the angry talking face"


def test_f_v_tucks_reach_the_teeth_as_closely_under_the_variant() -> None:
    from generators.speech.emotion_layer import compose
    from generators.speech.visemes import _TUCK_FROM_TEETH, default_lip_model

    lips = default_lip_model()
    t = 12
    speech = np.zeros((t, 52), np.float32)
    speech[:, _col("jawOpen")[0]] = 0.3
    tuck = np.zeros(t, bool)
    tuck[4:8] = True
    act = np.ones(t, np.float32)
    miss = {}
    for emotion, variants in (("neutral", None), ("anger", {}), ("anger", None)):
        emo = np.repeat(_pose(emotion, 0.8)[None], t, axis=0)
        w = compose(speech, emo, np.zeros(t, bool), act, lip_model=lips, tuck=tuck, talking=act, variants=variants)
        lower = lips.lower_lip + w[tuck].astype(np.float64) @ lips.lower_per_shape  # posed lower inner lip
        miss[(emotion, variants is None)] = float(np.linalg.norm(lower - (lips.teeth_edge + _TUCK_FROM_TEETH), axis=-1).max())
    assert miss[("anger", True)] < 0.05, f"the lower lip misses the upper teeth by up to {miss} cm"
    assert miss[("anger", True)] <= max(miss[("anger", False)], miss[("neutral", True)]) + 0.02, miss


def test_the_talking_form_holds_just_after_the_words_and_the_snarl_returns_in_a_long_silence() -> None:
    """Offline, anger keeps its talking form within `TALK_HOLD_S` of the voice; well beyond, the idle face is back."""
    from generators.speech.emotion_layer import TALK_HOLD_S, compose
    from generators.speech.visemes import default_lip_model, rest_posture

    lips = default_lip_model()
    n = int(4.0 * FPS)
    act = np.zeros(n, np.float32)
    act[int(1.0 * FPS):int(2.0 * FPS)] = 1.0  # one second of voice, then two of silence
    emo = np.repeat(_pose("anger", 0.5)[None], n, axis=0)
    speech = rest_posture(np.zeros_like(emo), pause=act <= 0.5)
    gap = lips.gap(compose(speech, emo, np.zeros(n, bool), act, lip_model=lips, fps=FPS))
    idle = _rest_gap("anger", 0.5, 0.0)
    after = gap[int((2.0 + 0.5 * TALK_HOLD_S) * FPS)]
    assert after < idle - 0.8, f"{0.5 * TALK_HOLD_S:.2f} s after the last word the lips rest at {after:.2f} cm, idle {idle:.2f}"
    assert abs(gap[-1] - idle) < 0.02 and abs(gap[0] - idle) < 0.05, "a long silence shows the whole prototype"
