"""Returns which ARKit columns refinement may move and how they are tied: column groups, masks, the Left/Right tie.

Plain functions over the 52 ARKit columns, shared by both parametrisations (`generators.refinement.space`)
and by sequence refinement (`generators.refinement.sequence`).
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
