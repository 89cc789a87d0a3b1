"""BlendshapeModule: a thin torch nn.Module around `avatar.head.blend` (kornia-style), for batched GPU posing."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from avatar.blend import blend
from avatar.errors import ShapeError


class BlendshapeModule(nn.Module):
    """Returns posed vertices (B, V, 3) for ARKit weights (B, 52); the head's arrays are buffers, so `.to(device)` moves them.

    Differentiable in the weights (and in `neutral`/`deltas` if made parameters), for fitting and losses.
    """

    def __init__(self, head: Any) -> None:
        """Hold `head`'s (an `avatar.head.BlendshapeHead`) neutral, deltas and faces as buffers."""
        super().__init__()
        self.register_buffer("neutral", torch.from_numpy(head.neutral.copy()))
        self.register_buffer("deltas", torch.from_numpy(head.deltas.copy()))
        self.register_buffer("faces", torch.from_numpy(head.faces.astype("int64")))

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape[-1] != self.deltas.shape[0]:
            raise ShapeError(f"weights must have {self.deltas.shape[0]} columns, got shape {tuple(weights.shape)}")
        return blend(self.neutral, self.deltas, weights.to(self.neutral.dtype))
