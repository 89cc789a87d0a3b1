"""Returns checked frames in the two forms of docs/architecture.md ("One place for each rule"), and converts between them.

- numpy uint8 `(B, H, W, 3)` or `(H, W, 3)` RGB (a list of same-sized ones, or a PIL RGB image, too);
- torch float `(B, 3, H, W)` or `(3, H, W)` RGB in [0, 1], on any device (it stays there).

Anything else raises an `AvatarInputError` whose one-line message quotes the shape or dtype it
got and says how to fix it: grayscale, RGBA, wrong dtype, channels in the wrong place, an empty
batch, or an image under `MIN_SIDE` pixels on a side. Renderers upload with `images_to_tensor`,
recognizers check and convert with the same functions, so the rule lives here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.arrays import is_torch, shape_of
from avatar.device import resolve_device
from avatar.errors import AvatarInputError, ShapeError

if TYPE_CHECKING:
    import torch

MIN_SIDE = 32
"""Smallest image side (pixels) a recognizer accepts; below it no face model sees anything useful."""




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
    shapes = {shape_of(a) if hasattr(a, "shape") else None for a in arrs}
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
    shape = shape_of(x)
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
    shape = shape_of(x)
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


def distinct_frames(images: Any, boxes: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (first, inverse): the index of each distinct frame's first occurrence, and per frame which one it is.

    Frames are the same when their pixels (and their face box, where boxes are given) are equal byte for byte, so
    `images[first][inverse]` is `images`. Only a numpy batch is compared; any other input is taken as all distinct.
    """
    n = len(images)
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        return np.arange(n), np.arange(n)
    import hashlib

    b = None if boxes is None else np.asarray(boxes)
    seen: dict[bytes, list[int]] = {}  # digest -> the distinct frames with it (a collision stays two frames)
    first: list[int] = []
    inverse = np.empty(n, np.int64)
    for i in range(n):
        h = hashlib.blake2b(np.ascontiguousarray(images[i]).data, digest_size=16)
        if b is not None:
            h.update(np.ascontiguousarray(b[i]).data)
        same = seen.setdefault(h.digest(), [])
        j = next((k for k in same if np.array_equal(images[first[k]], images[i])
                  and (b is None or np.array_equal(b[first[k]], b[i], equal_nan=True))), None)
        if j is None:
            j = len(first)
            first.append(i)
            same.append(j)
        inverse[i] = j
    return np.asarray(first, np.int64), inverse


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
                f"torch images must be in [0, 1], got values up to {top:g} in shape {shape_of(x)}: divide by 255"
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


class RenderedFrames(np.ndarray):
    """Rendered frames: a plain uint8 numpy array that also carries what the renderer knew about them.

    The array is (T, H, W, 3) for a batch, or (H, W, 3) for the one image `avatar.render(weights)` makes
    ((..., 4) with a transparent background). Either way it is "some frames": `avatar.score` reads an
    (H, W, 3) image as a batch of one. Attributes:

    - `face_boxes` (T, 4) float32 pixel boxes (x0, y0, x1, y1) of the faces, (1, 4) for one image, from the
      poses the frames were made from (so scoring a render needs no face detector);
    - `labels` the sequence's per-frame labels, or None (so scoring a labelled sequence needs no `expected=`).

    Indexing the first axis of a batch keeps both aligned; arithmetic and crops return plain arrays, since
    their boxes no longer apply. `np.asarray(frames)` is the bare array.
    """

    face_boxes: np.ndarray | None
    labels: list[str] | None

    def __array_finalize__(self, obj: Any) -> None:
        self.face_boxes = getattr(obj, "face_boxes", None)
        self.labels = getattr(obj, "labels", None)

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        # The result of arithmetic (frames / 255, frames.mean(0)) is no longer rendered frames.
        out = np.asarray(array).view(np.ndarray)
        return out[()] if return_scalar else out

    def __getitem__(self, idx: Any) -> Any:
        out = super().__getitem__(idx)
        if isinstance(out, RenderedFrames):
            first = idx[0] if isinstance(idx, tuple) and idx else idx
            whole_frames = not (isinstance(idx, tuple) and len(idx) > 1)
            if self.ndim == 4 and out.ndim == 4 and whole_frames:  # a sub-batch keeps its boxes and labels
                out.face_boxes = self.face_boxes[first] if self.face_boxes is not None else None
                out.labels = list(np.asarray(self.labels, dtype=object)[first]) if self.labels is not None else None
            elif self.ndim == 4 and out.ndim == 3 and whole_frames and isinstance(first, (int, np.integer)):
                # One frame of a batch is one image with its own box.
                out.face_boxes = self.face_boxes[[int(first)]] if self.face_boxes is not None else None
                out.labels = [self.labels[int(first)]] if self.labels is not None else None
            else:  # a crop, a channel, a row: the boxes no longer apply
                return out.view(np.ndarray)
        return out

    @property
    def is_single(self) -> bool:
        """Return True for one image (H, W, C), False for a batch (T, H, W, C)."""
        return self.ndim == 3

    def as_batch(self) -> RenderedFrames:
        """Return the frames as a batch (T, H, W, C): one image gains a leading axis, keeping its box and label."""
        if self.ndim == 4:
            return self
        out = self[None].view(RenderedFrames)
        out.face_boxes, out.labels = self.face_boxes, self.labels
        return out

    def _summary(self) -> str:
        if self.ndim not in (3, 4) or self.shape[-1] not in (3, 4):
            return f"shape {self.shape}, {self.dtype}"
        h, w, c = self.shape[-3:]
        kind = f"{w}x{h} {'RGBA' if c == 4 else 'RGB'} {self.dtype}"
        what = f"one {kind} image" if self.ndim == 3 else f"{self.shape[0]} frame{'s' * (self.shape[0] != 1)} of {kind}"
        extra = []
        if self.face_boxes is not None:
            extra.append("face box" if len(self.face_boxes) == 1 else "face boxes")
        if self.labels is not None:
            counts: dict[str, int] = {}
            for lab in self.labels:
                counts[lab] = counts.get(lab, 0) + 1
            shown = ", ".join(f"{k} x{v}" for k, v in list(counts.items())[:4]) + (", ..." if len(counts) > 4 else "")
            extra.append(f"labels {shown}")
        return what + (f", with {' and '.join(extra)}" if extra else "")

    def __repr__(self) -> str:
        return f"RenderedFrames({self._summary()})"

    def __str__(self) -> str:
        return self.__repr__()


def rendered_frames(images: np.ndarray, face_boxes: np.ndarray | None = None, labels: list[str] | None = None) -> RenderedFrames:
    """Return `images` ((T, H, W, C) or one (H, W, C)) as `RenderedFrames` carrying `face_boxes` and `labels`."""
    out = np.asarray(images).view(RenderedFrames)
    out.face_boxes = None if face_boxes is None else np.asarray(face_boxes, np.float32).reshape(-1, 4)
    out.labels = None if labels is None else [str(x) for x in labels]
    return out
