"""The speech model run in numpy equals the torch module; the numpy smoothing, filterbank and bounded least squares
equal scipy's and librosa's; `animate` imports none of torch, diffusers, librosa, scipy.ndimage or scipy.optimize."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import FileFormatError
from generators.speech.audio import Audio, load_audio
from generators.speech.net_numpy import SpeechModelNumpy, load_numpy_model, mel_filterbank
from generators.speech.smoothing import gaussian_filter1d

pytestmark = [pytest.mark.speech]

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "Maybe Bob will bring a pair of purple mittens for me."


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng to synthesise test speech")
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SENTENCE], check=True, capture_output=True)
    return load_audio(path)


def test_numpy_model_equals_the_torch_model_on_real_speech(speech: Audio) -> None:
    """Same checkpoint, same outputs: weights within 1e-5, the same closure frames (several bilabials in the sentence)."""
    pytest.importorskip("torch")
    from generators.speech.neural import load_model

    w_np, shut_np = load_numpy_model().predict(speech, fps=30.0)
    w_t, shut_t = load_model().predict(speech, fps=30.0)
    assert w_np.shape == w_t.shape == (int(np.ceil(speech.duration * 30)), 52)
    assert np.abs(w_np - w_t).max() < 1e-5
    assert np.array_equal(shut_np, shut_t) and shut_np.sum() >= 3


def test_numpy_forward_equals_torch_on_random_features() -> None:
    torch = pytest.importorskip("torch")
    from generators.speech.neural import load_model

    net = load_model()
    mel = np.random.default_rng(0).standard_normal((40, 123)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(mel)[None])[0].numpy()
    got = load_numpy_model().forward(mel)
    assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_numpy_model_is_strict_about_its_tensors(tmp_path: Path) -> None:
    model = load_numpy_model()
    tensors = dict(model.tensors)
    tensors.pop("gru.bias_hh_l0")
    with pytest.raises(FileFormatError, match="missing.*gru.bias_hh_l0"):
        SpeechModelNumpy(model.config, tensors)
    tensors = {**model.tensors, "head.weight": np.zeros((53, 64), np.float32)}
    with pytest.raises(FileFormatError, match="head.weight has shape"):
        SpeechModelNumpy(model.config, tensors)
    with pytest.raises(FileFormatError, match="unexpected"):
        SpeechModelNumpy(model.config, {**model.tensors, "extra": np.zeros(1, np.float32)})
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileFormatError):
        SpeechModelNumpy.from_folder(tmp_path)


def test_filterbank_equals_librosa() -> None:
    librosa_filters = pytest.importorskip("librosa.filters")
    for args in ((16000, 400, 40, 60.0, 7600.0), (22050, 1024, 80, 0.0, 11025.0)):
        want = librosa_filters.mel(sr=args[0], n_fft=args[1], n_mels=args[2], fmin=args[3], fmax=args[4], htk=True, norm="slaney")
        assert np.abs(mel_filterbank(*args) - want).max() <= 1e-7


@pytest.mark.parametrize("mode", ["reflect", "nearest"])
def test_gaussian_smoothing_equals_scipy(mode: str) -> None:
    from scipy.ndimage import gaussian_filter1d as scipy_filter

    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 40, 300):
        for sigma in (0.3, 1.5, 5.0, 18.0):
            x = rng.standard_normal(n)
            assert np.allclose(gaussian_filter1d(x, sigma, mode=mode), scipy_filter(x, sigma, mode=mode), atol=1e-12)
            y = rng.standard_normal((n, 3))
            assert np.allclose(gaussian_filter1d(y, sigma, axis=0, mode=mode), scipy_filter(y, sigma, axis=0, mode=mode), atol=1e-12)


@pytest.mark.slow
def test_bounded_least_squares_equals_scipy() -> None:
    """On 500 random box-bounded ridge problems shaped like the lip closures' (up to 14 unknowns, some lower bounds
    above 0): the numpy solver's cost is never above lsq_linear's (run to a tight tolerance) and x agrees to 1e-6."""
    from scipy.optimize import lsq_linear

    from generators.speech.lsq import bounded_least_squares

    rng = np.random.default_rng(0)
    pinned = 0
    for _ in range(500):
        n, m = int(rng.integers(1, 15)), int(rng.integers(1, 30))
        a = np.vstack([rng.normal(size=(m, n)), np.sqrt(rng.uniform(0.01, 0.2)) * np.eye(n)])
        b = rng.normal(size=m + n) * rng.uniform(0.1, 5)
        lo = np.where(rng.random(n) < 0.3, rng.uniform(0, 0.5, n), 0.0)
        x = bounded_least_squares(a, b, lo, 1.0)
        y = lsq_linear(a, b, bounds=(lo, 1.0), tol=1e-12).x
        assert np.all(x >= lo) and np.all(x <= 1.0)
        assert ((a @ x - b) ** 2).sum() <= ((a @ y - b) ** 2).sum() + 1e-9
        assert np.abs(x - y).max() < 1e-6
        pinned += int(np.any((x == lo) | (x == 1.0)))
    assert pinned > 250  # most problems have active bounds: the active set is exercised, not just the plain solve
    with pytest.raises(ValueError, match="lower bound exceeds"):
        bounded_least_squares(np.eye(2), np.ones(2), [0.5, 0.0], [0.2, 1.0])


@pytest.mark.slow
def test_animate_imports_neither_torch_nor_librosa(speech: Audio, tmp_path: Path) -> None:
    """The default speech path (the shipped model, via 'auto') runs without the 3-6 s of torch/diffusers/librosa imports,
    nor scipy.optimize's 0.5-3 s (the lip closures' bounded least squares is numpy's)."""
    import soundfile

    wav = tmp_path / "s.wav"
    soundfile.write(wav, speech.samples, speech.sample_rate)
    code = ("import sys, avatar\n"
            f"seq = avatar.animate({str(wav)!r}, emotion='happy')\n"
            "print(len(seq), sorted(m for m in ('torch', 'diffusers', 'librosa', 'scipy.ndimage', 'scipy.optimize') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    frames, loaded = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert int(frames) == int(np.ceil(speech.duration * 30)) and loaded == "[]"


def test_streaming_steps_equal_the_clip_forward() -> None:
    """Streaming's one-step-at-a-time path (`step` over span + 1 feature frames) gives the clip forward's logits."""
    net = load_numpy_model()
    mel = np.random.default_rng(2).standard_normal((40, 64)).astype(np.float32)
    want = net.forward(mel)
    padded = net.pad(mel)
    h, got = None, []
    for m in range(len(want)):
        logits, h = net.step(padded[:, 2 * m : 2 * m + net.span + 1], h)
        got.append(logits)
    assert np.abs(np.stack(got) - want).max() < 1e-5


@pytest.mark.slow
def test_opening_gain_widens_only_the_lip_opening_shapes_offline_and_streamed(speech: Audio) -> None:
    """A checkpoint's `opening_gain` multiplies jawOpen, mouthLowerDown* and mouthUpperUp* (clipped to 1) and leaves
    every other column and the closure logit as they were, in `predict` and in streaming alike."""
    from avatar.rig import ARKIT_NAMES, index_of
    from generators.speech.net_numpy import OPENING_SHAPES, apply_opening_gain
    from generators.speech.streaming import StreamingAnimator

    shipped = load_numpy_model()
    plain = SpeechModelNumpy({**shipped.config, "opening_gain": 1.0}, shipped.tensors)
    wide = SpeechModelNumpy({**shipped.config, "opening_gain": 1.5}, shipped.tensors)
    w1, c1 = plain.predict_logits(speech)
    w2, c2 = wide.predict_logits(speech)
    cols = [index_of(n) for n in OPENING_SHAPES]
    rest = [i for i in range(len(ARKIT_NAMES)) if i not in cols]
    assert np.array_equal(w2[:, rest], w1[:, rest]) and np.array_equal(c2, c1)
    assert np.allclose(w2[:, cols], np.minimum(w1[:, cols] * 1.5, 1.0), atol=1e-6)
    assert w1[:, index_of("jawOpen")].max() > 0.2  # the sentence opens the jaw, so the gain is seen
    assert apply_opening_gain(w1, ARKIT_NAMES, 1.0) is w1

    def streamed_jaw(model: SpeechModelNumpy) -> np.ndarray:
        anim = StreamingAnimator(model, life=False)
        frames = anim.push(speech.samples.astype(np.float32)) + anim.flush()
        return np.array([f.weights[index_of("jawOpen")] for f in frames])

    j1, j2 = streamed_jaw(plain), streamed_jaw(wide)
    talking = j1 > 0.1
    assert talking.sum() > 10 and np.median(j2[talking] / j1[talking]) > 1.3
