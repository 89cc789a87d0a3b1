"""The brow combination shape (avatar.brow_combo) and the combos every posing path blends (`BlendshapeHead.combos`):
the shipped 1+2+4 acts only when browInnerUp, browOuterUp and browDown are all posed (fear's brow), raising the inner
brows and drawing them together and folding the middle forehead; surprise, sad, anger, disgust and happy are
unchanged (the 1+4 form changes sad too, on purpose); every path (numpy, torch, the GL poser and compute shader, the
differentiable head, glTF) poses it alike."""

from __future__ import annotations

import numpy as np
import pytest

import avatar
from avatar.brow_combo import BROW_COMBO_MAX, MEDIAL_CM, UP_CM, brow_combo_field, check_brow_combo, with_brow_combo
from avatar.errors import AvatarInputError
from avatar.head import LANDMARK68_NAMES, default_head
from avatar.rig import ARKIT_NAMES
from tests.brow_checks import assert_face_below_the_brows_stays, assert_renderers_draw_it

INNER_UP = ARKIT_NAMES.index("browInnerUp")
OUTER_L, OUTER_R = ARKIT_NAMES.index("browOuterUpLeft"), ARKIT_NAMES.index("browOuterUpRight")
DOWN_L, DOWN_R = ARKIT_NAMES.index("browDownLeft"), ARKIT_NAMES.index("browDownRight")


@pytest.fixture(scope="module")
def plain():
    """The shipped head (its brow lowerer) without the combination shape."""
    return default_head(brow_combo=0)


@pytest.fixture(scope="module")
def combo(plain):
    return with_brow_combo(plain, 1.0)


def _w(inner: float = 0.0, outer: float = 0.0, down: float = 0.0) -> np.ndarray:
    w = np.zeros(52, np.float32)
    w[INNER_UP] = inner
    w[[OUTER_L, OUTER_R]] = outer
    w[[DOWN_L, DOWN_R]] = down
    return w


def _lm(head, name: str, verts: np.ndarray) -> np.ndarray:
    return verts[head.landmarks68[LANDMARK68_NAMES[name]]]


def test_acts_only_when_all_are_posed(plain, combo) -> None:
    for w in (_w(1, 0, 0), _w(0, 1, 0), _w(0, 0, 1), _w(1, 1, 0), _w(1, 0, 1), _w(0, 1, 1), _w()):
        np.testing.assert_array_equal(combo.pose(w), plain.pose(w))
    assert np.abs(combo.pose(_w(1, 1, 1)) - plain.pose(_w(1, 1, 1))).max() > 0.4
    # The smallest weight: a pose scaled by an intensity scales the combination alike.
    d = combo.pose(_w(0.9, 0.4, 0.6)) - plain.pose(_w(0.9, 0.4, 0.6))
    d_half = combo.pose(_w(0.45, 0.2, 0.3)) - plain.pose(_w(0.45, 0.2, 0.3))
    np.testing.assert_allclose(d_half, 0.5 * d, atol=1e-5)
    np.testing.assert_allclose(d, combo.pose(_w(1, 0.4, 1)) - plain.pose(_w(1, 0.4, 1)), atol=1e-5)
    assert combo.shape_weights(_w(0.9, 0.4, 0.6))[52:].tolist() == pytest.approx([0.4, 0.4])


def test_the_1_plus_4_form_changes_sad_too(plain) -> None:
    """`combo="1+4"` (the first round's form) acts on sad's brow as on fear's; the shipped 1+2+4 leaves sad alone."""
    w = avatar.pose("sad", 1.0)
    assert np.abs(with_brow_combo(plain, 1.0, combo="1+4").pose(w) - plain.pose(w)).max() > 0.2
    with pytest.raises(AvatarInputError, match="combo"):
        with_brow_combo(plain, 1.0, combo="1+2")


@pytest.mark.parametrize("emotion", ["surprise", "sad", "anger", "disgust", "happy", "neutral"])
def test_emotions_without_1_plus_4_are_unchanged(plain, combo, emotion) -> None:
    w = avatar.pose(emotion, 1.0)
    np.testing.assert_array_equal(combo.pose(w), plain.pose(w))


@pytest.mark.parametrize("intensity", [0.6, 1.0])
def test_fear_inner_brows_go_up_and_together(plain, combo, intensity) -> None:
    """1+2+4: the inner brow heads rise and move medially; the outer ends move far less (the brow turns oblique)."""
    w = avatar.pose("fear", intensity)
    k = intensity
    before, after = plain.pose(w), combo.pose(w)
    for side, inwards in (("left", -1.0), ("right", 1.0)):  # the head's left is +x: medially is -x
        move = _lm(combo, f"brow_{side}_inner", after) - _lm(plain, f"brow_{side}_inner", before)
        assert move[1] >= 0.3 * k, (side, move)  # >= 3 mm up at intensity 1
        assert inwards * move[0] >= 0.1 * k, (side, move)  # >= 1 mm together
        outer = _lm(combo, f"brow_{side}_outer", after) - _lm(plain, f"brow_{side}_outer", before)
        assert np.linalg.norm(outer) < np.linalg.norm(move) / 3, (side, outer, move)
    # The brows' inner heads end higher than before relative to their outer ends (more oblique).
    for inner, outer in (("brow_left_inner", "brow_left_outer"), ("brow_right_inner", "brow_right_outer")):
        slope_before = _lm(plain, inner, before)[1] - _lm(plain, outer, before)[1]
        slope_after = _lm(combo, inner, after)[1] - _lm(combo, outer, after)[1]
        assert slope_after >= slope_before + 0.2 * k


def test_knit_without_lifting_lowers_the_outer_brow_only(plain) -> None:
    """`up_cm=0` with `outer_cm < 0` (the third fear try, docs/legibility.md 2026-12-08): the inner brow heads move
    medially and keep their height, the outer ends go down (the brow runs flat, not arched); `outer_cm=0` leaves the
    default field as it was, to the bit."""
    np.testing.assert_array_equal(brow_combo_field(plain, outer_cm=0.0), brow_combo_field(plain))
    field = brow_combo_field(plain, up_cm=0.0, medial_cm=0.6, outer_cm=-0.5).sum(0)
    lm = plain.landmarks68
    for side, inwards in (("left", -1.0), ("right", 1.0)):
        inner = field[lm[LANDMARK68_NAMES[f"brow_{side}_inner"]]]
        outer = field[lm[LANDMARK68_NAMES[f"brow_{side}_outer"]]]
        assert abs(inner[1]) < 0.05, (side, inner)  # the inner head's height is kept (< 0.5 mm at weight 1)
        assert inwards * inner[0] >= 0.3, (side, inner)  # drawn together
        assert outer[1] <= -0.3, (side, outer)  # the outer end lowered (0.5 cm before the projection)
    assert_face_below_the_brows_stays(plain, brow_combo_field(plain, up_cm=0.0, medial_cm=0.6, outer_cm=-0.5))


def test_middle_forehead_folds_lateral_forehead_does_not(plain) -> None:
    """Above the inner brow the skin is compressed vertically inside the forehead's lines (1-4 cm above the brow),
    so they show in the middle; above the outer brow end far less."""
    field = brow_combo_field(plain).sum(0)
    v = plain.generic_neutral
    lm = v[plain.landmarks68]

    def fold(k: int) -> float:
        """How much a column of skin above landmark k shortens (cm): the rise at its foot minus at its top."""
        col = np.flatnonzero((np.abs(v[:, 0] - lm[k, 0]) < 0.3) & (v[:, 2] > lm[k, 2] - 1.0)
                             & (v[:, 1] > lm[k, 1] + 0.5) & (v[:, 1] < lm[k, 1] + 4.5))
        order = col[np.argsort(v[col, 1])]
        return float(field[order[0], 1] - field[order[-1], 1])

    middle = [fold(21), fold(22)]
    outer = [fold(17), fold(26)]
    assert min(middle) >= 0.5, middle  # 1.2 cm up at the brow, none 3.6 cm above it (before the projection)
    assert max(outer) < 0.3 * min(middle), (outer, middle)


def test_eyes_lids_and_mouth_stay(plain) -> None:
    field = brow_combo_field(plain)
    assert_face_below_the_brows_stays(plain, field)
    # Nowhere more than the inner brow head's motion (at every weight 1; fear poses it at 0.45).
    assert np.linalg.norm(field.sum(0), axis=1).max() <= np.hypot(UP_CM, MEDIAL_CM) + 0.01


def test_every_posing_path_agrees(combo) -> None:
    """numpy, torch, the GL renderer's numpy poser, the differentiable head, the face box points: one formula."""
    torch = pytest.importorskip("torch")
    from renderers.differentiable import DifferentiableHead
    from renderers.face_boxes import posed_face_points
    from renderers.posing import FramePoser

    head = combo.with_identity(7)
    assert head.combos == combo.combos and head.combo_deltas is combo.combo_deltas
    w = avatar.pose("fear", 0.8).astype(np.float32)
    ref = head.pose(w)
    np.testing.assert_allclose(head.pose(torch.from_numpy(w)).numpy(), ref, atol=1e-5)
    np.testing.assert_allclose(DifferentiableHead(head)(torch.from_numpy(w)[None]).detach().numpy()[0], ref, atol=1e-4)
    np.testing.assert_allclose(FramePoser(head, head.faces).pose(w), ref, atol=1e-5)
    np.testing.assert_allclose(posed_face_points(head, w[None], None)[0], head.landmarks(ref), atol=1e-5)


def test_gltf_round_trip_keeps_the_combination(tmp_path) -> None:
    """glTF has no combination shapes: the combo is one more target, "a*b", animated by min(a, b); reading the
    file back restores it (the shipped head's "a*b*c" likewise)."""
    import struct

    trimesh = pytest.importorskip("trimesh")
    from avatar.head import BlendshapeHead
    from avatar.io.gltf import build_gltf, export_gltf
    from avatar.io.headfile import read_head_file
    from avatar.sequence import ExpressionSequence

    ball = trimesh.creation.icosphere(subdivisions=1)
    n = len(ball.vertices)
    deltas = np.zeros((52, n, 3), np.float32)
    deltas[INNER_UP, :4, 1] = 1.0
    deltas[DOWN_L, 4:8, 1] = -1.0
    present = np.zeros(52, bool)
    present[[INNER_UP, DOWN_L]] = True
    extra = np.zeros((1, n, 3), np.float32)
    extra[0, 8:10, 0] = 0.5
    head = BlendshapeHead(neutral=ball.vertices, faces=ball.faces, deltas=deltas, present=present,
                          face_material=np.zeros(len(ball.faces), np.int16), combos=((INNER_UP, DOWN_L),),
                          combo_deltas=extra)
    w = np.zeros((2, 52), np.float32)
    w[0, [INNER_UP, DOWN_L]] = (0.8, 0.5)
    w[1, INNER_UP] = 1.0
    doc, blob = build_gltf(ExpressionSequence(w, fps=10), head, materials=False, unit_scale=1.0)
    assert doc["meshes"][0]["extras"]["targetNames"] == ["browDownLeft", "browInnerUp", "browInnerUp*browDownLeft"]
    acc = doc["accessors"][doc["animations"][0]["samplers"][0]["output"]]
    view = doc["bufferViews"][acc["bufferView"]]
    at = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    values = np.array(struct.unpack_from(f"<{acc['count']}f", blob, at)).reshape(2, 3)
    np.testing.assert_allclose(values, [[0.5, 0.8, 0.5], [0.0, 1.0, 0.0]], atol=1e-6)
    path = export_gltf(None, tmp_path / "ball.glb", head, materials=False, unit_scale=1.0)
    back = read_head_file(path, normalize=False, allow_missing=True)
    assert back.combos == head.combos
    np.testing.assert_allclose(back.pose(w[0]), head.pose(w[0]), atol=1e-5)
    np.testing.assert_allclose(back.pose(w[1]), head.pose(w[1]), atol=1e-5)


def test_one_check_for_the_strength(plain) -> None:
    assert check_brow_combo(None) is None and check_brow_combo(BROW_COMBO_MAX) == BROW_COMBO_MAX
    for bad in (-0.1, BROW_COMBO_MAX + 0.1, float("nan")):
        with pytest.raises(AvatarInputError):
            check_brow_combo(bad)
        with pytest.raises(AvatarInputError):
            default_head(brow_combo=bad)
    assert with_brow_combo(plain, 0.0) is plain
    assert not default_head(brow_lowerer=0, brow_combo=0).combos
    assert not default_head().combos  # off by default (BROW_COMBO = 0: docs/legibility.md)
    assert default_head(brow_combo=1).combos == ((INNER_UP, OUTER_L, DOWN_L), (INNER_UP, OUTER_R, DOWN_R))
    # Applying it twice replaces it (no double combination).
    twice = with_brow_combo(with_brow_combo(plain, 1.0), 2.0)
    assert len(twice.combos) == 2
    np.testing.assert_allclose(twice.combo_deltas, 2 * with_brow_combo(plain, 1.0).combo_deltas, atol=1e-6)


@pytest.mark.gl
@pytest.mark.slow
def test_gl_compute_posing_and_both_renderers_draw_it(plain, combo) -> None:
    """The compute-shader poser blends the combos as numpy does; GL and the differentiable renderer draw the same
    picture, and it differs from the head without the combination far more than the renderers differ."""
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w = avatar.pose("fear", 1.0).astype(np.float32)
    with GLRenderer(combo, RendererOptions(width=64, height=64, samples=0, gpu_pose=True)) as gpu:
        if not gpu.gpu_pose:
            pytest.skip("compute shaders need OpenGL 4.3")
        gpu._use()
        gpu._gpu.run(w, None)
        got = np.frombuffer(gpu.vbo_pos.read(), np.float32).reshape(-1, 3)
        assert np.abs(got - combo.pose(w)).max() < 1e-4
        gpu.set_head(plain)  # fewer shapes: the buffer follows
        gpu._use()
        gpu._gpu.run(w, None)
        got = np.frombuffer(gpu.vbo_pos.read(), np.float32).reshape(-1, 3)
        assert np.abs(got - plain.pose(w)).max() < 1e-4
    assert_renderers_draw_it(plain, combo, w)
