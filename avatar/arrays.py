"""Returns facts about arrays without importing torch: which library holds them, NaN-aware argmax.

Numpy and torch tensors flow through the same functions (docs/architecture.md: numpy by default, torch on the
device for batched work); these helpers are the one place that tells them apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    """Return True when `x` is a torch tensor (checked without importing torch)."""
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "device")


def shape_of(x: Any) -> tuple[int, ...]:
    """Return the shape of a numpy array or torch tensor as a tuple of ints (for error messages)."""
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
