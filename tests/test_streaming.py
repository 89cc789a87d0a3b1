"""Streaming speech -> ARKit: chunking never changes the frames, the stream matches the offline path, the CLI prints JSON lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("soundfile")
pytestmark = [pytest.mark.speech, pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to synthesise test speech")]

TEXT = "papa bob buys maps by the pond"
MOUTH_MAE_TOL = 0.03
"""Stated tolerance: mean absolute difference of the 20 mouth/jaw columns, streamed vs offline (measured ~0.011)."""
CLOSED_AGREEMENT_TOL = 0.85
"""Share of frames on which streamed and offline agree whether the lips touch (measured ~0.93)."""


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("no trained speech model shipped")
    path = tmp_path_factory.mktemp("stream") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), TEXT], check=True, capture_output=True)
    return path


def _stream(samples: np.ndarray, chunk: int, **kwargs) -> list:  # noqa: ANN003
    from generators.speech.streaming import StreamingAnimator

    anim = StreamingAnimator(**kwargs)
    frames = []
    for i in range(0, len(samples), chunk):
        frames += anim.push(samples[i : i + chunk])
    return frames + anim.flush()


@pytest.mark.slow
def test_20ms_chunks_equal_one_push(wav: Path) -> None:
    from generators.speech.audio import load_audio

    x = load_audio(wav).samples
    a = _stream(x, 320, emotion="happy", intensity="auto", seed=4)
    b = _stream(x, len(x), emotion="happy", intensity="auto", seed=4)
    assert len(a) == len(b) == int(np.ceil(len(x) / 16000 * 30 - 1e-9))
    assert np.array_equal(np.stack([f.weights for f in a]), np.stack([f.weights for f in b]))
    assert np.array_equal(np.stack([f.head_pose for f in a]), np.stack([f.head_pose for f in b]))
    assert [f.index for f in a] == list(range(len(a)))


@pytest.mark.slow
def test_streaming_matches_offline_within_tolerance(wav: Path) -> None:
    from avatar.rig import index_of
    from generators.speech import animate
    from generators.speech.audio import load_audio
    from generators.speech.visemes import SPEECH_COLUMNS, default_lip_model

    x = load_audio(wav).samples
    streamed = np.stack([f.weights for f in _stream(x, 320, life=False)])
    offline = animate(wav, method="neural", life=False).weights
    assert streamed.shape == offline.shape
    cols = [index_of(n) for n in SPEECH_COLUMNS]
    assert np.abs(streamed[:, cols] - offline[:, cols]).mean() < MOUTH_MAE_TOL
    lips = default_lip_model()
    assert ((lips.gap(streamed) < 0.15) == (lips.gap(offline) < 0.15)).mean() >= CLOSED_AGREEMENT_TOL



@pytest.mark.slow
def test_room_noise_after_a_few_zero_samples_keeps_the_mouth_at_rest(wav: Path) -> None:
    from generators.speech.audio import load_audio
    from generators.speech.visemes import default_lip_model

    speech = load_audio(wav).samples
    rng = np.random.default_rng(0)
    # A decoder's priming zeros (40 ms), then 0.6 s of a quiet room (-53 dBFS), then the words over that room.
    zeros, room = np.zeros(640, np.float32), int(0.6 * 16000)
    noise = (10 ** (-53 / 20) * rng.standard_normal(room + len(speech))).astype(np.float32)
    x = np.concatenate([zeros, noise[:room], speech + noise[room:]])
    gap = default_lip_model().gap(np.stack([f.weights for f in _stream(x, 320, life=False)]))
    before = gap[: int((0.04 + 0.6 - 0.1) * 30)]  # up to 0.1 s before the first word (the model's look-ahead)
    words = gap[int((0.04 + 0.6) * 30):]
    assert before.max() < 0.4, f"the mouth opened {before.max():.2f} cm on room noise before anyone spoke"
    assert np.percentile(words, 90) > 0.6, "the words still open the mouth"


def test_frames_wait_only_for_the_stated_latency(wav: Path) -> None:
    from generators.speech.audio import load_audio
    from generators.speech.streaming import StreamingAnimator

    x = load_audio(wav).samples
    anim = StreamingAnimator(life=False)
    assert anim.latency_s <= 0.1
    pushed, emitted = 0, []
    for i in range(0, len(x) - 320, 320):
        emitted += anim.push(x[i : i + 320])
        pushed += 320
        heard = pushed / 16000
        # Every frame whose time + latency_s has been heard is out...
        due = int(np.floor((heard - anim.latency_s) * 30 + 1e-9)) + 1
        assert len(emitted) >= due, f"{heard:.3f} s heard, {len(emitted)} frames out, {due} due"
        # ...and none came out before the model's look-ahead (60 ms) beyond it was heard.
        if emitted:
            assert emitted[-1].time + 0.06 <= heard + 1e-9


@pytest.mark.slow
def test_stream_cli_prints_one_json_line_per_frame(wav: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "avatar", "stream", str(wav), "--emotion", "sad", "--chunk-ms", "40"],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    first = json.loads(lines[0])
    assert len(first["blendshapes"]) == 52 and set(first["head_pose"]) == {"pitch", "yaw", "roll", "tx", "ty", "tz"}
    assert first["timecode"] == "00:00:00.000" and first["emotion"] == "sad"
    assert "latency" in out.stderr


@pytest.mark.slow
def test_stream_cli_reads_raw_pcm_from_stdin(wav: Path) -> None:
    from generators.speech.audio import load_audio

    pcm = (load_audio(wav).samples * 32767).astype("<i2").tobytes()
    out = subprocess.run([sys.executable, "-m", "avatar", "stream", "-", "--rate", "16000", "--no-life"], input=pcm,
                         capture_output=True, check=True, timeout=120)
    n = len(out.stdout.decode().strip().splitlines())
    assert n == int(np.ceil(len(pcm) / 2 / 16000 * 30 - 1e-9))


def test_stream_prior_script_measures_a_gain_free_shape_per_speaker(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("fit_stream_prior", Path(__file__).parents[1] / "scripts" / "fit_stream_prior.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(tmp_path)]) == 2
    assert "holds no .wav or .flac clips" in capsys.readouterr().err
    for voice, name in (("en-us", "a__1"), ("en-gb", "b__1"), ("en-gb", "b__2")):
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(tmp_path / f"{name}.wav"), TEXT], check=True, capture_output=True)
    assert mod.main([str(tmp_path), "--exclude", "b"]) == 0
    out = capsys.readouterr().out
    assert "# 1 speakers, 1 clips" in out
    assert mod.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "# 2 speakers, 3 clips" in out
    shape, std = (np.array([float(v) for v in a.split(",")]) for a in re.findall(r"np\.array\(\[(.*?)\]\)", out, re.S))
    assert len(shape) == len(std) == 40
    assert abs(shape.mean()) < 1e-2, "the shape is gain-free: its mean over bands is zero"
    assert (std > 0).all() and shape[:5].mean() > shape[-5:].mean(), "speech has more energy low than high"
