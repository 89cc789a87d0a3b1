"""The speech model's features and its inference in plain numpy: the shipped `SpeechToARKit` without torch.

`neural.SpeechToARKit` is the torch model (a diffusers `ModelMixin`) that is trained, saved, streamed and run on
a GPU. Running it needs torch and diffusers imported, which takes 3-6 s on a busy 2-core CPU (diffusers pulls in
torch._dynamo), 30-100x what the model itself costs on a clip. `SpeechModelNumpy` reads the same checkpoint
folder (config.json + diffusion_pytorch_model.safetensors, strictly: every tensor by name and shape) and runs the
same layers in float32 numpy, so `talking.animate` starts in a fraction of a second. tests/test_speech_numpy.py
checks it against the torch module on real speech.

The log-mel features (and their HTK/Slaney mel filterbank, equal to `librosa.filters.mel(htk=True,
norm="slaney")`, checked in the tests) live here too, so neither path imports librosa (numba) for them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, FileFormatError
from generators.speech.audio import INSTALL_HINT, Audio

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"

OPENING_SHAPES = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight")
"""The blendshapes that move the lips apart: a checkpoint's `opening_gain` scales these and only these."""


def apply_opening_gain(weights: np.ndarray, names: tuple[str, ...] | list[str], gain: float) -> np.ndarray:
    """Return (T, n) `weights` with the `OPENING_SHAPES` columns times `gain`, clipped to [0, 1] (the input itself for gain 1).

    A checkpoint's `opening_gain` is its amplitude calibrated on real talkers (`scripts/calibrate_opening.py`): the
    correlation with a person's lips is scale-free, so a model can follow them well and still open too little.
    """
    if gain == 1.0:
        return weights
    out = np.array(weights, dtype=np.float32, copy=True)
    cols = [i for i, n in enumerate(names) if n in OPENING_SHAPES]
    out[..., cols] = np.clip(out[..., cols] * np.float32(gain), 0.0, 1.0)
    return out


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Return an (n_mels, n_fft // 2 + 1) float32 triangular mel filterbank (HTK mel scale, Slaney area norm).

    The formulas of `librosa.filters.mel(htk=True, norm="slaney")` in numpy (tests compare the two).
    """
    freqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    lo, hi = 2595.0 * np.log10(1.0 + fmin / 700.0), 2595.0 * np.log10(1.0 + fmax / 700.0)
    mel_f = 700.0 * (10.0 ** (np.linspace(lo, hi, n_mels + 2) / 2595.0) - 1.0)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, freqs)
    weights = np.zeros((n_mels, len(freqs)), np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


@lru_cache(maxsize=4)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    return mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)


def log_mel(samples: np.ndarray, config: Mapping[str, Any]) -> np.ndarray:
    """Return (n_mels, F) float32 log-mel features at sample_rate / hop frames per second.

    `samples` must already be at `config["sample_rate"]` (`predict` resamples).
    Per-utterance mean/variance normalisation per band makes the model indifferent to recording gain.
    """
    mel = raw_log_mel(samples, config)
    mel = (mel - mel.mean(axis=1, keepdims=True)) / (mel.std(axis=1, keepdims=True) + 1e-3)
    return mel.astype(np.float32)


def raw_log_mel(samples: np.ndarray, config: Mapping[str, Any]) -> np.ndarray:
    """Return the (n_mels, F) natural-log mel energies of `samples` (at `config["sample_rate"]`), not normalised.

    `log_mel` normalises them per utterance; the stream normalises them with running statistics and a prior
    measured on them (`streaming.PRIOR_SHAPE_40`, `scripts/fit_stream_prior.py`).
    """
    n_fft, hop = int(config["n_fft"]), int(config["hop"])
    x = np.pad(samples.astype(np.float32), (n_fft // 2, n_fft // 2), mode="reflect" if len(samples) > n_fft // 2 else "constant")
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(n_fft + 1)[:-1].astype(np.float32)[None]
    power = np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2
    fb = _filterbank(int(config["sample_rate"]), n_fft, int(config["n_mels"]), float(config["fmin"]), float(config["fmax"]))
    return np.log(power @ fb.T + 1e-6).T


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Return float32 `samples` at `target_rate` (librosa's soxr HQ resampler, as `load_audio` uses); unchanged when equal."""
    if int(rate) == int(target_rate):
        return samples
    try:
        import librosa
    except ImportError:
        raise AvatarInputError(f"resampling {rate} Hz audio for the speech model needs librosa: {INSTALL_HINT}") from None
    return librosa.resample(np.asarray(samples, np.float32), orig_sr=int(rate), target_sr=int(target_rate), res_type="soxr_hq").astype(np.float32)


def frame_logits(logits: np.ndarray, rate: float, duration: float, fps: float, n_frames: int | None,
                 n_shapes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ((T, n_shapes) float32 weights, (T,) float32 closure logit) at `fps` from (M, n_shapes + 1) model logits at `rate` Hz.

    Each logit is interpolated linearly to the frame times, then the weights go through a sigmoid (both model
    implementations share this step); `closure.hybrid_closure` reads the closure logit itself.
    """
    n = n_frames if n_frames is not None else int(np.ceil(duration * fps))
    t = np.arange(n) / fps
    src = np.arange(len(logits)) / rate
    out = np.stack([np.interp(t, src, logits[:, k]) for k in range(logits.shape[1])], axis=1)
    w = 1.0 / (1.0 + np.exp(-out[:, :n_shapes]))
    return w.astype(np.float32), out[:, n_shapes].astype(np.float32)


def frames_from_logits(logits: np.ndarray, rate: float, duration: float, fps: float, n_frames: int | None,
                       n_shapes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ((T, n_shapes) float32 weights, (T,) bool closure mask) at `fps` from (M, n_shapes + 1) model logits at `rate` Hz.

    As `frame_logits`, with the closure logit thresholded at 0 (the model's closure flag).
    """
    w, closure = frame_logits(logits, rate, duration, fps, n_frames, n_shapes)
    return w, closure > 0.0


def _gelu(x: np.ndarray) -> np.ndarray:
    """Return GELU (the exact, erf form torch uses by default) of float32 `x`, as float32.

    erf from Numerical Recipes' erfc Chebyshev fit (fractional error < 1.2e-7, below float32's resolution),
    so that scipy.special (~0.5 s to import) is not needed.
    """
    z = np.abs(x.astype(np.float64)) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-z * z + poly)
    erf = np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
    return (0.5 * x * (1.0 + erf)).astype(np.float32)


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int = 1) -> np.ndarray:
    """Return (C_out, T_out) float32: torch's Conv1d (no padding) of (C_in, T) `x` with (C_out, C_in, K) `weight`."""
    k = weight.shape[2]
    t_out = (x.shape[1] - k) // stride + 1
    cols = np.stack([x[:, j:j + stride * (t_out - 1) + 1:stride] for j in range(k)], axis=1)  # (C_in, K, T_out)
    return (weight.reshape(len(weight), -1) @ cols.reshape(-1, t_out) + bias[:, None]).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


SPAN = 4 + 3 + 2 * 2
"""Input frames the conv stack spans beyond the current one: (k1-1) + (k2-1) + stride*(k3-1)."""


class SpeechModelNumpy:
    """The `SpeechToARKit` network in float32 numpy: log-mel (n_mels, F) at 100 Hz -> (F/2, outputs) logits at 50 Hz.

    This is the one inference definition of the speech network: the offline paths (`forward`, `predict`),
    `SpeechToARKit.predict` (through `from_module`) and streaming (`step`, one 50 Hz output at a time) all run
    these layers. `SpeechToARKit.forward` is the same network in torch, kept for training (cuDNN's GRU, autograd);
    tests/test_speech_numpy.py holds the two equal. Layers, in order: zero padding for the look-ahead, three GELU
    convolutions (the second halves the rate), LayerNorm, a one-layer GRU, a linear head. Build it with
    `from_folder`, `from_module` or `as_numpy_model`.
    """

    span = SPAN

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        self.config = dict(config)
        self.tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
        _check_tensors(self.config, self.tensors)
        self.lookahead = int(self.config.get("lookahead", 6))
        self.hidden = self.tensors["gru.weight_hh_l0"].shape[1]

    @classmethod
    def from_folder(cls, path: str | os.PathLike) -> SpeechModelNumpy:
        """Return the model in a checkpoint folder written by `SpeechToARKit.save_pretrained`; strict about tensors."""
        from safetensors.numpy import load_file

        folder = Path(path)
        try:
            config = json.loads((folder / "config.json").read_text())
            tensors = load_file(str(folder / WEIGHTS_NAME))
        except (OSError, ValueError) as e:
            raise FileFormatError(f"cannot load the speech model from {str(path)!r} ({str(e).splitlines()[0]}): "
                                  "pass a folder written by SpeechToARKit.save_pretrained") from None
        return cls(config, tensors)

    @classmethod
    def from_module(cls, module: Any) -> SpeechModelNumpy:
        """Return the numpy model holding a `SpeechToARKit`'s current weights (copied to the CPU as float32)."""
        tensors = {k: v.detach().float().cpu().numpy() for k, v in module.state_dict().items()}
        return cls(dict(module.config), tensors)

    def pad(self, mel: np.ndarray) -> np.ndarray:
        """Return (n_mels, F + span) float32: `mel` zero-padded so that output m sees input frames up to 2m + lookahead."""
        return np.pad(np.asarray(mel, np.float32), ((0, 0), (self.span - self.lookahead, self.lookahead)))

    def front(self, x: np.ndarray) -> np.ndarray:
        """Return (M, C) float32 GRU input gates' sources: the conv stack and LayerNorm over padded features (n_mels, F').

        Over a whole padded clip M = F / 2; over a window of `span + 1` feature frames (streaming) M = 1.
        """
        p = self.tensors
        x = _gelu(_conv1d(x, p["conv1.weight"], p["conv1.bias"]))
        x = _gelu(_conv1d(x, p["conv2.weight"], p["conv2.bias"], stride=2))
        x = _gelu(_conv1d(x, p["conv3.weight"], p["conv3.bias"])).T  # (M, C)
        mean = x.mean(1, keepdims=True)
        var = ((x - mean) ** 2).mean(1, keepdims=True)
        return ((x - mean) / np.sqrt(var + 1e-5) * p["norm.weight"] + p["norm.bias"]).astype(np.float32)

    def gates(self, x: np.ndarray) -> np.ndarray:
        """Return (M, 3H) float32: the GRU's input projections (torch's gate order r, z, n) of (M, C) `front` output."""
        return x @ self.tensors["gru.weight_ih_l0"].T + self.tensors["gru.bias_ih_l0"]

    def recur(self, h: np.ndarray, gi: np.ndarray) -> np.ndarray:
        """Return the (H,) float32 GRU state after one step from state `h` with input projections `gi` (3H,)."""
        p, hidden = self.tensors, self.hidden
        gh = h @ p["gru.weight_hh_l0"].T + p["gru.bias_hh_l0"]
        r = _sigmoid(gi[:hidden] + gh[:hidden])
        z = _sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
        n = np.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
        return ((1.0 - z) * n + z * h).astype(np.float32)

    def head(self, h: np.ndarray) -> np.ndarray:
        """Return (..., outputs) float32 logits for GRU states (..., H)."""
        return (h @ self.tensors["head.weight"].T + self.tensors["head.bias"]).astype(np.float32)

    def initial_state(self) -> np.ndarray:
        """Return the (H,) float32 zero GRU state a clip or stream starts from."""
        return np.zeros(self.hidden, np.float32)

    def forward(self, mel: np.ndarray) -> np.ndarray:
        """Return (M, outputs) float32 logits at half the feature rate for (n_mels, F) log-mel features."""
        gi = self.gates(self.front(self.pad(mel)))  # every step's input projections at once
        h = self.initial_state()
        ys = np.empty((len(gi), self.hidden), np.float32)
        for t in range(len(gi)):
            h = ys[t] = self.recur(h, gi[t])
        return self.head(ys)

    def step(self, window: np.ndarray, h: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Return ((outputs,) logits, new (H,) state) of one 50 Hz step (streaming).

        `window` is (n_mels, span + 1): the feature frames the step's conv stack sees (zeros before the clip),
        `h` the state after the previous step (None at the start).
        """
        gi = self.gates(self.front(np.asarray(window, np.float32)))[-1]
        h = self.recur(self.initial_state() if h is None else h, gi)
        return self.head(h), h

    def predict(self, audio: Audio, fps: float = 30.0, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ((T, n) float32 blendshape weights, (T,) bool closure mask) at `fps` for one clip (as SpeechToARKit.predict)."""
        w, closure = self.predict_logits(audio, fps, n_frames)
        return w, closure > 0.0

    def predict_logits(self, audio: Audio, fps: float = 30.0, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ((T, n) float32 blendshape weights, (T,) float32 closure logit) at `fps` for one clip.

        The weights carry the checkpoint's `opening_gain` (`apply_opening_gain`), as streaming's do.
        """
        cfg = self.config
        samples = resample(audio.samples, audio.sample_rate, int(cfg["sample_rate"]))
        out = self.forward(log_mel(samples, cfg))
        rate = int(cfg["sample_rate"]) / int(cfg["hop"]) / 2.0
        w, closure = frame_logits(out, rate, audio.duration, fps, n_frames, len(cfg["blendshape_names"]))
        return apply_opening_gain(w, cfg["blendshape_names"], float(cfg.get("opening_gain", 1.0))), closure


def _check_tensors(config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
    """Raise FileFormatError naming the first tensor that is missing, unexpected or mis-shaped for `config`."""
    try:
        c, h, m, out = int(config["channels"]), int(config["hidden"]), int(config["n_mels"]), int(config["outputs"])
    except (KeyError, TypeError, ValueError) as e:
        raise FileFormatError(f"the speech model's config.json lacks {e}: pass a folder written by SpeechToARKit.save_pretrained") from None
    want = {"conv1.weight": (c, m, 5), "conv1.bias": (c,), "conv2.weight": (c, c, 4), "conv2.bias": (c,),
            "conv3.weight": (c, c, 3), "conv3.bias": (c,), "norm.weight": (c,), "norm.bias": (c,),
            "gru.weight_ih_l0": (3 * h, c), "gru.weight_hh_l0": (3 * h, h), "gru.bias_ih_l0": (3 * h,),
            "gru.bias_hh_l0": (3 * h,), "head.weight": (out, h), "head.bias": (out,)}
    missing = sorted(set(want) - set(tensors))
    unexpected = sorted(set(tensors) - set(want))
    shapes = sorted(k for k in want if k in tensors and tuple(tensors[k].shape) != want[k])
    if missing or unexpected or shapes:
        what = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                else f"{shapes[0]} has shape {tuple(tensors[shapes[0]].shape)}, expected {want[shapes[0]]}")
        raise FileFormatError(f"speech model weights do not match its config: {what}")


CHECKPOINT_HINT = "pass a folder written by SpeechToARKit.save_pretrained (config.json + diffusion_pytorch_model.safetensors)"


def checkpoint_folder(path: str | os.PathLike | None) -> tuple[str, float]:
    """Return (resolved folder, newest file mtime) of a speech checkpoint (default: the shipped one); raise when absent.

    The pair keys the loaders' caches, so a checkpoint rewritten in place is read again.
    """
    from generators.speech.shipped import DEFAULT_WEIGHTS, weights_available

    p = Path(path or DEFAULT_WEIGHTS)
    if not weights_available(p):
        hint = "train it with scripts/train_speech_model.py, or use method='phonetic'" if path is None else CHECKPOINT_HINT
        raise AvatarInputError(f"speech model checkpoint not found at {str(p)!r}: {hint}")
    return str(p.resolve()), max(f.stat().st_mtime for f in p.iterdir() if f.is_file())


def load_numpy_model(path: str | os.PathLike | None = None) -> SpeechModelNumpy:
    """Return the `SpeechModelNumpy` of the checkpoint folder `path` (default: the shipped one), cached per folder version."""
    return _load_cached(*checkpoint_folder(path))


@lru_cache(maxsize=2)
def _load_cached(path: str, mtime: float) -> SpeechModelNumpy:
    return SpeechModelNumpy.from_folder(path)


def as_numpy_model(model: Any = None) -> SpeechModelNumpy:
    """Return the numpy inference model for `model`: None (the shipped checkpoint), a checkpoint folder, a
    `SpeechModelNumpy`, or a `SpeechToARKit` (its current weights)."""
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_numpy_model(model)
    if isinstance(model, SpeechModelNumpy):
        return model
    if hasattr(model, "state_dict") and hasattr(model, "config"):
        return SpeechModelNumpy.from_module(model)
    raise AvatarInputError(f"model must be a SpeechToARKit, a SpeechModelNumpy or a checkpoint folder, got {type(model).__name__}")
