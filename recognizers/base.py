"""The recognizers' shared types: the `Recognition` result, input checking, and the base class.

Every recognizer accepts the two frame forms of DESIGN.md and nothing else:

- numpy uint8 `(B, H, W, 3)` or `(H, W, 3)` RGB (a list of same-sized ones, or a PIL RGB image, too);
- torch float `(B, 3, H, W)` or `(3, H, W)` RGB in [0, 1], on any device (it stays there).

Anything else raises an `AvatarInputError` whose one-line message quotes the shape or dtype it
got and says how to fix it: grayscale, RGBA, wrong dtype, channels in the wrong place, an empty
batch, or an image under `MIN_SIDE` pixels on a side.

Missing classes: a model trained without some of the 8 emotions (FER2013 has no contempt) reports
NaN in those columns of `emotion_probs`, and `emotion_available` is False there; the available
columns are renormalised to sum to 1. A NaN cannot be mistaken for a measured 0, and `labels`
(NaN-aware argmax) never picks a class the model cannot see. Rows where no face was found are NaN
throughout, and their label is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.device import resolve_device
from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError, ShapeError

if TYPE_CHECKING:
    import torch

MIN_SIDE = 32
"""Smallest image side (pixels) a recognizer accepts; below it no face model sees anything useful."""


def is_torch(x: Any) -> bool:
    """Return True when `x` is a torch tensor (checked without importing torch)."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "device")


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in x.shape)


def nan_argmax(probs: Any) -> Any:
    """Return (B,) int64 argmax indices ignoring NaN columns, -1 for all-NaN rows; numpy or torch like `probs`."""
    if is_torch(probs):
        import torch

        finite = ~torch.isnan(probs)
        idx = torch.where(finite, probs, torch.full_like(probs, -torch.inf)).argmax(dim=-1)
        return torch.where(finite.any(dim=-1), idx, torch.full_like(idx, -1))
    p = np.asarray(probs, dtype=np.float64)
    finite = ~np.isnan(p)
    idx = np.where(finite, p, -np.inf).argmax(axis=-1)
    return np.where(finite.any(axis=-1), idx, -1).astype(np.int64)


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
            raise ShapeError(f"emotion_probs must be (B, {k}), got {_shape(self.emotion_probs)}")
        self.emotion_available = np.asarray(self.emotion_available, dtype=bool).reshape(-1)
        if self.emotion_available.shape != (k,):
            raise ShapeError(f"emotion_available must be ({k},) bool, got {self.emotion_available.shape}")
        if self.aus is not None and (self.au_names is None or len(self.au_names) != self.aus.shape[-1]):
            raise ShapeError(f"aus {_shape(self.aus)} need au_names with one name per column, got {self.au_names}")

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


# ---------------------------------------------------------------------------------------------
# Input checking
# ---------------------------------------------------------------------------------------------


def check_images(images: Any, min_side: int = MIN_SIDE) -> Any:
    """Return `images` as numpy uint8 (B, H, W, 3) or torch float (B, 3, H, W), after checking them.

    Single images gain a batch axis; lists of same-sized images and PIL RGB images are stacked.
    Torch tensors are not copied or moved. Raises `ShapeError` / `AvatarInputError` (one line each).
    """
    if isinstance(images, (list, tuple)):
        images = _stack_list(images)
    elif hasattr(images, "getbands") and hasattr(images, "size"):  # PIL.Image, without importing PIL
        images = np.asarray(images)
    if is_torch(images):
        return _check_torch(images, min_side)
    if isinstance(images, np.ndarray):
        return _check_numpy(images, min_side)
    raise AvatarInputError(
        f"images must be a uint8 numpy array (B, H, W, 3) or a float torch tensor (B, 3, H, W), got {type(images).__name__}"
    )


def _stack_list(items: Sequence[Any]) -> Any:
    if len(items) == 0:
        raise AvatarInputError("got an empty list of images: pass at least one image")
    arrs = [np.asarray(i) if hasattr(i, "getbands") else i for i in items]
    shapes = {_shape(a) if hasattr(a, "shape") else None for a in arrs}
    if None in shapes:
        raise AvatarInputError("a list of images must hold numpy arrays or torch tensors: convert each with np.asarray")
    if len(shapes) > 1:
        raise ShapeError(
            f"images in one list must share one shape, got {sorted(shapes)}: resize them first, or call the recognizer once per image"
        )
    if all(is_torch(a) for a in arrs):
        import torch

        return torch.stack(list(arrs))
    if any(is_torch(a) for a in arrs):
        raise AvatarInputError("a list of images mixes numpy arrays and torch tensors: pass one kind")
    return np.stack(arrs)


def _channel_error(shape: tuple[int, ...], channels: int, torch_layout: bool) -> AvatarInputError:
    if channels == 1:
        fix = "x.expand(-1, 3, -1, -1)" if torch_layout else "np.repeat(img[..., None], 3, axis=-1) (or PIL .convert('RGB'))"
        return ShapeError(f"got a grayscale image of shape {shape}: recognizers take RGB, convert with {fix}")
    if channels == 4:
        fix = "x[:, :3]" if torch_layout else "img[..., :3] (or PIL .convert('RGB'))"
        return ShapeError(f"got an RGBA image of shape {shape}: drop the alpha channel with {fix}")
    layout = "(B, 3, H, W)" if torch_layout else "(B, H, W, 3)"
    return ShapeError(
        f"images must have 3 colour channels laid out {layout}, got shape {shape}: "
        "a grayscale batch needs a channel axis repeated to 3"
    )


def _check_numpy(x: np.ndarray, min_side: int) -> np.ndarray:
    shape = _shape(x)
    if x.ndim == 2:
        raise _channel_error(shape, 1, torch_layout=False)
    if x.ndim == 3 and x.shape[-1] not in (1, 3, 4) and x.shape[0] not in (1, 3, 4):
        raise _channel_error(shape, 0, torch_layout=False)
    if x.ndim not in (3, 4):
        raise ShapeError(f"numpy images must be (H, W, 3) or (B, H, W, 3), got shape {shape}")
    if x.ndim == 3 and x.shape[0] == 3 and x.shape[-1] != 3:
        raise ShapeError(f"numpy images must be channels-last (H, W, 3), got {shape}: use img.transpose(1, 2, 0)")
    if x.ndim == 4 and x.shape[1] == 3 and x.shape[-1] != 3:
        raise ShapeError(f"numpy images must be channels-last (B, H, W, 3), got {shape}: use x.transpose(0, 2, 3, 1)")
    if x.shape[-1] != 3:
        raise _channel_error(shape, int(x.shape[-1]), torch_layout=False)
    if x.dtype != np.uint8:
        raise AvatarInputError(
            f"numpy images must be uint8 in 0..255, got dtype {x.dtype} with shape {shape}: "
            "use (img * 255).round().astype(np.uint8), or pass a float torch tensor (B, 3, H, W) in [0, 1]"
        )
    x = x[None] if x.ndim == 3 else x
    if x.shape[0] == 0:
        raise AvatarInputError(f"got an empty batch of shape {shape}: pass at least one image")
    _check_side(shape, int(x.shape[1]), int(x.shape[2]), min_side)
    return x


def _check_torch(x: torch.Tensor, min_side: int) -> torch.Tensor:
    shape = _shape(x)
    if x.ndim == 2:
        raise _channel_error(shape, 1, torch_layout=True)
    if x.ndim not in (3, 4):
        raise ShapeError(f"torch images must be (3, H, W) or (B, 3, H, W), got shape {shape}")
    c = int(x.shape[-3])
    if c != 3 and int(x.shape[-1]) == 3:
        perm = "x.permute(2, 0, 1)" if x.ndim == 3 else "x.permute(0, 3, 1, 2)"
        raise ShapeError(f"torch images must be channels-first (B, 3, H, W), got {shape}: use {perm}")
    if c != 3:
        raise _channel_error(shape, c, torch_layout=True)
    if not x.is_floating_point():
        raise AvatarInputError(
            f"torch images must be float in [0, 1], got dtype {str(x.dtype).replace('torch.', '')} with shape {shape}: use x.float() / 255"
        )
    x = x[None] if x.ndim == 3 else x
    if x.shape[0] == 0:
        raise AvatarInputError(f"got an empty batch of shape {shape}: pass at least one image")
    _check_side(shape, int(x.shape[2]), int(x.shape[3]), min_side)
    return x


def _check_side(shape: tuple[int, ...], h: int, w: int, min_side: int) -> None:
    if min(h, w) < min_side:
        raise ShapeError(
            f"image of {h}x{w} pixels (shape {shape}) is smaller than {min_side} px on a side: "
            f"pass face crops of at least {min_side}x{min_side} (upsample small images first)"
        )


def images_to_tensor(images: Any, device: Any = "auto", min_side: int = MIN_SIDE) -> torch.Tensor:
    """Return checked images as float32 (B, 3, H, W) in [0, 1] on `device` (torch input is not copied when it can be).

    Float tensors with values above 1 raise: 0..255 floats are the commonest mix-up, and clamping
    them would silently read every image as white. That check costs one scalar sync per batch.
    """
    import torch

    x = check_images(images, min_side)
    dev = resolve_device(device)
    if is_torch(x):
        x = x.to(device=dev, dtype=torch.float32)
        top = float(x.amax())
        if top > 1.0 + 1e-3:
            raise AvatarInputError(
                f"torch images must be in [0, 1], got values up to {top:g} in shape {_shape(x)}: divide by 255"
            )
        return x
    # One upload of the uint8 batch, then the float conversion on the device (4x less to copy).
    arr = np.ascontiguousarray(x)
    if not arr.flags.writeable:  # PIL / broadcast views: torch refuses to wrap read-only memory
        arr = arr.copy()
    t = torch.from_numpy(arr).to(dev)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def images_to_numpy(images: Any) -> np.ndarray:
    """Return checked images as uint8 (B, H, W, 3) numpy on the host (the detector's form)."""
    x = check_images(images)
    if is_torch(x):
        import torch

        x = (x.detach().clamp(0, 1) * 255).round().to(dtype=torch.uint8)
        return x.permute(0, 2, 3, 1).cpu().numpy()
    return x


class BaseRecognizer:
    """Return `Recognition`s from images: the shared input handling of every recognizer.

    Subclasses set `model_name`, `emotion_available` and implement `recognize(x)` for a checked
    float (B, 3, H, W) tensor on `self.device`. Calling the object checks and converts the input.
    """

    model_name: str = ""
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
