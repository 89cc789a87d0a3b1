"""Returns the pieces recognizer-guided refinement is built from: column groups, the left/right tie, the lip penalty.

Plain torch functions over (B, 52) ARKit weights, kept apart from the optimisation loop in
`generators.refinement` so each can be tested on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avatar.rig import ARKIT_NAMES, NUM_ARKIT

GAZE_COLUMNS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n.startswith("eyeLook"))
"""Where the eyes look: gaze is the dynamics layer's job, never an emotion's, so refinement never moves it."""

MOUTH_COLUMNS: tuple[str, ...] = tuple(n for n in ARKIT_NAMES if n.startswith(("mouth", "jaw", "tongue")))
"""Jaw, lips and tongue: what speech drives. `refine_sequence` leaves these untouched."""

BLINK_COLUMNS: tuple[str, ...] = ("eyeBlinkLeft", "eyeBlinkRight")

UPPER_FACE_COLUMNS: tuple[str, ...] = tuple(
    n for n in ARKIT_NAMES if n not in MOUTH_COLUMNS and n not in GAZE_COLUMNS and n not in BLINK_COLUMNS
)
"""Brows, eye squint/wide, cheeks and nose: the columns `refine_sequence` adds its per-segment delta to.
Blinks stay the dynamics layer's (a delta there would hold the eyes half shut)."""


def column_mask(names: tuple[str, ...], dtype: torch.dtype = torch.float32, device: Any = "cpu") -> torch.Tensor:
    """Return a (52,) 0/1 tensor that is 1 on the named ARKit columns."""
    mask = torch.zeros(NUM_ARKIT, dtype=dtype, device=device)
    mask[[ARKIT_NAMES.index(n) for n in names]] = 1.0
    return mask


def mirror_index() -> np.ndarray:
    """Return (52,) int64: for every ARKit column, the index of its mirror column (itself when unpaired).

    mouthLeft/mouthRight and jawLeft/jawRight are sideways motions, not a Left/Right pair of one shape,
    but they mirror onto each other too, so a symmetric face has them equal (and cancelling).
    """
    out = np.arange(NUM_ARKIT)
    for i, name in enumerate(ARKIT_NAMES):
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(a) and name[: -len(a)] + b in ARKIT_NAMES:
                out[i] = ARKIT_NAMES.index(name[: -len(a)] + b)
    return out


def tie_matrix(symmetric: bool, free: torch.Tensor, dtype: torch.dtype = torch.float32, device: Any = "cpu") -> torch.Tensor:
    """Return (P, 52) 0/1 expansion from P free parameters to the 52 columns (w = p @ E).

    `free` is a (52,) bool mask of the columns refinement may move; with `symmetric` each Left/Right
    pair shares one parameter, so the result is exactly symmetric (not merely penalised toward it).
    """
    mirror = mirror_index()
    groups: list[list[int]] = []
    seen: set[int] = set()
    for i in range(NUM_ARKIT):
        if not bool(free[i]) or i in seen:
            continue
        j = int(mirror[i])
        group = [i, j] if symmetric and j != i and bool(free[j]) else [i]
        seen.update(group)
        groups.append(group)
    tie = torch.zeros(len(groups), NUM_ARKIT, dtype=dtype, device=device)
    for g, cols in enumerate(groups):
        tie[g, cols] = 1.0
    return tie


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
