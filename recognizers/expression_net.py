"""ExpressionNet: our multi-task recognizer (8 emotions incl. contempt, 52 ARKit weights, valence/arousal).

Trained by `scripts/train_expression_net.py` on domain-randomised renders of the ICT head (see
recognizers/weights/README.md for the data recipe and held-out metrics). It is small (~0.4 M
parameters), runs batched on any device, and is differentiable end to end (the face crop is a
`grid_sample`), so it can also serve as a loss.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from avatar.arrays import is_torch
from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError, ShapeError
from avatar.facs import AU_LABELS
from avatar.facs_inverse import arkit_to_au_vector
from recognizers.base import BaseRecognizer, Recognition
from avatar.checkpoints import load_strict
from recognizers.faces import crop_faces

WEIGHTS_PATH = Path(__file__).parent / "weights" / "expression_net"
"""The shipped checkpoint folder (config.json + diffusion_pytorch_model.safetensors, metrics.json)."""

# Per-channel normalisation of the [0, 1] RGB input (renders and photos alike).
_MEAN = (0.5, 0.5, 0.5)
_STD = (0.25, 0.25, 0.25)


class _Block(nn.Module):
    """Residual block: depthwise 3x3 + pointwise, BatchNorm, SiLU; strided when `stride` > 1."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.dw2 = nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.pw2 = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(cout)
        self.skip = None if (cin == cout and stride == 1) else nn.Sequential(
            nn.AvgPool2d(stride) if stride > 1 else nn.Identity(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.bn2(self.pw(F.silu(self.bn1(self.dw(x))))))
        y = self.bn4(self.pw2(F.silu(self.bn3(self.dw2(y)))))
        return F.silu(y + (x if self.skip is None else self.skip(x)))


class ExpressionNet(ModelMixin, ConfigMixin):
    """Return emotion logits (B, 8), ARKit weights (B, 52) in [0, 1] and valence/arousal (B, 2) in [-1, 1].

    Input: float (B, 3, S, S) RGB in [0, 1], S = `input_size`, a face crop (see `crop_faces`).
    A diffusers model: `save_pretrained(folder)` writes config.json + diffusion_pytorch_model.safetensors,
    `ExpressionNet.from_pretrained(folder)` reads them back strictly (see `recognizers.checkpoints`).
    """

    @register_to_config
    def __init__(self, input_size: int = 96, widths: tuple[int, ...] = (32, 64, 96, 160), num_emotions: int = 8,
                 num_arkit: int = 52, dropout: float = 0.2) -> None:
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.SiLU())
        blocks, cin = [], widths[0]
        for w in widths:
            blocks += [_Block(cin, w, 2), _Block(w, w, 1)]
            cin = w
        self.blocks = nn.Sequential(*blocks)
        # Not `self.dropout`: diffusers resolves a name that is also a config key to the config value.
        self.drop = nn.Dropout(dropout)
        self.emotion_head = nn.Linear(cin, num_emotions)
        self.arkit_head = nn.Linear(cin, num_arkit)
        self.va_head = nn.Linear(cin, 2)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ShapeError(f"ExpressionNet expects (B, 3, H, W) images, got {tuple(x.shape)}")
        h = self.blocks(self.stem((x - self.mean) / self.std))
        h = self.drop(h.mean(dim=(2, 3)))
        return self.emotion_head(h), torch.sigmoid(self.arkit_head(h)), torch.tanh(self.va_head(h))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> ExpressionNet:
        """Return the model in a checkpoint folder (or a Hub id when online), in eval mode; strict: any missing tensor raises."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)


class ExpressionNetRecognizer(BaseRecognizer):
    """Recognizes emotion (8), ARKit weights and valence/arousal with the render-trained ExpressionNet.

    Pass `boxes` (B, 4) when the face position is known (our renders); otherwise, with
    `detect_faces=True`, the OpenCV face detector finds it; with neither, the whole image is the face.
    """

    model_name = "expression-net"
    training_data = ("our own renders of the ICT head (FACS prototypes, 70 identities): it measures consistency with "
                     "our prototypes, not whether a person would read the emotion")

    def __init__(self, model: ExpressionNet, device: Any = "auto", detect_faces: bool = False, box_scale: float = 1.0) -> None:
        super().__init__(device)
        self.model = model.to(self.device).eval()
        self.detect_faces = detect_faces
        self.box_scale = box_scale
        self.emotion_available = np.ones(len(EMOTIONS), bool)

    @classmethod
    def from_default(cls, device: Any = "auto", **kwargs: Any) -> ExpressionNetRecognizer:
        """Return the recognizer with the shipped weights (the folder recognizers/weights/expression_net/)."""
        if not (WEIGHTS_PATH / "config.json").is_file():
            raise FileNotFoundError(f"ExpressionNet weights not found at {WEIGHTS_PATH}")
        return cls(ExpressionNet.from_pretrained(WEIGHTS_PATH), device=device, **kwargs)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: Any = "auto", **kwargs: Any) -> ExpressionNetRecognizer:
        """Return the recognizer with the `ExpressionNet` checkpoint folder at `path` (written by save_pretrained)."""
        return cls(ExpressionNet.from_pretrained(path), device=device, **kwargs)

    def __call__(self, images: Any, boxes: Any = None) -> Recognition:
        """Return the Recognition of a batch; `boxes` (B, 4) pixel face boxes when known."""
        if boxes is None and self.detect_faces:
            boxes = self._detect(images)
        return self.recognize(self.prepare(images), boxes)

    @staticmethod
    def _detect(images: Any) -> np.ndarray:
        """Return (B, 4) float32 face boxes (NaN rows: no face) of the caller's images.

        The detector runs on the host: a numpy batch goes to it as it is, and only a torch batch
        is downloaded, so numpy input is never uploaded and fetched back just to find faces.
        """
        from recognizers.base import images_to_numpy
        from recognizers.faces import detect_boxes

        return np.asarray(detect_boxes(images_to_numpy(images)), dtype=np.float32)

    def _boxes(self, x: torch.Tensor, boxes: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return ((B, 4) boxes with missing faces replaced by the whole image, (B,) bool face found)."""
        b, _, h, w = x.shape
        whole = np.array([0.0, 0.0, w, h], np.float32)
        if boxes is None:
            return np.tile(whole, (b, 1)), np.ones(b, bool)
        arr = np.asarray(boxes.detach().cpu() if is_torch(boxes) else boxes, np.float32)
        if arr.shape != (b, 4):
            raise ShapeError(f"boxes must have shape ({b}, 4), got {tuple(arr.shape)}")
        found = np.isfinite(arr).all(1)
        return np.where(found[:, None], arr, whole), found

    def forward_crops(self, x: torch.Tensor, boxes: Any = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the raw (logits, arkit, va) for float (B, 3, H, W) images, keeping the graph (for losses)."""
        box, _ = self._boxes(x, boxes)
        # The shared detector-style crop: a square of max(w, h) * box_scale around the box centre.
        crops = crop_faces(x, box, self.model.input_size, margin=(self.box_scale - 1.0) / 2)
        return self.model(crops)

    @torch.no_grad()
    def recognize(self, x: torch.Tensor, boxes: Any = None) -> Recognition:
        """Return the Recognition of checked float images on the device (tensors stay there)."""
        logits, arkit, va = self.forward_crops(x, boxes)
        probs = torch.softmax(logits.float(), dim=-1)
        box, found = self._boxes(x, boxes)
        # The AU decode (avatar.facs_inverse) is numpy: one (B, 52) download and (B, n_AU) upload per batch.
        aus = torch.from_numpy(arkit_to_au_vector(arkit.float().cpu().numpy())).to(x.device)
        found_t = torch.from_numpy(found).to(x.device)
        # Recognition's convention: every per-face estimate is NaN in rows where no face was found.
        probs, arkit, aus, va = (torch.where(found_t[:, None], t, torch.full_like(t, float("nan"))) for t in (probs, arkit, aus, va))
        box[~found] = np.nan
        box_out = torch.from_numpy(box).to(x.device)
        return Recognition(
            emotion_probs=probs, emotion_available=self.emotion_available.copy(), emotion_names=EMOTIONS,
            aus=aus, au_names=AU_LABELS, arkit=arkit, valence=va[:, 0], arousal=va[:, 1], boxes=box_out,
            model=self.model_name, face_found=None if boxes is None else found_t,
        )


def default_expression_net(device: Any = "auto") -> ExpressionNetRecognizer:
    """Return the shipped ExpressionNet recognizer, or raise AvatarInputError if its weights are absent."""
    try:
        return ExpressionNetRecognizer.from_default(device)
    except FileNotFoundError as e:
        raise AvatarInputError(f"{e}: reinstall emoavatar or train one with scripts/train_expression_net.py") from None
