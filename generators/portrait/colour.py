"""Returns colour-cast measures of face portraits: the background's chroma and the face's hue, with the bounds renders keep.

A whole-image colour cast (the 64 px epsilon model's purple, green or teal seeds) tints the background and the
skin together. Two numbers per image catch it, both independent of the image's size:

- `background_chroma`: the mean HSV chroma (max - min of R, G, B, in [0, 1]) of the left and right edge strips
  (`EDGE` of the width each), where a 1.0x face-box crop shows the backdrop. Training backdrops are muted greys
  (each channel within +-0.08 of a common level, chroma at most 0.16), but the edges of renders also hold hair
  (red and blond styles are chromatic), ears and the top's collar: over the 3,200 training renders of the default
  look (128 px) the measure has mean 0.110, 99th percentile 0.320, maximum 0.463. `CHROMA_BOUND` is that 99th
  percentile: a portrait's edges are no more colourful than 99% of what the model was trained on.
- `face_hue`: the hue in degrees (hexagonal HSV hue, 0 = red, 60 = yellow, 120 = green, -120 = blue, -60 =
  magenta) of the mean colour of the face's centre (cheeks, nose, mouth). Every skin tone under our lights is
  red-orange: 5.6 to 42.3 degrees over the training renders; `HUE_RANGE` is that, widened to (0, 50).

The 64 px epsilon model's tinted seeds fail one or both (seeds 3, 4, 11: edges 0.38-0.49 and a green or teal face;
seeds 2, 5: a magenta face at -12 to -27 degrees).
"""

from __future__ import annotations

from typing import Any

import numpy as np

EDGE = 0.125
"""Fraction of the width read on each side as background."""
CENTRE = (0.35, 0.75, 0.25, 0.75)
"""The face centre (y0, y1, x0, x1) as fractions of a 1.0x face-box crop: below the eyes to the chin, cheek to cheek."""
CHROMA_BOUND = 0.32
"""A portrait's background chroma at or below this is within what training renders show (their 99th percentile)."""
HUE_RANGE = (0.0, 50.0)
"""Face hues (degrees) of training renders (5.6 to 42.3) lie in this range."""


def as_float_images(images: Any) -> np.ndarray:
    """Return (B, H, W, 3) float64 in [0, 1] from float (B, 3, H, W) torch/numpy in [0, 1] or uint8 (B, H, W, 3) / (H, W, 3)."""
    x = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (B, H, W, 3) or (B, 3, H, W), got shape {x.shape}")
    if x.shape[1] == 3 and x.shape[-1] != 3:
        x = x.transpose(0, 2, 3, 1)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def background_chroma(images: Any) -> np.ndarray:
    """Return (B,) mean HSV chroma (max - min over R, G, B) of each image's left and right edge strips."""
    x = as_float_images(images)
    k = max(1, int(round(x.shape[2] * EDGE)))
    edges = np.concatenate([x[:, :, :k], x[:, :, -k:]], axis=2)
    return (edges.max(-1) - edges.min(-1)).mean(axis=(1, 2))


def face_hue(images: Any) -> np.ndarray:
    """Return (B,) hue in degrees, wrapped to (-180, 180], of the mean colour of each image's face centre."""
    x = as_float_images(images)
    h, w = x.shape[1:3]
    y0, y1, x0, x1 = CENTRE
    rgb = x[:, int(h * y0):int(h * y1), int(w * x0):int(w * x1)].mean(axis=(1, 2))
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    return np.degrees(np.arctan2(np.sqrt(3.0) * (g - b), 2 * r - g - b))  # the hexagonal hue as an angle, in (-180, 180]


def colour_casts(images: Any, chroma_bound: float = CHROMA_BOUND, hue_range: tuple[float, float] = HUE_RANGE) -> np.ndarray:
    """Return (B,) bool: True where an image has a whole-image colour cast (background too chromatic, or the face's hue off skin)."""
    hue = face_hue(images)
    return (background_chroma(images) > chroma_bound) | (hue < hue_range[0]) | (hue > hue_range[1])
