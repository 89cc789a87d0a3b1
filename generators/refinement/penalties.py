"""Returns the penalty terms of a refinement step: crossed lips and the critic hinge that stops pulling when confident.

Plain torch functions over (B, 52) ARKit weights and (B, 8) log-probabilities, kept apart from the loop
(`generators.refinement.loop`) so each can be tested on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def lip_tensors(lip_model: Any, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the lip model's (offset, per_shape) as tensors on `device` (default: the shipped head's `LipModel`)."""
    if lip_model is None:
        from generators.speech.visemes import default_lip_model

        lip_model = default_lip_model()
    return (torch.as_tensor(np.asarray(lip_model.offset), dtype=torch.float32, device=device),
            torch.as_tensor(np.asarray(lip_model.per_shape), dtype=torch.float32, device=device))


def lip_gap_heights(weights: torch.Tensor, offset: torch.Tensor, per_shape: torch.Tensor) -> torch.Tensor:
    """Return (B, P) vertical upper-minus-lower inner-lip gaps in cm for (B, 52) weights (negative: lips crossed).

    `offset` (P, 3) and `per_shape` (52, P, 3) are a `generators.speech.visemes.LipModel`'s arrays as
    tensors: blendshapes are linear, so the gap is affine in the weights and costs one matmul.
    """
    return offset[:, 1] + weights @ per_shape[..., 1]


def lip_crossing_penalty(weights: torch.Tensor, offset: torch.Tensor, per_shape: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Return (B,) squared depth (cm^2) by which the upper inner lip sinks below the lower one (0 when apart or touching)."""
    return torch.relu(margin - lip_gap_heights(weights, offset, per_shape)).pow(2).sum(-1)


def target_hinge(log_probs: torch.Tensor, target: int, confident: float) -> torch.Tensor:
    """Return (B,) -log p(target), floored at -log(confident): images already read with that confidence stop pulling.

    The floor is why a refined face is not pushed into a caricature of one network's taste: once a view
    reads clearly, only the regularisers act on it.
    """
    return (-log_probs[:, target]).clamp_min(-float(np.log(confident)))
