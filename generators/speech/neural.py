"""A small streaming audio -> ARKit model: log-mel frames in, 52 mouth/jaw weights + a lip-closure logit out.

Architecture (`SpeechToARKit`): log-mel (n_mels x 100 Hz) -> conv front end that halves the rate to 50 Hz
with a fixed, short look-ahead (`lookahead` feature frames: visible articulation leads the sound, so a
few tens of ms of future audio help) -> unidirectional GRU (streams frame by frame) -> linear head:
52 sigmoid weights and one bilabial-closure logit, which `talking.animate` turns into the same hard
lip closure as the phonetic path. Trained by `scripts/train_speech_model.py` on espeak-ng speech
labelled by the phonetic path; see `generators/speech/weights/README.md` for the recipe and metrics.

`SpeechToARKit` is a diffusers `ModelMixin` + `ConfigMixin`: the shipped checkpoint is the folder
`generators/speech/weights/speech_to_arkit/` (config.json + diffusion_pytorch_model.safetensors, and
metrics.json), and `SpeechToARKit.from_pretrained(folder)` loads yours, strictly. This module imports
torch and diffusers; `talking.animate` runs a checkpoint folder through `net_numpy.SpeechModelNumpy` (the same
network in numpy, no torch import) and uses this module only for a model object passed in; streaming,
training and GPUs use it. The log-mel features live in `net_numpy`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.nn import functional as F

from avatar.checkpoints import load_strict
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES
from generators.speech.audio import SAMPLE_RATE, Audio
from generators.speech.net_numpy import _filterbank, frame_logits, frames_from_logits, log_mel, mel_filterbank, resample  # noqa: F401 (re-exported)
from generators.speech.shipped import DEFAULT_WEIGHTS, weights_available


CHECKPOINT_HINT = "pass a folder written by SpeechToARKit.save_pretrained (config.json + diffusion_pytorch_model.safetensors)"


class SpeechToARKit(ModelMixin, ConfigMixin):
    """Return (B, F/2, len(blendshape_names) + 1) logits at 50 Hz from log-mel (B, n_mels, F) at 100 Hz.

    The first columns are the named blendshape weights (before the sigmoid), the last one the
    bilabial-closure logit. The config carries the feature settings (`sample_rate`, `n_fft`, `hop`,
    `n_mels`, `fmin`, `fmax`), so a checkpoint says which audio it expects, and the output column
    names (`blendshape_names`, the ARKit 52 by default).
    """

    @register_to_config
    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 400,
        hop: int = 160,
        n_mels: int = 40,
        fmin: float = 60.0,
        fmax: float = 7600.0,
        channels: int = 128,
        hidden: int = 128,
        lookahead: int = 6,
        outputs: int = len(ARKIT_NAMES) + 1,
        blendshape_names: tuple[str, ...] = ARKIT_NAMES,
    ) -> None:
        super().__init__()
        if outputs != len(blendshape_names) + 1:
            raise AvatarInputError(
                f"outputs must be len(blendshape_names) + 1 = {len(blendshape_names) + 1} (weights + closure), got {outputs}"
            )
        if not 0 <= lookahead <= self.span:
            raise AvatarInputError(f"lookahead must be between 0 and {self.span} feature frames, got {lookahead}")
        self.conv1 = nn.Conv1d(n_mels, channels, kernel_size=5)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=4, stride=2)
        self.conv3 = nn.Conv1d(channels, channels, kernel_size=3)
        self.norm = nn.LayerNorm(channels)
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    # Input frames the conv stack spans beyond the current one: (k1-1) + (k2-1) + stride*(k3-1).
    span = 4 + 3 + 2 * 2

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # Pad so that output step m (time 2m in input frames) sees input frames up to 2m + lookahead
        # and nothing later.
        lookahead = int(self.config.lookahead)
        x = F.pad(mel, (self.span - lookahead, lookahead))
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x))
        x = F.gelu(self.conv3(x)).transpose(1, 2)
        y, _ = self.gru(self.norm(x))
        return self.head(y)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> SpeechToARKit:
        """Return the model in a checkpoint folder (or a Hub id when online), in eval mode.

        A local folder is read with `local_files_only=True` (never a Hub request); loading is strict:
        a missing, unexpected or mis-shaped tensor raises FileFormatError naming it.
        """
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)

    def predict(self, audio: Audio, fps: float = 30.0, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ((T, n) float32 blendshape weights, (T,) bool closure mask) at `fps` for one clip.

        The clip is resampled to the model's `sample_rate` when its own rate differs (features,
        and so the model, are only meaningful at the rate it was trained at).
        """
        w, closure = self.predict_logits(audio, fps, n_frames)
        return w, closure > 0.0

    @torch.no_grad()
    def predict_logits(self, audio: Audio, fps: float = 30.0, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ((T, n) float32 blendshape weights, (T,) float32 closure logit) at `fps` for one clip (as `predict`)."""
        cfg = self.config
        samples = resample(audio.samples, audio.sample_rate, int(cfg.sample_rate))
        feats = torch.from_numpy(log_mel(samples, cfg))[None].to(self.device)
        out = self.forward(feats)[0].float().cpu().numpy()
        rate = int(cfg.sample_rate) / int(cfg.hop) / 2.0
        return frame_logits(out, rate, audio.duration, fps, n_frames, len(cfg.blendshape_names))


def load_model(path: str | os.PathLike | None = None) -> SpeechToARKit:
    """Return the `SpeechToARKit` in the checkpoint folder `path` (default: the shipped one), cached per folder version."""
    p = Path(path or DEFAULT_WEIGHTS)
    if not weights_available(p):
        hint = "train it with scripts/train_speech_model.py, or use method='phonetic'" if path is None else CHECKPOINT_HINT
        raise AvatarInputError(f"speech model checkpoint not found at {str(p)!r}: {hint}")
    stamp = max(f.stat().st_mtime for f in p.iterdir() if f.is_file())
    return _load_cached(str(p.resolve()), stamp)


@lru_cache(maxsize=2)
def _load_cached(path: str, mtime: float) -> SpeechToARKit:
    return SpeechToARKit.from_pretrained(path)
