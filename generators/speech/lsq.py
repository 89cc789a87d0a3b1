"""Returns the solution of a small bounded linear least-squares problem in numpy (the lip closures' solver).

`scipy.optimize.lsq_linear` solved these (a dozen unknowns, a ridge term so the problem is strictly convex), but
importing scipy.optimize cost 0.5-1 s of every `animate` on the 2-core machine (2-3 s under load), more than the
solves. This is the primal active-set method for a strictly convex quadratic over a box (Stark & Parker's BVLS in
its simplest form): it ends at the exact minimiser, where lsq_linear's iterations stop within their tolerance, so
the two agree to ~1e-8 (tests/test_speech_numpy.py).
"""

from __future__ import annotations

import numpy as np


def bounded_least_squares(a: np.ndarray, b: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float,
                          max_iter: int = 200) -> np.ndarray:
    """Return x minimising |a x - b|^2 subject to lo <= x <= hi, for an (M, N) `a` of full column rank.

    Raises ValueError when a bound pair is empty (lo > hi) or the iterations do not settle (not seen for full-rank
    `a`: each step either frees a variable whose gradient points inward or fixes one at a bound).
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n = a.shape[1]
    lo = np.broadcast_to(np.asarray(lo, np.float64), (n,)).copy()
    hi = np.broadcast_to(np.asarray(hi, np.float64), (n,)).copy()
    if np.any(lo > hi):
        raise ValueError("bounded_least_squares: a lower bound exceeds its upper bound")
    h = a.T @ a
    g = a.T @ b
    # Start from the unconstrained minimiser clipped into the box; variables clipped begin fixed at their bound.
    x = np.clip(np.linalg.solve(h, g), lo, hi)
    fixed = (x <= lo) | (x >= hi)
    for _ in range(max_iter):
        free = ~fixed
        target = x.copy()
        if free.any():
            rhs = g[free] - h[np.ix_(free, fixed)] @ x[fixed]
            target[free] = np.linalg.solve(h[np.ix_(free, free)], rhs)
        inside = (target[free] > lo[free]) & (target[free] < hi[free])
        if inside.all():
            x = target
            grad = h @ x - g  # KKT: at a lower bound the cost must rise inward (grad >= 0), at an upper bound fall
            release = fixed & (lo < hi) & (((x <= lo) & (grad < -1e-12)) | ((x >= hi) & (grad > 1e-12)))
            if not release.any():
                return x
            # Free the bound variable whose gradient pulls inward the most.
            fixed[np.flatnonzero(release)[np.argmax(np.abs(grad[release]))]] = False
            continue
        # Step from x toward the free solution until the first free variable meets a bound; fix it there.
        step = target - x
        idx = np.flatnonzero(free)
        with np.errstate(divide="ignore", invalid="ignore"):
            to_bound = np.where(step[idx] < 0, (lo[idx] - x[idx]) / step[idx],
                                np.where(step[idx] > 0, (hi[idx] - x[idx]) / step[idx], np.inf))
        t = float(np.clip(to_bound.min(), 0.0, 1.0))
        x = np.clip(x + t * step, lo, hi)
        hit = idx[to_bound <= t + 1e-15]
        x[hit] = np.where(step[hit] < 0, lo[hit], hi[hit])
        fixed[hit] = True
    raise ValueError("bounded_least_squares: the active set did not settle; check that `a` has full column rank")
