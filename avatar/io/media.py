"""Returns frames read from image files, folders and videos, for scoring; one-line errors for bad input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.errors import AvatarInputError, FileFormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif")


@dataclass(frozen=True)
class MediaFrame:
    """One RGB frame: where it came from (file, frame index) and the (H, W, 3) uint8 pixels."""

    source: str
    index: int
    image: np.ndarray


def expand_paths(paths: list[str | os.PathLike]) -> list[Path]:
    """Return the image and video files named by `paths` (folders are searched recursively, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
            if not found:
                raise AvatarInputError(f"folder {str(p)!r} holds no images or videos ({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise AvatarInputError(f"input {str(p)!r} not found: give image files, folders or videos")
    if not out:
        raise AvatarInputError("no inputs given: pass image files, folders or videos")
    return out


def _to_rgb(img: np.ndarray, source: str) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)  # grayscale photos are common; read them as RGB
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise FileFormatError(f"{source!r} has an unsupported pixel layout {a.shape}: use RGB images")
    if a.dtype != np.uint8:
        a = np.clip(a / (a.max() or 1) * 255, 0, 255).astype(np.uint8) if a.dtype.kind == "f" else (a >> 8).astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


def iter_frames(paths: list[str | os.PathLike], every: int = 1) -> Iterator[MediaFrame]:
    """Yield every `every`-th frame of each input as RGB uint8, in order; raise one-line errors on bad files."""
    for path in expand_paths(paths):
        src = str(path)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            import imageio.v3 as iio

            n = 0
            try:
                for i, frame in enumerate(iio.imiter(path)):
                    if i % every == 0:
                        n += 1
                        yield MediaFrame(src, i, _to_rgb(frame, src))
            except (OSError, ValueError, RuntimeError) as e:
                raise FileFormatError(f"cannot read video {src!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
            if n == 0:
                raise FileFormatError(f"video {src!r} has no frames: check the file")
            continue
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im = im.convert("RGB") if im.mode not in ("RGB", "L", "RGBA") else im
                arr = np.asarray(im)
        except (UnidentifiedImageError, OSError):
            raise FileFormatError(f"{src!r} is not a readable image or video: give PNG/JPEG images or MP4/GIF videos") from None
        yield MediaFrame(src, 0, _to_rgb(arr, src))
