"""Speech-driven animation: lip closure on the posed mesh, silence, emotion, seeding, bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError

pytest.importorskip("soundfile")
pytest.importorskip("soxr")
pytest.importorskip("pocketsphinx")
pytestmark = [pytest.mark.speech, pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to synthesise test speech")]

PAPA = "papa bob buys maps"
CLOSED_CM = 0.15  # inner lips closer than this count as touching (the neutral rest gap is ~0.08 cm)


def _espeak(text: str, path: Path, voice: str = "en-us") -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def papa_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _espeak(PAPA, tmp_path_factory.mktemp("speech") / "papa.wav")


@pytest.fixture(scope="module")
def head():  # noqa: ANN201
    from avatar.head import default_head

    return default_head()


def _lip_gap(head, weights: np.ndarray) -> np.ndarray:  # noqa: ANN001
    verts = head.pose(weights)
    return np.linalg.norm(head.landmark("upper_lip_inner", verts) - head.landmark("lower_lip_inner", verts), axis=-1)


def _bilabial_mask(wav: Path, text: str, n: int, fps: float) -> np.ndarray:
    from generators.speech.audio import load_audio
    from generators.speech.phonetic import phones_from_audio
    from generators.speech.visemes import bilabial_frames

    return bilabial_frames(phones_from_audio(load_audio(wav), text), fps, n)


def test_bilabials_close_the_lips_on_the_mesh(papa_wav: Path, head) -> None:  # noqa: ANN001
    from generators.speech import animate

    seq = animate(papa_wav, text=PAPA, method="phonetic", life=False)
    assert seq.weights.shape[1] == 52 and seq.audio == str(papa_wav)
    gap = _lip_gap(head, seq.weights)
    shut = _bilabial_mask(papa_wav, PAPA, len(seq), seq.fps)
    assert shut.sum() >= 6, "p, p, b, b, b, m, p should give several closure frames"
    assert np.all(gap[shut] < CLOSED_CM), f"lips open at bilabials: {np.round(gap[shut], 3)}"
    assert gap.max() > 0.5, "the vowels should open the mouth"


@pytest.mark.parametrize("emotion", ["surprise", "fear", "happy", "anger"])
def test_bilabials_close_under_every_emotion(papa_wav: Path, head, emotion: str) -> None:  # noqa: ANN001
    from generators.speech import animate

    seq = animate(papa_wav, text=PAPA, emotion=emotion, intensity=1.0, method="phonetic", life=False)
    gap = _lip_gap(head, seq.weights)
    shut = _bilabial_mask(papa_wav, PAPA, len(seq), seq.fps)
    assert np.all(gap[shut] < CLOSED_CM), f"{emotion}: lips open at bilabials: {np.round(gap[shut], 3)}"


def test_silence_rests_the_mouth_slightly_parted(papa_wav: Path, head) -> None:  # noqa: ANN001
    import soundfile

    from generators.speech.visemes import REST_JAW_OPEN

    from generators.speech import animate
    from generators.speech.audio import load_audio

    speech = load_audio(papa_wav).samples
    pad = np.zeros(16000, np.float32)
    padded = papa_wav.parent / "padded.wav"
    soundfile.write(padded, np.concatenate([pad, speech, pad]), 16000)
    seq = animate(padded, text=PAPA, method="phonetic", life=False)
    gap = _lip_gap(head, seq.weights)
    quiet = np.r_[0 : int(0.8 * seq.fps), len(seq) - int(0.8 * seq.fps) : len(seq)]
    # People's lips rest parted in pauses (GRID s1: median 0.29 cm on this head; docs/speech.md): not shut,
    # not talking.
    assert np.all(gap[quiet] > CLOSED_CM) and np.all(gap[quiet] < 0.4)
    assert np.all(seq.column("jawOpen")[quiet] <= REST_JAW_OPEN + 1e-6)
    talking = slice(int(1.1 * seq.fps), len(seq) - int(1.1 * seq.fps))
    assert gap[talking].max() > 0.5


@pytest.mark.slow
def test_happy_talking_keeps_the_mouth_corners_up(papa_wav: Path, head) -> None:  # noqa: ANN001
    from generators.speech import animate

    def corner_height(seq) -> np.ndarray:  # noqa: ANN001
        verts = head.pose(seq.weights)
        return (head.landmark("mouth_corner_left", verts)[:, 1] + head.landmark("mouth_corner_right", verts)[:, 1]) / 2

    neutral = animate(papa_wav, text=PAPA, method="phonetic", life=False)
    happy = animate(papa_wav, text=PAPA, emotion="happy", intensity=0.8, method="phonetic", life=False)
    rest = (head.landmark("mouth_corner_left")[1] + head.landmark("mouth_corner_right")[1]) / 2
    lift = corner_height(happy) - corner_height(neutral)
    assert np.all(lift > 0.2), f"smile lost while talking: corner lift {lift.min():.3f} cm"
    assert np.all(corner_height(happy) > rest), "happy mouth corners should stay above the neutral rest pose"
    assert np.all(happy.column("mouthSmileLeft") > 0.3)


@pytest.mark.slow
def test_seeded_output_is_identical(papa_wav: Path) -> None:
    from generators.speech import animate

    a = animate(papa_wav, text=PAPA, emotion="happy", seed=7, method="phonetic")
    b = animate(papa_wav, text=PAPA, emotion="happy", seed=7, method="phonetic")
    c = animate(papa_wav, text=PAPA, emotion="happy", seed=8, method="phonetic")
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.head_pose, b.head_pose)
    assert not np.array_equal(a.head_pose, c.head_pose)


def test_emotion_track_sets_labels(papa_wav: Path) -> None:
    from generators.speech import animate

    seq = animate(papa_wav, text=PAPA, emotion_track="0:neutral,0.6:anger@0.9", method="phonetic", life=False)
    assert seq.labels[0] == "neutral" and seq.labels[-1] == "anger"
    assert seq.column("browDownLeft")[-1] > seq.column("browDownLeft")[0]


@pytest.mark.slow
def test_without_transcript_still_animates(papa_wav: Path) -> None:
    from generators.speech import animate

    seq = animate(papa_wav, method="phonetic", life=False)
    assert len(seq) == int(np.ceil(1.6 * 30)) or abs(len(seq) - seq.duration * 30) < 2
    assert seq.column("jawOpen").max() > 0.05


def test_raw_array_needs_a_rate(papa_wav: Path) -> None:
    from generators.speech import animate
    from generators.speech.audio import load_audio

    samples = load_audio(papa_wav).samples
    with pytest.raises(AvatarInputError, match="sample_rate"):
        animate(samples, text=PAPA)
    seq = animate(samples, text=PAPA, sample_rate=16000, method="phonetic", life=False)
    assert seq.audio is None and len(seq) > 0


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


@pytest.mark.slow
def test_bad_audio_fails_with_one_line_errors(tmp_path: Path) -> None:
    import soundfile

    from generators.speech import animate

    with pytest.raises(AvatarInputError) as e:
        animate(tmp_path / "missing.wav")
    assert "not found" in _one_line(e)

    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n")
    with pytest.raises(AvatarInputError) as e:
        animate(fake)
    assert "cannot read" in _one_line(e)

    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AvatarInputError) as e:
        animate(empty)
    assert "empty" in _one_line(e)

    with pytest.raises(AvatarInputError) as e:
        animate(np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32), sample_rate=16000, max_seconds=0.5)
    assert "limit" in _one_line(e)


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"fps": 0}, "fps"), ({"seed": -1}, "seed"), ({"method": "magic"}, "method"), ({"intensity": 2}, "intensity"),
])
def test_bad_arguments(papa_wav: Path, kwargs: dict, word: str) -> None:
    from generators.speech import animate

    with pytest.raises(AvatarInputError) as e:
        animate(papa_wav, **kwargs)
    assert word in _one_line(e)


def test_lip_model_matches_the_mesh(head) -> None:  # noqa: ANN001
    from generators.speech.visemes import LipModel

    rng = np.random.default_rng(0)
    w = rng.uniform(0, 0.5, (4, 52)).astype(np.float32)
    assert np.allclose(LipModel.from_head(head).gap(w), _lip_gap(head, w), atol=1e-4)


def test_neural_path_if_weights_are_shipped(papa_wav: Path, head) -> None:  # noqa: ANN001
    pytest.importorskip("torch")
    from generators.speech import animate
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("no trained speech model shipped")
    seq = animate(papa_wav, method="neural", life=False)
    assert seq.weights.shape == (int(np.ceil(seq.duration * 30 - 1e-9)), 52)
    assert seq.column("jawOpen").max() > 0.05
    shut = _bilabial_mask(papa_wav, PAPA, len(seq), seq.fps)
    assert (_lip_gap(head, seq.weights)[shut] < CLOSED_CM).mean() >= 0.6


def test_import_avatar_does_not_load_speech_deps() -> None:
    code = "import sys, avatar, generators.speech; bad=[m for m in ('librosa','pocketsphinx','torch','soundfile') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    subprocess.run([__import__("sys").executable, "-c", code], check=True, capture_output=True)


@pytest.mark.slow
def test_speech_share_is_an_animate_option(papa_wav: Path) -> None:
    """`speech_share` (what scripts/select_speech_share.py sweeps) is passed to animate, never patched into compose."""
    from generators.speech import animate
    from generators.speech.emotion_layer import SPEECH_SHARE

    runs = {s: animate(papa_wav, text=PAPA, emotion="surprise", method="phonetic", life=False, speech_share=s)
            for s in (0.0, 1.0)}
    default = animate(papa_wav, text=PAPA, emotion="surprise", method="phonetic", life=False)
    np.testing.assert_array_equal(default.weights, animate(papa_wav, text=PAPA, emotion="surprise", method="phonetic",
                                                           life=False, speech_share=SPEECH_SHARE).weights)
    # Speech taking none of surprise's dropped jaw leaves it more open than speech taking all of it.
    assert runs[0.0].column("jawOpen").mean() > runs[1.0].column("jawOpen").mean() + 0.02
    with pytest.raises(AvatarInputError, match="speech_share"):
        animate(papa_wav, text=PAPA, speech_share=1.5)


@pytest.mark.slow
def test_decoding_a_clip_does_not_depend_on_the_clip_decoded_before(tmp_path: Path) -> None:
    """The cached pocketsphinx decoders start every utterance afresh: the same clip animates the same way first in a
    process and after other audio (a 6 s clip's hybrid weights differed by 0.36 on the second call)."""
    import wave

    import avatar
    from generators.speech import phonetic

    src = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "realism" / "s1_bbas1s.wav"
    with wave.open(str(src)) as f:
        params, frames = f.getparams(), f.readframes(f.getnframes())
    looped = tmp_path / "looped.wav"
    with wave.open(str(looped), "wb") as f:
        f.setparams(params)
        f.writeframes(frames + frames)
    phonetic._decoder.cache_clear()
    first = avatar.animate(looped, method="hybrid", emotion="happy").weights
    again = avatar.animate(looped, method="hybrid", emotion="happy").weights
    assert np.array_equal(first, again), float(np.abs(first - again).max())
