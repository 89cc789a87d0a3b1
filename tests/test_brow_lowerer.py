"""The corrective brow lowerer (avatar.brow_lowerer): AU4 draws the inner brows down and together, the outer brow
moves less, nothing moves without browDown, the switch off is ICT's own head, and both renderers draw it."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.brow_lowerer import brow_lowerer_field, with_brow_lowerer
from avatar.head import ICT_PARTS, LANDMARK68_NAMES, _load_ict, ICT_PATH, default_head
from avatar.rig import ARKIT_NAMES
from tests.brow_checks import assert_face_below_the_brows_stays, assert_renderers_draw_it

DOWN_L, DOWN_R = ARKIT_NAMES.index("browDownLeft"), ARKIT_NAMES.index("browDownRight")


@pytest.fixture(scope="module")
def plain():
    """The shipped head with ICT's own browDown shapes."""
    return default_head(brow_lowerer=0)


@pytest.fixture(scope="module")
def lowered(plain):
    return with_brow_lowerer(plain, 1.0)


def _brow_down(k: float = 1.0) -> np.ndarray:
    w = np.zeros(52, np.float32)
    w[[DOWN_L, DOWN_R]] = k
    return w


def _motion(head, name: str, w: np.ndarray) -> np.ndarray:
    """Return the (3,) displacement (cm) of a named landmark under weights `w`."""
    i = head.landmarks68[LANDMARK68_NAMES[name]]
    return head.pose(w)[i] - head.neutral[i]


@pytest.mark.parametrize("down_cm", [None, 0.35])
def test_inner_brow_goes_down_and_together_outer_less(plain, down_cm) -> None:
    """The shipped shape (None) draws the inner brows together; `down_cm` adds a pull down on top."""
    lowered = with_brow_lowerer(plain, 1.0, **({} if down_cm is None else {"down_cm": down_cm}))
    w = _brow_down()
    for side, medial_sign in (("left", -1.0), ("right", 1.0)):  # the head's left is +x: inwards is -x
        ict = _motion(plain, f"brow_{side}_inner", w)
        ours = _motion(lowered, f"brow_{side}_inner", w)
        extra = ours - ict
        assert -ict[1] < 0.25 and medial_sign * ict[0] < 0.25  # ICT alone (both sides on): ~2 mm each way
        # The corrective adds >= 2.5 mm inwards at the inner brow head, so it moves >= 4 mm together in all, and
        # >= 1.5 mm down (never less than ICT's own; with down_cm 0.35, >= 2.5 mm more).
        assert medial_sign * extra[0] >= 0.25 and medial_sign * ours[0] >= 0.4, (side, extra)
        assert -ours[1] >= 0.15 and -extra[1] >= -0.01, (side, ours)
        if down_cm:
            assert -extra[1] >= 0.25 and -ours[1] >= 0.4, (side, extra)
        # The outer brow end gets less than a third of the inner head's extra motion.
        outer = _motion(lowered, f"brow_{side}_outer", w) - _motion(plain, f"brow_{side}_outer", w)
        assert np.linalg.norm(outer) < np.linalg.norm(extra) / 3, (side, outer, extra)


def test_glabella_is_compressed_and_comes_forward(plain, lowered) -> None:
    """The skin between the brow heads shortens across (the furrows' cue) and bulges forward."""
    w = _brow_down()
    li, ri = lowered.landmarks68[LANDMARK68_NAMES["brow_left_inner"]], lowered.landmarks68[LANDMARK68_NAMES["brow_right_inner"]]
    gap = lambda h: abs(h.pose(w)[li, 0] - h.pose(w)[ri, 0]) / abs(h.neutral[li, 0] - h.neutral[ri, 0])  # noqa: E731
    assert gap(lowered) < gap(plain) - 0.2  # 2.34 cm apart at rest: > 20 % narrower than with ICT's shape alone
    d = lowered.deltas[DOWN_L] + lowered.deltas[DOWN_R] - plain.deltas[DOWN_L] - plain.deltas[DOWN_R]
    n = lowered.neutral
    y_mid = 0.5 * (n[li, 1] + n[lowered.landmarks68[27], 1])
    between = (np.abs(n[:, 0]) < 0.4) & (np.abs(n[:, 1] - y_mid - 0.4) < 0.4) & (n[:, 2] > n[li, 2] - 1.0)
    assert between.sum() > 5 and d[between, 2].mean() > 0.05


def test_zero_without_browdown_and_halves_are_sided(plain, lowered) -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (4, 52)).astype(np.float32)
    w[:, [DOWN_L, DOWN_R]] = 0
    assert np.array_equal(lowered.pose(w), plain.pose(w))
    assert np.array_equal(np.delete(lowered.deltas, [DOWN_L, DOWN_R], 0), np.delete(plain.deltas, [DOWN_L, DOWN_R], 0))
    # browDownLeft moves the left (+x) brow; the right inner brow gets a tenth of it at most.
    w1 = np.zeros(52, np.float32)
    w1[DOWN_L] = 1
    left = _motion(lowered, "brow_left_inner", w1) - _motion(plain, "brow_left_inner", w1)
    right = _motion(lowered, "brow_right_inner", w1) - _motion(plain, "brow_right_inner", w1)
    assert np.linalg.norm(right) < 0.1 * np.linalg.norm(left)
    # Linear in the weight: half the weight, half the corrective.
    half = lowered.pose(_brow_down(0.5)) - plain.pose(_brow_down(0.5))
    full = lowered.pose(_brow_down(1.0)) - plain.pose(_brow_down(1.0))
    np.testing.assert_allclose(half, full / 2, atol=1e-5)


def test_eyes_lids_and_mouth_stay(plain, lowered) -> None:
    """The field ends above the upper lid's margin (the lashes and eyes stay put); eyeballs and teeth never move."""
    field = brow_lowerer_field(plain)
    assert_face_below_the_brows_stays(plain, field)
    a, b = ICT_PARTS["eyelashes"]
    assert np.abs(field[:, a:b]).max() < 0.02
    assert np.linalg.norm(field.sum(0), axis=1).max() < 0.6  # a few millimetres, nowhere more


def test_switch_off_is_ict_exactly(plain) -> None:
    ict = _load_ict(str(ICT_PATH))
    assert default_head(brow_lowerer=0) is ict
    assert with_brow_lowerer(ict, 0.0) is ict
    w = _brow_down()
    assert np.array_equal(default_head(7, brow_lowerer=0).pose(w), ict.with_identity(7).pose(w))
    # The corrective survives an identity (the deltas are shared) and is built once per strength.
    on = default_head(7, brow_lowerer=1.0)
    assert default_head(brow_lowerer=1.0).deltas is on.deltas
    assert not np.array_equal(on.pose(w), ict.with_identity(7).pose(w))
    np.testing.assert_array_equal(on.neutral, ict.with_identity(7).neutral)


def test_bad_strength_and_headless_landmarks(plain) -> None:
    from avatar.errors import AvatarInputError
    from dataclasses import replace

    with pytest.raises(AvatarInputError, match="strength"):
        with_brow_lowerer(plain, -1)
    bare = replace(plain, landmarks68=None, identity_basis=None)
    with pytest.raises(AvatarInputError, match="landmarks"):
        with_brow_lowerer(bare, 1.0)


@pytest.mark.gl
@pytest.mark.slow
def test_both_renderers_draw_it(plain, lowered) -> None:
    """GL and the differentiable renderer pose the corrective the same way (vertices and pixels), and it shows."""
    torch = pytest.importorskip("torch")
    from avatar.emotion import emotion_to_arkit
    from renderers.differentiable import DifferentiableHead

    w = emotion_to_arkit("anger", 1.0).astype(np.float32)
    verts = DifferentiableHead(lowered)(torch.from_numpy(w)[None]).detach().numpy()[0]
    np.testing.assert_allclose(verts, lowered.pose(w), atol=1e-4)
    assert_renderers_draw_it(plain, lowered, w)
