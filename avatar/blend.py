"""Returns posed vertices and vertex normals: the plain array functions under `BlendshapeHead` (kornia-style).

Numpy or torch in, the same library, dtype and device out; `renderers.differentiable.DifferentiableHead` is the
`nn.Module` that poses a head in torch (weights, identity and head pose).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avatar.errors import ShapeError


def blend(neutral: Any, deltas: Any, weights: Any) -> Any:
    """Return posed vertices `neutral + sum_k weights[..., k] * deltas[k]`.

    Args:
        neutral: (V, 3) vertices (numpy or torch).
        deltas: (K, V, 3) per-shape offsets, same library and device as `neutral`.
        weights: (K,) or (B, K) weights.
    Returns:
        (V, 3) or (B, V, 3) vertices, same library, dtype and device as `neutral`.
    """
    k, v = deltas.shape[0], deltas.shape[1]
    if tuple(neutral.shape) != (v, 3) or deltas.ndim != 3 or deltas.shape[2] != 3:
        raise ShapeError(f"blend expects neutral (V, 3) and deltas (K, V, 3), got {tuple(neutral.shape)} and {tuple(deltas.shape)}")
    if weights.shape[-1] != k or weights.ndim not in (1, 2):
        raise ShapeError(f"weights must have shape ({k},) or (B, {k}), got {tuple(weights.shape)}")
    flat = deltas.reshape(k, v * 3)
    out = weights.reshape(-1, k) @ flat
    out = out.reshape(-1, v, 3) + neutral
    return out[0] if weights.ndim == 1 else out


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Return (V, 3) float32 unit vertex normals, area-weighted from the triangles `faces`."""
    v0, v1, v2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    fn = np.cross(v1 - v0, v2 - v0)
    idx = faces.ravel()
    out = np.empty_like(vertices)
    for c in range(3):
        out[:, c] = np.bincount(idx, weights=np.repeat(fn[:, c], 3), minlength=len(vertices))
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norm, 1e-12)).astype(np.float32)
