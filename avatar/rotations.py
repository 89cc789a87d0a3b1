"""Returns head-pose rotation matrices (numpy and differentiable torch) and applies rigid head pose in torch.

One convention everywhere: R = Ry(yaw) @ Rx(pitch) @ Rz(roll), angles in radians, acting on column
vectors (x' = R @ x). Head pose is the 6-vector (pitch, yaw, roll, tx, ty, tz): rotate about a pivot,
then translate. torch is imported inside the torch functions so `import avatar` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.errors import ShapeError

if TYPE_CHECKING:
    import torch


def rotation_matrix(pitch: Any, yaw: Any, roll: Any) -> np.ndarray:
    """Return (..., 3, 3) float64 rotation matrices R = Ry(yaw) @ Rx(pitch) @ Rz(roll), angles in radians."""
    p, y, r = (np.asarray(a, dtype=np.float64) for a in (pitch, yaw, roll))
    p, y, r = np.broadcast_arrays(p, y, r)
    cp, sp, cy, sy, cr, sr = np.cos(p), np.sin(p), np.cos(y), np.sin(y), np.cos(r), np.sin(r)
    one, zero = np.ones_like(p), np.zeros_like(p)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, -sp], -1), np.stack([zero, sp, cp], -1)], -2)
    ry = np.stack([np.stack([cy, zero, sy], -1), np.stack([zero, one, zero], -1), np.stack([-sy, zero, cy], -1)], -2)
    rz = np.stack([np.stack([cr, -sr, zero], -1), np.stack([sr, cr, zero], -1), np.stack([zero, zero, one], -1)], -2)
    return ry @ rx @ rz


def rotation_matrix_torch(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Return (..., 3, 3) rotation matrices R = Ry(yaw) @ Rx(pitch) @ Rz(roll), differentiable in the angles.

    The angles are broadcast together; the result has their dtype and device.
    """
    import torch

    p, y, r = torch.broadcast_tensors(*(torch.as_tensor(a) for a in (pitch, yaw, roll)))
    cp, sp, cy, sy, cr, sr = p.cos(), p.sin(), y.cos(), y.sin(), r.cos(), r.sin()
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    rx = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, cp, -sp], -1), torch.stack([zero, sp, cp], -1)], -2)
    ry = torch.stack([torch.stack([cy, zero, sy], -1), torch.stack([zero, one, zero], -1), torch.stack([-sy, zero, cy], -1)], -2)
    rz = torch.stack([torch.stack([cr, -sr, zero], -1), torch.stack([sr, cr, zero], -1), torch.stack([zero, zero, one], -1)], -2)
    return ry @ rx @ rz


def apply_head_pose_torch(vertices: torch.Tensor, head_pose: torch.Tensor, pivot: torch.Tensor) -> torch.Tensor:
    """Return (B, V, 3) vertices rotated about `pivot` and translated by `head_pose`, differentiable in all three.

    Args:
        vertices: (B, V, 3) or (V, 3) float tensor.
        head_pose: (B, 6) or (6,) (pitch, yaw, roll radians; tx, ty, tz scene units), same dtype and device.
        pivot: (3,) centre of rotation.
    Returns:
        (B, V, 3) tensor (a (V, 3) input with a (6,) pose gives (1, V, 3)).
    """
    if head_pose.shape[-1] != 6 or head_pose.ndim not in (1, 2):
        raise ShapeError(f"head_pose must have shape (6,) or (B, 6), got {tuple(head_pose.shape)}")
    if vertices.shape[-1] != 3 or vertices.ndim not in (2, 3):
        raise ShapeError(f"vertices must have shape (V, 3) or (B, V, 3), got {tuple(vertices.shape)}")
    hp = head_pose.reshape(-1, 6)
    verts = vertices if vertices.ndim == 3 else vertices[None]
    if verts.shape[0] != hp.shape[0] and 1 not in (verts.shape[0], hp.shape[0]):
        raise ShapeError(f"head_pose batch {hp.shape[0]} does not match vertices batch {verts.shape[0]}: pass one pose per head")
    r = rotation_matrix_torch(hp[:, 0], hp[:, 1], hp[:, 2])  # (B, 3, 3)
    centred = verts - pivot
    # x' = R x for each vertex row: rows times R^T.
    return centred @ r.transpose(1, 2) + pivot + hp[:, None, 3:6]
