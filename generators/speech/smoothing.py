"""Gaussian smoothing along one axis in numpy: `scipy.ndimage.gaussian_filter1d` without importing scipy.ndimage.

The speech pipeline smooths a few short curves per clip; importing scipy.ndimage for that took 0.4-1.1 s of
`emoavatar animate`'s start on the 2-core machine, far more than the filtering. Same kernel (truncated at 4
sigma, normalised) and the same edge modes ("reflect", scipy's half-sample symmetric, and "nearest"), so the
results equal scipy's to rounding (tests/test_speech_numpy.py).
"""

from __future__ import annotations

import numpy as np

from avatar.errors import AvatarInputError

_PAD_MODES = {"reflect": "symmetric", "nearest": "edge"}


def gaussian_filter1d(values: np.ndarray, sigma: float, axis: int = -1, mode: str = "reflect",
                      truncate: float = 4.0) -> np.ndarray:
    """Return `values` smoothed by a Gaussian of standard deviation `sigma` samples along `axis` (same shape and dtype
    as float input; integer input comes back as float64)."""
    if mode not in _PAD_MODES:
        raise AvatarInputError(f"mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    x = np.asarray(values)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    radius = int(truncate * float(sigma) + 0.5)
    if radius == 0 or x.shape[axis] == 0:
        return x.copy()
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 / (float(sigma) ** 2) * k ** 2)
    kernel /= kernel.sum()
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    pad = [(0, 0)] * (moved.ndim - 1) + [(radius, radius)]
    if mode == "reflect" and radius > n:  # numpy pads symmetric once; scipy keeps reflecting a short signal
        idx = np.arange(-radius, n + radius)
        period = 2 * n
        idx = np.mod(idx, period)
        idx = np.where(idx >= n, period - 1 - idx, idx)
        padded = moved[..., idx].astype(np.float64)
    else:
        padded = np.pad(moved.astype(np.float64), pad, mode=_PAD_MODES[mode])
    out = np.zeros(moved.shape, np.float64)
    for j, w in enumerate(kernel):
        out += w * padded[..., j:j + n]
    return np.moveaxis(out, -1, axis).astype(x.dtype)
