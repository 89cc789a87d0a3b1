"""avatar.rotations: the numpy matrices are the head's convention; the torch ones equal them and differentiate."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.head import default_head
from avatar.rotations import rotation_matrix


def _ry_rx_rz(p: float, y: float, r: float) -> np.ndarray:
    c, s = np.cos, np.sin
    rx = np.array([[1, 0, 0], [0, c(p), -s(p)], [0, s(p), c(p)]])
    ry = np.array([[c(y), 0, s(y)], [0, 1, 0], [-s(y), 0, c(y)]])
    rz = np.array([[c(r), -s(r), 0], [s(r), c(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def test_numpy_rotation_is_ry_rx_rz_and_batches() -> None:
    angles = np.array([[0.3, -0.7, 0.2], [1.0, 0.5, -1.2]])
    got = rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    assert got.shape == (2, 3, 3)
    for a, m in zip(angles, got):
        assert np.allclose(m, _ry_rx_rz(*a))
        assert np.allclose(m @ m.T, np.eye(3)) and np.isclose(np.linalg.det(m), 1.0)
    # Positive yaw turns the face (+Z) towards +X.
    assert rotation_matrix(0.0, 0.5, 0.0) @ np.array([0, 0, 1.0]) @ np.array([1.0, 0, 0]) > 0


def test_torch_rotation_equals_numpy_and_has_exact_gradients() -> None:
    torch = pytest.importorskip("torch")
    from avatar.rotations import rotation_matrix_torch

    angles = torch.tensor([[0.3, -0.7, 0.2], [1.0, 0.5, -1.2]], dtype=torch.float64, requires_grad=True)
    got = rotation_matrix_torch(angles[:, 0], angles[:, 1], angles[:, 2])
    assert np.allclose(got.detach().numpy(), rotation_matrix(*angles.detach().numpy().T))
    assert torch.autograd.gradcheck(lambda a: rotation_matrix_torch(a[:, 0], a[:, 1], a[:, 2]), (angles,))


def test_torch_head_pose_equals_the_numpy_head() -> None:
    torch = pytest.importorskip("torch")
    from avatar.rotations import apply_head_pose_torch

    head = default_head()
    verts = head.pose(np.zeros((2, 52), np.float32))
    pose = np.array([[0.1, -0.4, 0.05, 1.0, 2.0, -3.0], [-0.2, 0.3, 0.0, 0.0, 0.0, 0.5]], np.float32)
    expected = head.apply_head_pose(verts, pose)
    got = apply_head_pose_torch(torch.from_numpy(verts), torch.from_numpy(pose), torch.from_numpy(head.pivot))
    assert np.abs(got.numpy() - expected).max() < 1e-4
