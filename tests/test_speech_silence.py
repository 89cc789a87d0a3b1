"""Silence is input: a silent or mostly-silent clip animates as an idle face, with one warning; pauses are normal."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")
pytest.importorskip("soxr")
pytestmark = [pytest.mark.speech,
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to synthesise test speech")]

ROOT = Path(__file__).resolve().parents[1]

RATE = 16000
TEXT = "papa bob buys maps by the pond"
MOUTH = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLowerDownLeft", "mouthUpperUpLeft")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    from generators.speech.audio import load_audio

    wav = tmp_path_factory.mktemp("silence") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), TEXT], check=True, capture_output=True)
    return load_audio(wav).samples


def _rest_jaw() -> float:
    from generators.speech.visemes import REST_JAW_OPEN  # people's lips rest slightly parted, in pauses too

    return REST_JAW_OPEN


def _write(path: Path, samples: np.ndarray) -> Path:
    import soundfile

    soundfile.write(path, samples.astype(np.float32), RATE)
    return path


def _animate(path: Path, **kwargs):  # noqa: ANN003, ANN202
    from generators.speech import animate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seq = animate(path, method="neural", **kwargs)
    return seq, [w for w in caught]


def _mouth(seq) -> np.ndarray:  # noqa: ANN001
    return np.stack([seq.column(c) for c in MOUTH], axis=1)


@pytest.mark.parametrize("kind", ["digital silence", "room noise"])
def test_silent_audio_is_an_idle_clip_with_one_warning(tmp_path: Path, kind: str) -> None:
    from generators.expression import expression_weights
    from generators.speech.audio import NoSpeechWarning

    seconds = 7.0
    n = int(seconds * RATE)
    x = np.zeros(n) if kind == "digital silence" else np.random.default_rng(0).standard_normal(n) * 10 ** (-50 / 20)
    seq, caught = _animate(_write(tmp_path / "quiet.wav", x), emotion="happy", intensity=0.7, seed=1)
    assert len(caught) == 1 and issubclass(caught[0].category, NoSpeechWarning)
    assert "idle" in str(caught[0].message) and "\n" not in str(caught[0].message)
    assert len(seq) == int(np.ceil(seconds * seq.fps))  # the clip length follows the audio
    # The mouth does not talk: every mouth column holds still, at the happy pose (plus the lips' parted rest).
    pose = np.asarray(expression_weights(emotion="happy", intensity=0.7), np.float32).reshape(-1)
    mouth = _mouth(seq)
    assert np.ptp(mouth, axis=0).max() < 1e-4
    assert np.all(mouth[0] >= np.array([pose[seq.names.index(c)] for c in MOUTH]) - 1e-4)
    assert seq.column("jawOpen").max() < pose[seq.names.index("jawOpen")] + 0.1
    assert seq.column("mouthSmileLeft").min() > 0.3
    assert seq.column("eyeBlinkLeft").max() > 0.8, "an idle face still blinks"
    assert np.ptp(seq.head_pose[:, 4]) > 0.05, "and breathes (the head rises with each inhale)"
    assert np.ptp(seq.column("eyeLookOutLeft") + seq.column("eyeLookInLeft")) > 0.0, "and looks around"


def test_mostly_silent_audio_talks_where_there_is_speech(tmp_path: Path, speech: np.ndarray) -> None:
    from generators.speech.audio import NoSpeechWarning, SilenceWarning

    speech = speech[: len(speech) // 2]  # "papa bob buys", under 10 % of the clip
    x = np.zeros(15 * RATE)
    start = 5 * RATE
    x[start : start + len(speech)] = speech
    seq, caught = _animate(_write(tmp_path / "mostly.wav", x))
    assert len(caught) == 1 and issubclass(caught[0].category, SilenceWarning)
    assert not issubclass(caught[0].category, NoSpeechWarning)
    assert "mostly silence" in str(caught[0].message)
    assert len(seq) == 15 * 30
    t = np.arange(len(seq)) / seq.fps
    jaw = seq.column("jawOpen")
    talking = (t > 5.1) & (t < 5 + len(speech) / RATE - 0.1)
    assert jaw[talking].max() > 0.2, "the speech in it is animated"
    for quiet in (t < 4.5, t > 5 + len(speech) / RATE + 0.5):  # the silence is idle: the jaw holds its parted rest
        assert np.allclose(jaw[quiet], _rest_jaw(), atol=1e-4)


def test_a_pause_in_dialogue_is_normal_input(tmp_path: Path, speech: np.ndarray) -> None:
    x = np.concatenate([speech, np.zeros(int(1.5 * RATE)), speech])
    seq, caught = _animate(_write(tmp_path / "dialogue.wav", x))
    assert caught == []
    t = np.arange(len(seq)) / seq.fps
    pause = (t > len(speech) / RATE + 0.3) & (t < len(speech) / RATE + 1.2)
    assert np.allclose(seq.column("jawOpen")[pause], _rest_jaw(), atol=1e-4) and seq.column("jawOpen").max() > 0.2


@pytest.mark.slow
def test_api_and_cli_say_it_once(tmp_path: Path) -> None:
    import avatar

    wav = _write(tmp_path / "silent.wav", np.zeros(2 * RATE))
    with pytest.warns(UserWarning, match="silent.*idle face") as record:
        seq = avatar.animate(str(wav), emotion="sad")
    assert len(record) == 1 and len(seq) == 60 and set(seq.labels) == {"sad"}
    out = subprocess.run([sys.executable, "-m", "avatar", "animate", str(wav), "--export", str(tmp_path / "t.csv")],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emoavatar: warning: ") and "silent" in lines[0]
    assert "lip sync: none" in out.stdout and (tmp_path / "t.csv").is_file()
