"""An emotional talker's mouth around the words: inside an utterance the emotion's jaw is the speaking one; a long
pause or a silent clip gets the emotion's full face back (`emotion_layer.talking_envelope`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.speech

RATE = 16000
FPS = 30.0
WORDS = ("papa bob", "buys maps", "papa bob")
SHORT_S, LONG_S, EDGE_S = 0.3, 2.0, 1.2  # a pause between words, a phrase break, the clip's silent edges
TOUCH_CM = 0.15


def _envelope(activity: np.ndarray) -> np.ndarray:
    from generators.speech.emotion_layer import talking_envelope

    return talking_envelope(activity, FPS)


def _bursts(*spans: tuple[float, float], seconds: float = 6.0) -> np.ndarray:
    act = np.zeros(int(seconds * FPS), np.float32)
    for a, b in spans:
        act[int(a * FPS):int(b * FPS)] = 1.0
    return act


def test_a_short_pause_is_inside_the_utterance_and_a_long_one_is_not() -> None:
    env = _envelope(_bursts((1.0, 1.8), (2.1, 2.9), (4.5, 5.0)))  # pauses of 0.3 s and 1.6 s
    assert env[int(1.8 * FPS):int(2.1 * FPS)].min() > 0.99, "0.3 s between two words: still talking"
    mid_long = env[int(3.5 * FPS):int(3.9 * FPS)]
    assert mid_long.max() < 0.05, "the middle of a 1.6 s pause is not talking"
    assert env[int(0.85 * FPS)] > 0.7, "people set up the speaking posture before the voice starts"
    assert env[int(2.95 * FPS)] > 0.5, "and hold it through the last sound's release"
    assert env[int(0.3 * FPS)] < 0.05 and env[int(3.4 * FPS)] < 0.05, "not half a second away from the words"
    assert np.all(env >= _bursts((1.0, 1.8), (2.1, 2.9), (4.5, 5.0)) - 1e-6), "never below the voice"
    assert np.all(np.abs(np.diff(env)) < 0.25), "eased in and out, not switched"


def test_a_pause_just_under_a_phrase_break_is_still_talking() -> None:
    from generators.speech.emotion_layer import TALK_BRIDGE_S, TALK_LEAD_S, TALK_TAIL_S

    pause = 0.45  # longer than lead + tail, so it is the bridge that holds it
    assert TALK_LEAD_S + TALK_TAIL_S < pause < TALK_BRIDGE_S
    env = _envelope(_bursts((1.0, 1.8), (1.8 + pause, 2.9)))
    assert env[int(1.8 * FPS):int((1.8 + pause) * FPS)].min() > 0.99


def test_no_voice_is_no_talking() -> None:
    assert np.all(_envelope(np.zeros(90, np.float32)) == 0.0)
    quiet = np.full(90, 0.3, np.float32)  # a soft gate that never opens
    assert np.all(_envelope(quiet) <= 0.3 + 1e-6)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Return a WAV of three espeak-ng phrases with a 0.3 s and a 1.6 s pause between them, and its transcript."""
    pytest.importorskip("soundfile")
    pytest.importorskip("soxr")
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng to synthesise test speech")
    import soundfile

    from generators.speech.audio import load_audio

    folder = tmp_path_factory.mktemp("pauses")
    parts = []
    for k, words in enumerate(WORDS):
        wav = folder / f"w{k}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), words], check=True, capture_output=True)
        x = load_audio(wav).samples
        loud = np.flatnonzero(np.abs(x) > 1e-3)  # espeak's own silence trimmed, so the pauses are the ones set here
        parts.append(x[loud[0]:loud[-1] + 1])
    gap = [np.zeros(int(s * RATE), np.float32) for s in (EDGE_S, SHORT_S, LONG_S, EDGE_S)]
    audio = np.concatenate([gap[0], parts[0], gap[1], parts[1], gap[2], parts[2], gap[3]])
    path = folder / "pauses.wav"
    soundfile.write(path, audio, RATE)
    return path, " ".join(WORDS)


@pytest.fixture(scope="module")
def composed(clip: tuple[Path, str]) -> dict:
    """Return the clip's curves composed neutral, angry, and angry as before (the raw voice activity as `talking`)."""
    from generators.speech.audio import load_audio
    from generators.speech.emotion_layer import compose, emotion_curves
    from generators.speech.phonetic import phones_from_audio
    from generators.speech.talking import frame_activity, speech_curves
    from generators.speech.visemes import bilabial_frames, default_lip_model, rest_posture

    path, text = clip
    audio = load_audio(path)
    n = int(np.ceil(audio.duration * FPS))
    speech, shut, tuck = speech_curves(audio, n, FPS, "phonetic", text, 1.0, None)
    act = frame_activity(audio, n, FPS)
    speech = rest_posture(speech * act[:, None], pause=act <= 0.5)
    lips = default_lip_model()
    out = {"act": act, "bilabial": bilabial_frames(phones_from_audio(audio, text), FPS, n), "lips": lips}
    for name, emotion, talking in (("neutral", "neutral", None), ("anger", "anger", None), ("anger_before", "anger", act)):
        emo, _ = emotion_curves(n, FPS, emotion, 0.5)
        w = compose(speech, emo, shut, act, lip_model=lips, tuck=tuck, fps=FPS, talking=talking)
        out[name] = w
        out[name + "_gap"] = lips.gap(w)
    idle, _ = emotion_curves(1, FPS, "anger", 0.5)
    out["idle_gap"] = float(lips.gap(compose(rest_posture(np.zeros_like(idle), pause=np.array([True])), idle,
                                             np.zeros(1, bool), np.zeros(1, np.float32), lip_model=lips))[0])
    return out


def _pauses(act: np.ndarray) -> list[tuple[int, int]]:
    """Return the interior runs of frames without voice (the two pauses), in order."""
    quiet = act <= 0.5
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8))) + 1
    runs = [(a, b) for a, b in zip(np.r_[0, edges], np.r_[edges, len(act)]) if quiet[a]]
    return [(a, b) for a, b in runs if a > 0 and b < len(act)]


def test_an_angry_talker_rests_the_lips_between_words_and_bares_the_teeth_in_a_long_pause(composed: dict) -> None:
    act, gap, before = composed["act"], composed["anger_gap"], composed["anger_before_gap"]
    (s0, s1), (l0, l1) = _pauses(act)
    assert 0.15 * FPS <= s1 - s0 <= 0.45 * FPS and l1 - l0 >= 1.3 * FPS, "the clip holds a short and a long pause"
    vowels = (act > 0.9) & (composed["neutral_gap"] > np.percentile(composed["neutral_gap"][act > 0.9], 60))
    short = gap[s0:s1]
    assert np.median(short) < np.median(gap[vowels]) - 0.3, (
        f"between two words the angry lips ({np.median(short):.2f} cm) rest closer than in the vowels "
        f"({np.median(gap[vowels]):.2f} cm)")
    assert np.median(short) < np.median(before[s0:s1]) - 0.3, "before this change the full snarl returned there"
    mid = slice((l0 + l1) // 2 - 3, (l0 + l1) // 2 + 3)
    assert np.allclose(gap[mid], composed["idle_gap"], atol=0.05), "a phrase break gets the emotion's full mouth back"
    assert np.allclose(gap[:int(0.5 * FPS)], composed["idle_gap"], atol=0.05), "as does the silence before speech"


def test_the_words_themselves_and_their_closures_are_unchanged(composed: dict) -> None:
    act, bilabial = composed["act"], composed["bilabial"]
    voiced = act > 0.999
    assert voiced.sum() > 20
    # (1e-3: anger's talking form follows the held envelope, 1 there, where "before" passes the voice itself, > 0.999)
    np.testing.assert_allclose(composed["anger"][voiced], composed["anger_before"][voiced], atol=1e-3)
    assert bilabial.sum() >= 8
    for name in ("neutral_gap", "anger_gap"):
        assert np.all(composed[name][bilabial] < TOUCH_CM), f"{name}: lips open at an aligned p/b/m"


def test_the_stream_bridges_a_short_pause_and_returns_the_full_face_in_a_long_one(clip: tuple[Path, str]) -> None:
    """Causal: the stream holds the speaking posture through a pause it cannot see the end of, then eases out."""
    from generators.speech.audio import load_audio
    from generators.speech.shipped import weights_available
    from generators.speech.streaming import StreamingAnimator
    from generators.speech.talking import frame_activity
    from generators.speech.visemes import default_lip_model

    if not weights_available():
        pytest.skip("no trained speech model shipped")
    audio = load_audio(clip[0])
    anim = StreamingAnimator(fps=FPS, emotion="anger", intensity=0.5, life=False)
    frames = anim.push(audio.samples) + anim.flush()
    w = np.stack([f.weights for f in frames])
    jaw = w[:, _jaw()]
    act = frame_activity(audio, len(w), FPS)
    (s0, s1), (l0, l1) = _pauses(act)
    from generators.speech.visemes import REST_JAW_OPEN

    full = 0.25 + REST_JAW_OPEN  # anger's own jawOpen at intensity 0.5 (`expression_weights`) on the lips' parted rest
    assert jaw[s0 + 2:s1 - 1].max() < full - 0.1, "a 0.3 s pause keeps the speaking jaw (speech owns 0.6 of anger's)"
    assert abs(float(np.median(jaw[l1 - int(0.4 * FPS):l1 - 2])) - full) < 0.02, "late in a long pause the full jaw is back"
    gap = default_lip_model().gap(w)
    assert gap[l1 - int(0.4 * FPS):l1 - 2].min() > gap[s0 + 2:s1 - 1].max()


def _jaw() -> int:
    from avatar.rig import index_of

    return index_of("jawOpen")
