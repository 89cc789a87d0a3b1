"""The recognizers' shared types: the `Recognition` result and the base class.

Every recognizer accepts the two frame forms of docs/architecture.md and nothing else; `avatar.frames`
checks them (one-line errors quoting the shape or dtype it got) and uploads them once.

Missing classes: a model trained without some of the 8 emotions (FER2013 has no contempt) reports
NaN in those columns of `emotion_probs`, and `emotion_available` is False there; the available
columns are renormalised to sum to 1. A NaN cannot be mistaken for a measured 0, and `labels`
(NaN-aware argmax) never picks a class the model cannot see. Rows where no face was found are NaN
throughout, and their label is None.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.arrays import is_torch, nan_argmax, shape_of
from avatar.device import resolve_device
from avatar.emotion import EMOTIONS
from avatar.errors import ShapeError
from avatar.frames import MIN_SIDE, check_images, images_to_numpy, images_to_tensor

if TYPE_CHECKING:
    import torch

__all__ = ["MIN_SIDE", "BaseRecognizer", "Recognition", "check_images", "images_to_numpy", "images_to_tensor", "is_torch",
           "nan_argmax"]


@dataclass
class Recognition:
    """Per-image estimates from a recognizer; every array is batch-first (numpy, or torch on the device).

    Attributes:
        emotion_probs: (B, 8) float32 probabilities over `emotion_names` (EMOTIONS order); NaN in
            columns where `emotion_available` is False and in rows where no face was found; the
            available columns of a face row sum to 1.
        emotion_available: (8,) bool numpy, which classes the model can output at all.
        emotion_names: the 8 class names, `avatar.emotion.EMOTIONS`.
        aus: (B, n) float32 FACS AU intensities in [0, 1], or None when the model has none.
        au_names: the n AU names ("AU01", ...) matching `aus`' columns, or None.
        arkit: (B, 52) float32 ARKit blendshape weights, or None.
        valence, arousal: (B,) float32 in [-1, 1], or None.
        boxes: (B, 4) float32 face boxes (x0, y0, x1, y1) in input pixels; the whole image for
            detection-free input; NaN rows where no face was found. None if not known.
        face_found: (B,) bool, False where the detector found no face; None when nothing was detected.
        model: the name of the model that produced this.
    """

    emotion_probs: Any
    emotion_available: np.ndarray
    emotion_names: tuple[str, ...] = EMOTIONS
    aus: Any = None
    au_names: tuple[str, ...] | None = None
    arkit: Any = None
    valence: Any = None
    arousal: Any = None
    boxes: Any = None
    face_found: Any = None
    model: str = ""

    def __post_init__(self) -> None:
        k = len(self.emotion_names)
        if len(self.emotion_probs.shape) != 2 or self.emotion_probs.shape[1] != k:
            raise ShapeError(f"emotion_probs must be (B, {k}), got {shape_of(self.emotion_probs)}")
        self.emotion_available = np.asarray(self.emotion_available, dtype=bool).reshape(-1)
        if self.emotion_available.shape != (k,):
            raise ShapeError(f"emotion_available must be ({k},) bool, got {self.emotion_available.shape}")
        if self.aus is not None and (self.au_names is None or len(self.au_names) != self.aus.shape[-1]):
            raise ShapeError(f"aus {shape_of(self.aus)} need au_names with one name per column, got {self.au_names}")

    def __len__(self) -> int:
        return int(self.emotion_probs.shape[0])

    @property
    def label_indices(self) -> Any:
        """Return (B,) int64 indices into `emotion_names` of the most likely class, -1 where no face."""
        return nan_argmax(self.emotion_probs)

    @property
    def labels(self) -> list[str | None]:
        """Return the most likely emotion name per image (None where no face was found)."""
        idx = self.label_indices
        idx = idx.cpu().numpy() if is_torch(idx) else idx
        return [self.emotion_names[i] if i >= 0 else None for i in idx.tolist()]

    def take(self, index: Any) -> Recognition:
        """Return the Recognition of the images at `index` ((N,) ints into this batch; repeats allowed)."""
        batch_first = ("emotion_probs", "aus", "arkit", "valence", "arousal", "boxes", "face_found")
        changes = {}
        for name in batch_first:
            v = getattr(self, name)
            if v is not None:
                idx = np.asarray(index)
                if is_torch(v):
                    import torch

                    idx = torch.as_tensor(idx, device=v.device)
                changes[name] = v[idx]
        return replace(self, **changes)

    def to_numpy(self) -> Recognition:
        """Return a copy whose arrays are numpy (torch tensors are detached and moved to the host)."""
        changes = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if is_torch(v):
                changes[f.name] = v.detach().cpu().numpy()
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return plain lists and names (JSON-ready; NaN becomes None)."""
        rec = self.to_numpy()
        out: dict[str, Any] = {"model": rec.model, "emotion_names": list(rec.emotion_names), "labels": rec.labels}
        for f in fields(rec):
            v = getattr(rec, f.name)
            if isinstance(v, np.ndarray):
                out[f.name] = _nan_to_none(v.tolist())
        out["au_names"] = list(rec.au_names) if rec.au_names else None
        return out


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, list):
        return [_nan_to_none(x) for x in v]
    return None if isinstance(v, float) and v != v else v


class BaseRecognizer:
    """Return `Recognition`s from images: the shared input handling of every recognizer.

    Subclasses set `model_name`, `emotion_available` and implement `recognize(x)` for a checked
    float (B, 3, H, W) tensor on `self.device`. Calling the object checks and converts the input.
    """

    model_name: str = ""
    training_data: str = ""
    """What the model learned from, named in every report it grades (real faces vs our own renders)."""
    emotion_names: tuple[str, ...] = EMOTIONS
    min_side: int = MIN_SIDE

    def __init__(self, device: Any = "auto") -> None:
        self.device = resolve_device(device)

    def __call__(self, images: Any) -> Recognition:
        """Return the `Recognition` of a batch of images (see the module docstring for the forms)."""
        return self.recognize(self.prepare(images))

    def prepare(self, images: Any) -> torch.Tensor:
        """Return checked images as float32 (B, 3, H, W) in [0, 1] on this recognizer's device."""
        return images_to_tensor(images, self.device, self.min_side)

    def recognize(self, images: torch.Tensor) -> Recognition:
        """Return the `Recognition` of checked float (B, 3, H, W) images on the device."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model_name!r}, device={str(self.device)!r})"
