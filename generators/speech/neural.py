"""A small streaming audio -> ARKit model: log-mel frames in, 52 mouth/jaw weights + a lip-closure logit out.

Architecture (`SpeechToARKit`): log-mel (n_mels x 100 Hz) -> conv front end that halves the rate to 50 Hz
with a fixed, short look-ahead (`lookahead` feature frames: visible articulation leads the sound, so a
few tens of ms of future audio help) -> unidirectional GRU (streams frame by frame) -> linear head:
52 sigmoid weights and one bilabial-closure logit, which `talking.animate` turns into the same hard
lip closure as the phonetic path. Trained by `scripts/train_speech_model.py` on synthetic speech
labelled by the phonetic path, then fine-tuned on a real talker's tracked lips (GRID s1,
`scripts/finetune_speech_real.py`); see `generators/speech/weights/README.md` for the recipe and metrics.

`SpeechToARKit` is a diffusers `ModelMixin` + `ConfigMixin`: the shipped checkpoint is the folder
`generators/speech/weights/speech_to_arkit/` (config.json + diffusion_pytorch_model.safetensors, and
metrics.json), and `SpeechToARKit.from_pretrained(folder)` loads yours, strictly. This module imports
torch and diffusers and defines the network for training; every inference path (`talking.animate`, streaming,
`SpeechToARKit.predict`) runs `net_numpy.SpeechModelNumpy`, the same layers in numpy, without importing torch.
The log-mel features live in `net_numpy`.
"""

from __future__ import annotations

import os
from functools import lru_cache
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
from generators.speech.net_numpy import SPAN, SpeechModelNumpy, checkpoint_folder
from generators.speech.net_numpy import _filterbank, frame_logits, frames_from_logits, log_mel, mel_filterbank, resample  # noqa: F401 (re-exported)


class SpeechToARKit(ModelMixin, ConfigMixin):
    """Return (B, F/2, len(blendshape_names) + 1) logits at 50 Hz from log-mel (B, n_mels, F) at 100 Hz.

    The first columns are the named blendshape weights (before the sigmoid), the last one the
    bilabial-closure logit. The config carries the feature settings (`sample_rate`, `n_fft`, `hop`,
    `n_mels`, `fmin`, `fmax`), so a checkpoint says which audio it expects, and the output column
    names (`blendshape_names`, the ARKit 52 by default). `anticipation_s` is how long before a voice onset the
    model's mouth is let through the voice-activity gate (`talking.speech_gate`): a model fine-tuned on real
    talkers with it learned when people part their lips before they speak; 0 (a model trained on synthetic
    labels, which are shut before the voice) gates at the onset. `opening_gain` scales the lip-opening weights
    (`net_numpy.OPENING_SHAPES`) after the sigmoid, on every path: the model's amplitude calibrated on talkers it
    never trained on (`scripts/calibrate_opening.py`); 1 leaves the outputs as trained.
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
        anticipation_s: float = 0.0,
        opening_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if outputs != len(blendshape_names) + 1:
            raise AvatarInputError(
                f"outputs must be len(blendshape_names) + 1 = {len(blendshape_names) + 1} (weights + closure), got {outputs}"
            )
        if not 0.0 <= float(anticipation_s) <= 1.0:
            raise AvatarInputError(f"anticipation_s must be between 0 and 1 s, got {anticipation_s}")
        if not 0.25 <= float(opening_gain) <= 4.0:
            raise AvatarInputError(f"opening_gain must be between 0.25 and 4, got {opening_gain}")
        if not 0 <= lookahead <= self.span:
            raise AvatarInputError(f"lookahead must be between 0 and {self.span} feature frames, got {lookahead}")
        self.conv1 = nn.Conv1d(n_mels, channels, kernel_size=5)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=4, stride=2)
        self.conv3 = nn.Conv1d(channels, channels, kernel_size=3)
        self.norm = nn.LayerNorm(channels)
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    span = SPAN  # input frames the conv stack spans beyond the current one

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        # The training definition (autograd, cuDNN's GRU); inference runs `net_numpy.SpeechModelNumpy`, the same
        # layers, which tests/test_speech_numpy.py holds equal to this. Pad so that output step m (time 2m in input frames) sees input frames up to 2m + lookahead
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

        Runs the model's current weights through the numpy inference definition (`SpeechModelNumpy.predict`):
        the clip is resampled to the model's `sample_rate` when its own rate differs.
        """
        return SpeechModelNumpy.from_module(self).predict(audio, fps, n_frames)

    def predict_logits(self, audio: Audio, fps: float = 30.0, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ((T, n) float32 blendshape weights, (T,) float32 closure logit) at `fps` for one clip (as `predict`)."""
        return SpeechModelNumpy.from_module(self).predict_logits(audio, fps, n_frames)


def load_model(path: str | os.PathLike | None = None) -> SpeechToARKit:
    """Return the `SpeechToARKit` in the checkpoint folder `path` (default: the shipped one), cached per folder version."""
    return _load_cached(*checkpoint_folder(path))


@lru_cache(maxsize=2)
def _load_cached(path: str, mtime: float) -> SpeechToARKit:
    return SpeechToARKit.from_pretrained(path)
