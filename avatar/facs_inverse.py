"""Returns FACS action units recovered from ARKit weights: the inverse of `avatar.facs.AU_TO_ARKIT`.

Split from `avatar.facs` (which re-exports these names). Method: an exact, closed-form bounded
least-squares fit of the AUs whose rows share no shapes, then the composite AUs (AU27, AU25, AU23)
are lifted from their parts; `arkit_to_sides` documents what is recovered exactly and what is not.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, ShapeError
from avatar.facs import ALIASES, AU_NUMBERS, AU_TO_ARKIT, AU_TO_ARKIT_LEFT, AU_TO_ARKIT_RIGHT, NUM_AU, ActionUnits
from avatar.rig import NUM_ARKIT

COMPOSITES: tuple[int, ...] = (27, 25, 23)
"""AUs whose rows are non-negative combinations of other rows; `arkit_to_au` lifts them in this order."""

# AU26 may reach 2 while decoding (= the whole jawOpen range) so that AU27 can claim a jaw beyond AU26's.
_DECODE_UPPER = {26: 2.0}


@lru_cache(maxsize=1)
def _decode_basis() -> tuple[np.ndarray, np.ndarray, tuple[tuple[int, int], ...], dict[int, np.ndarray]]:
    """Return the primitive design matrix (52, n), its upper bounds (n,), per column (AU index,
    side code 0=both 1=L 2=R), and each composite's (n,) coefficients on the primitive columns.

    Primitive AUs are all but the aliases and composites. A midline-only AU (the same row for both
    sides) gets one column, a lateral AU one per side. These columns drive disjoint sets of shapes.
    """
    cols: list[np.ndarray] = []
    meta: list[tuple[int, int]] = []
    upper: list[float] = []
    for i, n in enumerate(AU_NUMBERS):
        if n in ALIASES or n in COMPOSITES:
            continue
        if np.array_equal(AU_TO_ARKIT_LEFT[i], AU_TO_ARKIT_RIGHT[i]):
            cols.append(AU_TO_ARKIT[i])
            meta.append((i, 0))
        else:
            cols += [AU_TO_ARKIT_LEFT[i], AU_TO_ARKIT_RIGHT[i]]
            meta += [(i, 1), (i, 2)]
        upper += [_DECODE_UPPER.get(n, 1.0)] * (len(cols) - len(upper))
    a = np.stack(cols, axis=1).astype(np.float64)
    support = (a != 0).astype(int)
    overlap = support.T @ support
    # Disjoint supports make the box-constrained least squares separable: the closed form below is exact.
    assert np.count_nonzero(overlap - np.diag(np.diag(overlap))) == 0, "primitive AU rows must not share shapes"
    coeffs = {}
    for n in COMPOSITES:
        row = AU_TO_ARKIT[AU_NUMBERS.index(n)].astype(np.float64)
        c = np.linalg.lstsq(a, row, rcond=None)[0]
        assert np.allclose(a @ c, row, atol=1e-6) and np.all(c > -1e-9), f"AU{n} must be a combination of primitives"
        coeffs[n] = np.where(np.abs(c) < 1e-9, 0.0, c)
    return a, np.asarray(upper), tuple(meta), coeffs


def arkit_to_sides(weights: Any) -> np.ndarray:
    """Return (..., 2, n_AU) float32 [left, right] AU intensities that reproduce ARKit weights (..., 52).

    Method, per frame:
      1. Bounded least squares ``min ||A x - w||, 0 <= x <= 1`` over the primitive AUs (all but
         the composites 23, 25, 27 and the alias 43; one column per side for lateral AUs, one for
         midline AUs). Their rows drive disjoint shapes, so the solution is closed-form and exact:
         x_j = clip(a_j . w / a_j . a_j, 0, 1), the weighted mean of the AU's shapes over its weights.
      2. Composites are lifted from their parts, the fewest-AUs reading a FACS coder would give:
         AU27 takes the whole jaw when jawOpen exceeds AU26's range (> 0.5), with the stretch it
         implies; then AU25 = as much of 0.4*AU16 + 0.2*AU26 as both sides hold, then AU23 = as much
         of 0.5*AU24 + 0.3*AU28.

    Recovered exactly: any mix of the AUs whose shapes no other AU uses (1, 2, 4, 5, 6, 7, 9,
    10, 11, 12, 14, 15, 17, 18, 22, 29, 30, 33, 61-64, bilateral or one-sided), together with at
    most one AU of each shared group {16, 20, 25, 26, 27} and {23, 24, 28} (27 above 0.5), and
    the emotion prototypes of `avatar.emotion`. Cannot be told apart (a pose that is equally
    well both):
      - AU43 and AU45 (identical poses): reported as AU45;
      - AU24 with AU28, or AU16 with AU26: as much as fits the ratio 5:3 (2:1) is reported as
        AU23 (AU25), the rest as the parts; a lone AU16 or AU24 stays itself;
      - AU27 <= 0.5 is AU26 + AU20 (reported so); AU26 with jawOpen > 0.5 is reported as AU27;
      - one-sided composites (R25) are reported as their parts; a side entry of a midline-only
        AU (R17 = half of AU17) as bilateral;
      - shapes no AU drives (mouthClose, mouthLeft/Right, tongueOut) are ignored.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 0 or w.shape[-1] != NUM_ARKIT:
        raise ShapeError(f"ARKit weights must have 52 columns, got shape {tuple(w.shape)}")
    if not np.all(np.isfinite(w)):
        raise AvatarInputError("ARKit weights contain NaN or infinite values: clean them before decoding AUs")
    flat = np.clip(w.reshape(-1, NUM_ARKIT), 0.0, 1.0)
    a, upper, meta, coeffs = _decode_basis()
    x = np.clip(flat @ a / (a * a).sum(axis=0), 0.0, upper)  # (T, n) primitive intensities
    lifted: dict[int, np.ndarray] = {}
    jaw_col = next(c for c, (i, _) in enumerate(meta) if AU_NUMBERS[i] == 26)
    for n in COMPOSITES:
        c = coeffs[n]
        used = c > 0
        t = np.minimum(1.0, np.min(x[:, used] / c[used], axis=1))
        if n == 27:
            # 27 supersedes 26 beyond half jaw; it takes the stretch it needs only where there is some.
            t = np.where(x[:, jaw_col] > 1.0, np.minimum(1.0, x[:, jaw_col] / c[jaw_col]), 0.0)
        x = np.maximum(x - t[:, None] * c, 0.0)
        lifted[n] = t
    x = np.minimum(x, 1.0)
    sides = np.zeros((flat.shape[0], 2, NUM_AU), np.float32)
    for col, (i, side) in enumerate(meta):
        if side in (0, 1):
            sides[:, 0, i] = x[:, col]
        if side in (0, 2):
            sides[:, 1, i] = x[:, col]
    for n, t in lifted.items():
        sides[:, :, AU_NUMBERS.index(n)] = t[:, None]
    return sides.reshape(w.shape[:-1] + (2, NUM_AU))


def arkit_to_au(weights: Any, min_intensity: float = 1e-3) -> ActionUnits | list[ActionUnits]:
    """Return the ActionUnits of one (52,) ARKit pose, or a list of them for (T, 52) weights.

    Intensities at or below `min_intensity` are dropped. See `arkit_to_sides` for the method and
    for which AUs it cannot tell apart.
    """
    sides = arkit_to_sides(weights)
    if sides.ndim == 2:
        return ActionUnits.from_sides(sides, min_intensity=min_intensity)
    return [ActionUnits.from_sides(s, min_intensity=min_intensity) for s in sides.reshape(-1, 2, NUM_AU)]


def arkit_to_au_vector(weights: Any) -> np.ndarray:
    """Return (..., n_AU) float32 AU intensities (stronger side) for ARKit weights (..., 52); for AU error metrics."""
    return arkit_to_sides(weights).max(axis=-2)
