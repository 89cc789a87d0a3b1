"""The ICT head loads fast, maps onto ARKit, and poses meaningfully (numpy and torch, batched)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from avatar.errors import AvatarInputError, ShapeError
from avatar.head import BlendshapeHead, blend, default_head
from avatar.rig import ARKIT_NAMES, index_of


def w(**named: float) -> np.ndarray:
    out = np.zeros(52, np.float32)
    for k, v in named.items():
        out[index_of(k)] = v
    return out


def test_loads_fast_and_maps_arkit() -> None:
    from avatar.head import ICT_PATH, _load_ict

    _load_ict.cache_clear()
    t0 = time.perf_counter()
    head = _load_ict(str(ICT_PATH))
    assert time.perf_counter() - t0 < 1.0  # generous: ~0.3 s here
    assert head.num_vertices == 26719
    assert head.deltas.shape == (52, 26719, 3)
    assert head.missing_shapes == ["tongueOut"]
    assert (head.faces >= 0).all() and head.faces.max() < head.num_vertices


def test_browinnerup_and_cheekpuff_combine_both_sides() -> None:
    head = default_head()
    moved = np.abs(head.deltas[index_of("browInnerUp")]).sum(1) > 1e-3
    xs = head.neutral[moved, 0]
    assert (xs > 0.5).any() and (xs < -0.5).any()
    moved = np.abs(head.deltas[index_of("cheekPuff")]).sum(1) > 1e-3
    xs = head.neutral[moved, 0]
    assert (xs > 2).any() and (xs < -2).any()


def test_jaw_open_lowers_the_chin() -> None:
    head = default_head()
    chin0 = head.landmark("chin")
    chin1 = head.landmark("chin", head.pose(w(jawOpen=1)))
    assert chin1[1] < chin0[1] - 1.0


def test_left_shapes_move_the_subjects_left_side() -> None:
    head = default_head()
    v = head.pose(w(mouthSmileLeft=1))
    dl = v[head.landmarks68[54]] - head.neutral[head.landmarks68[54]]
    dr = v[head.landmarks68[48]] - head.neutral[head.landmarks68[48]]
    assert dl[1] > 0.5 and np.abs(dr).max() < 0.05
    assert head.landmark("mouth_corner_left")[0] > 0  # subject's left is +X


def test_batched_numpy_and_torch_agree() -> None:
    import torch

    head = default_head()
    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 1, (4, 52)).astype(np.float32)
    v_np = head.pose(weights)
    assert v_np.shape == (4, 26719, 3) and v_np.dtype == np.float32
    np.testing.assert_allclose(v_np[2], head.pose(weights[2]), atol=1e-5)
    v_t = head.pose(torch.from_numpy(weights))
    assert isinstance(v_t, torch.Tensor) and v_t.shape == (4, 26719, 3)
    np.testing.assert_allclose(v_t.numpy(), v_np, atol=1e-4)
    from renderers.differentiable import DifferentiableHead

    module = DifferentiableHead(head)
    np.testing.assert_allclose(module(torch.from_numpy(weights)).numpy(), v_np, atol=1e-4)


def test_blend_is_differentiable() -> None:
    import torch

    from renderers.differentiable import DifferentiableHead

    head = default_head()
    module = DifferentiableHead(head)
    wt = torch.zeros(1, 52, requires_grad=True)
    chin = module(wt)[0, head.landmarks68[8], 1]
    chin.backward()
    assert wt.grad[0, index_of("jawOpen")] < -1.0  # opening the jaw lowers the chin


def test_head_pose_rotates_rigidly() -> None:
    head = default_head()
    base = head.pose(w())
    turned = head.pose(w(), head_pose=[0.0, np.radians(30), 0.0, 0, 0, 0])
    # Rigid: pairwise distances are kept.
    i, j = head.landmarks68[30], head.landmarks68[8]
    assert abs(np.linalg.norm(base[i] - base[j]) - np.linalg.norm(turned[i] - turned[j])) < 1e-3
    # Yaw towards +X turns the nose tip to the subject's left.
    assert turned[head.landmarks68[30], 0] > base[head.landmarks68[30], 0] + 2


def test_identities_are_seeded_and_distinct() -> None:
    a, b = default_head(3), default_head(3)
    c = default_head(4)
    assert np.array_equal(a.neutral, b.neutral)
    assert np.abs(a.neutral - c.neutral).max() > 0.3
    coeffs = np.zeros(100, np.float32)
    coeffs[0] = 2.0
    d = default_head().with_identity(coeffs)
    assert np.abs(d.neutral - default_head().neutral).max() > 0.5
    with pytest.raises(AvatarInputError):
        default_head().with_identity(-1)


def test_shape_errors_quote_the_shape() -> None:
    head = default_head()
    with pytest.raises(ShapeError, match=r"\(3, 51\)"):
        head.pose(np.zeros((3, 51), np.float32))
    with pytest.raises(ShapeError):
        blend(head.neutral, head.deltas, np.zeros(7, np.float32))


def test_corrupt_mesh_rejected() -> None:
    head = default_head()
    bad_faces = head.faces.copy()
    bad_faces[0, 0] = head.num_vertices + 5
    with pytest.raises(AvatarInputError, match="corrupt mesh"):
        BlendshapeHead(neutral=head.neutral, faces=bad_faces, deltas=head.deltas, present=head.present,
                       face_material=head.face_material)


def test_arkit_names_order() -> None:
    assert ARKIT_NAMES[0] == "browDownLeft" and ARKIT_NAMES[-1] == "tongueOut" and len(ARKIT_NAMES) == 52
