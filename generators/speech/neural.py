"""A small streaming audio -> ARKit model: log-mel frames in, 52 mouth/jaw weights + a lip-closure logit out.

Architecture (`SpeechToARKit`): log-mel (n_mels x 100 Hz) -> conv front end that halves the rate to 50 Hz
with a fixed, short look-ahead (`lookahead` feature frames: visible articulation leads the sound, so a
few tens of ms of future audio help) -> unidirectional GRU (streams frame by frame) -> linear head:
52 sigmoid weights and one bilabial-closure logit, which `talking.animate` turns into the same hard
lip closure as the phonetic path. Trained by `scripts/train_speech_model.py` on espeak-ng speech
labelled by the phonetic path; see `generators/speech/weights/README.md` for the recipe and metrics.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES
from generators.speech.audio import INSTALL_HINT, Audio

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "speech_to_arkit.safetensors"

DEFAULT_CONFIG: dict[str, Any] = {
    "sample_rate": 16000, "n_fft": 400, "hop": 160, "n_mels": 40, "fmin": 60.0, "fmax": 7600.0,
    "channels": 128, "hidden": 128, "lookahead": 6, "outputs": len(ARKIT_NAMES) + 1,
}


def weights_available(path: str | os.PathLike | None = None) -> bool:
    """Return True when a trained weight file exists at `path` (default: the shipped one)."""
    return Path(path or DEFAULT_WEIGHTS).is_file()


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Return an (n_mels, n_fft // 2 + 1) float32 triangular mel filterbank (HTK mel scale, area-normalised)."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    fb *= 2.0 / (hi - lo)
    return fb.astype(np.float32)


def log_mel(samples: np.ndarray, config: dict[str, Any] = DEFAULT_CONFIG) -> np.ndarray:
    """Return (n_mels, F) float32 log-mel features at sample_rate / hop frames per second.

    Per-utterance mean/variance normalisation per band makes the model indifferent to recording gain.
    """
    n_fft, hop = int(config["n_fft"]), int(config["hop"])
    x = np.pad(samples.astype(np.float32), (n_fft // 2, n_fft // 2), mode="reflect" if len(samples) > n_fft // 2 else "constant")
    n = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(n_fft + 1)[:-1].astype(np.float32)[None]
    power = np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2
    fb = _filterbank(int(config["sample_rate"]), n_fft, int(config["n_mels"]), float(config["fmin"]), float(config["fmax"]))
    mel = np.log(power @ fb.T + 1e-6).T
    mel = (mel - mel.mean(axis=1, keepdims=True)) / (mel.std(axis=1, keepdims=True) + 1e-3)
    return mel.astype(np.float32)


@lru_cache(maxsize=4)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    return mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)


def _torch():  # noqa: ANN202 - module object
    try:
        import torch
    except ImportError:
        raise AvatarInputError(f"the neural speech path needs torch: {INSTALL_HINT}") from None
    return torch


def build_model(config: dict[str, Any] | None = None) -> Any:
    """Return an untrained `SpeechToARKit` torch module for `config` (defaults: `DEFAULT_CONFIG`)."""
    torch = _torch()
    nn = torch.nn
    cfg = {**DEFAULT_CONFIG, **(config or {})}

    class SpeechToARKit(nn.Module):
        """Log-mel (B, n_mels, F) at 100 Hz -> (B, F/2, 53) logits at 50 Hz: 52 ARKit weights + closure."""

        def __init__(self, cfg: dict[str, Any]) -> None:
            super().__init__()
            self.config = dict(cfg)
            c, h = int(cfg["channels"]), int(cfg["hidden"])
            self.lookahead = int(cfg["lookahead"])
            self.conv1 = nn.Conv1d(int(cfg["n_mels"]), c, kernel_size=5)
            self.conv2 = nn.Conv1d(c, c, kernel_size=4, stride=2)
            self.conv3 = nn.Conv1d(c, c, kernel_size=3)
            self.norm = nn.LayerNorm(c)
            self.gru = nn.GRU(c, h, batch_first=True)
            self.head = nn.Linear(h, int(cfg["outputs"]))

        def forward(self, mel: Any) -> Any:
            # Pad so that output step m (time 2m in input frames) sees input frames up to 2m + lookahead
            # and nothing later: the stack spans span + 1 = 12 input frames, (k1-1) + (k2-1) + stride*(k3-1).
            span = 4 + 3 + 2 * 2
            x = torch.nn.functional.pad(mel, (span - self.lookahead, self.lookahead))
            x = torch.nn.functional.gelu(self.conv1(x))
            x = torch.nn.functional.gelu(self.conv2(x))
            x = torch.nn.functional.gelu(self.conv3(x)).transpose(1, 2)
            y, _ = self.gru(self.norm(x))
            return self.head(y)

        @torch.no_grad()
        def predict(self, audio: Audio, fps: float = 30.0, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
            """Return ((T, 52) float32 weights, (T,) bool closure mask) at `fps` for one clip."""
            feats = torch.from_numpy(log_mel(audio.samples, self.config))[None]
            out = self.forward(feats)[0].float().numpy()
            rate = int(self.config["sample_rate"]) / int(self.config["hop"]) / 2.0
            n = n_frames if n_frames is not None else int(np.ceil(audio.duration * fps))
            t = np.arange(n) / fps
            src = np.arange(len(out)) / rate
            logits = np.stack([np.interp(t, src, out[:, k]) for k in range(out.shape[1])], axis=1)
            w = 1.0 / (1.0 + np.exp(-logits[:, : len(ARKIT_NAMES)]))
            return w.astype(np.float32), logits[:, len(ARKIT_NAMES)] > 0.0

    return SpeechToARKit(cfg)


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Write `model`'s weights as safetensors with its config in the file's metadata."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(model.config), "names": ",".join(ARKIT_NAMES)})


def load_model(path: str | os.PathLike | None = None) -> Any:
    """Return the `SpeechToARKit` model from safetensors at `path` (default: the shipped weights), in eval mode."""
    p = Path(path or DEFAULT_WEIGHTS)
    if not p.is_file():
        hint = "train it with scripts/train_speech_model.py, or use method='phonetic'" if path is None else "check the path"
        raise AvatarInputError(f"speech model weights not found at {str(p)!r}: {hint}")
    return _load_cached(str(p.resolve()), p.stat().st_mtime)


@lru_cache(maxsize=2)
def _load_cached(path: str, mtime: float) -> Any:
    _torch()
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise AvatarInputError(f"{path!r} has no model config in its metadata: not a SpeechToARKit checkpoint")
    model = build_model(json.loads(meta["config"]))
    state = load_file(path)
    try:
        model.load_state_dict(state, strict=True)  # strict: a missing tensor is an error, never silently random
    except RuntimeError as exc:
        raise AvatarInputError(f"{path!r} does not match the SpeechToARKit architecture: {str(exc).splitlines()[0]}") from None
    return model.eval()
