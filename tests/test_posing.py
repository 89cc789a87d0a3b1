"""The numpy frame poser (renderers.posing): the same vertex attributes as the plain formulas, for less work."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.blend import vertex_normals
from avatar.emotion import emotion_to_arkit
from avatar.head import default_head
from renderers.cavity import cavity_shade
from renderers.gl import GLRenderer, RendererOptions
from renderers.posing import RING

RNG = np.random.default_rng(3)
WEIGHTS = np.stack([np.zeros(52, np.float32), emotion_to_arkit("happy", 1.0).astype(np.float32),
                    emotion_to_arkit("anger", 0.8).astype(np.float32),
                    np.where(RNG.random(52) < 0.4, RNG.random(52), 0).astype(np.float32)])
pytestmark = [pytest.mark.gl]
HEAD_POSES = np.array([[0, 0, 0, 0, 0, 0], [0.35, 0.3, 0.1, 0, 0, 0], [-0.4, -0.5, 0.2, 1, -2, 0.5],
                       [0.1, 0.9, -0.3, 0, 0, 0]])


@pytest.mark.slow
@pytest.mark.parametrize("identity", [0, 7])
def test_poser_attributes_equal_the_plain_formulas(identity: int) -> None:
    """Normals from the precomputed incidence and cavity factors from the per-shape tables equal `vertex_normals` and
    `cavity_shade` of the posed vertices: normals to 1e-6, factors to 5e-5 (one 8-bit level is 4e-3); shapes first
    seen in a later frame are added to the tables then. The renderer's path poses by the weights alone and hands the
    head pose to the vertex shader as the model matrix: turned by it, its normals are the posed head's; the poser
    itself, given the head pose, rotates its cavity offsets to the same factors."""
    from renderers.attachments import pose_transform

    head = default_head(identity)
    with GLRenderer(head, RendererOptions(width=32, height=32)) as r:
        assert r._cavity is not None
        for w, hp in zip(WEIGHTS, HEAD_POSES):
            verts = head.pose(w, hp)
            want_normals = vertex_normals(verts, r._faces)
            want = cavity_shade(r._cavity, verts, want_normals)
            assert (want < 0.9).sum() > 100  # the factors compared do shade something
            by_weights = head.pose(w)
            _, normals, _, _, cavity, model = r._vertex_attributes(by_weights, w, hp)
            assert np.array_equal(model, pose_transform(head, hp))
            assert np.abs(normals - vertex_normals(by_weights, r._faces)).max() < 1e-6
            # Turned by the model: the posed head's normals but for the float32 rounding of its posed positions (a
            # few 1e-5 on the smallest triangles).
            assert np.abs(normals @ model[:3, :3].T - want_normals).max() < 1e-4
            assert np.abs(cavity - want).max() < 5e-5
            poser_verts = r._poser.pose(w, hp)
            assert np.abs(poser_verts - verts).max() < 1e-4
            _, normals, _, _, cavity = r._poser.attributes(poser_verts, w, hp)
            poser_normals = vertex_normals(poser_verts, r._faces)
            assert np.abs(normals - poser_normals).max() < 1e-6
            assert np.abs(cavity - cavity_shade(r._cavity, poser_verts, poser_normals)).max() < 5e-5
        assert r._poser._cav_ready.sum() == np.count_nonzero(WEIGHTS.any(0))


@pytest.mark.slow
@pytest.mark.parametrize("identity", [0, 7])
def test_poser_wrinkle_amplitude_is_the_plain_formula_bit_for_bit(identity: int) -> None:
    """The poser computes the fold darkness on the wrinkle regions only, with the rest lengths cached: the same
    float32 numbers as `wrinkle_amplitude` on the whole head, frame after frame (the ring's zeros stay zeros)."""
    from renderers.shading import wrinkle_amplitude

    head = default_head(identity)
    with GLRenderer(head, RendererOptions(width=32, height=32)) as r:
        for _ in range(2):
            for w, hp in zip(WEIGHTS, HEAD_POSES):
                verts = head.pose(w, hp).astype(np.float32)
                got = r._vertex_attributes(verts, w, hp)[2]
                want = wrinkle_amplitude(r._wrinkles, verts, head.neutral)[0]
                assert got.dtype == want.dtype and np.array_equal(got, want)
        assert want.max() > 0.05  # the poses compared do fold the skin


def test_poser_ring_keeps_a_frame_until_ring_minus_one_more_are_posed() -> None:
    """A frame's arrays stay as they were while RING - 1 later frames are posed (the worker runs ahead of the drawing)."""
    head = default_head()
    with GLRenderer(head, RendererOptions(width=32, height=32)) as r:
        first = r._vertex_attributes(head.pose(WEIGHTS[1]), WEIGHTS[1])
        kept = [a.copy() for a in first]
        for k in range(RING - 1):
            w = WEIGHTS[(k + 2) % len(WEIGHTS)]
            r._vertex_attributes(head.pose(w), w)
        for a, b in zip(first, kept):
            assert np.array_equal(a, b)


@pytest.mark.slow
def test_frames_posed_from_weights_equal_frames_of_posed_vertices() -> None:
    """A sequence through iter_frames (poser tables) draws what render_vertices draws for the same posed vertices
    (smoothing the posed skin): at most one level on 0.1% of pixels."""
    head = default_head()
    with GLRenderer(head, RendererOptions(width=96, height=96, camera="three-quarter")) as r:
        frames = list(r.iter_frames(WEIGHTS, HEAD_POSES))
        for img, w, hp in zip(frames, WEIGHTS, HEAD_POSES):
            ref = r.render_vertices(head.pose(w, hp))
            diff = np.abs(img.astype(np.int16) - ref).max(-1)
            assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("identity", [0, 7])
def test_drawn_faces_leaves_out_the_lash_tips_as_brute_force_does(identity: int) -> None:
    """The lash-tip cut (triangles wholly beyond LASH_LENGTH_CM of the skin) compares each lash vertex with nearby skin
    only; the drawn triangles equal those of the distances to every skin vertex, and some tips are cut."""
    from avatar.appearance import eye_geometry
    from avatar.head import ICT_PARTS
    from renderers.drawn_faces import LASH_LENGTH_CM, drawn_faces

    head = default_head(identity)
    drawn = drawn_faces(head)
    v = head.generic_neutral
    a, b = ICT_PARTS["eyelashes"]
    skin = v[slice(*ICT_PARTS["face"])]
    dist = np.array([np.sqrt(((skin - p) ** 2).sum(-1)).min() for p in v[a:b]])
    tip = np.zeros(len(v), bool)
    tip[a:b] = dist > LASH_LENGTH_CM
    lash_faces = head.faces[(head.faces >= a).all(1) & (head.faces < b).all(1)]
    cut = tip[lash_faces].all(1)
    assert cut.sum() > 50
    drawn_set = {tuple(f) for f in drawn.tolist()}
    assert not any(tuple(f) in drawn_set for f in lash_faces[cut].tolist())
    # every lash triangle that is not a tip and not a lower lash is still drawn
    eye_y = np.mean([e.centre[1] for e in eye_geometry(v)])
    lower = np.zeros(len(v), bool)
    lower[a:b] = v[a:b, 1] < eye_y
    kept = lash_faces[~cut & ~lower[lash_faces].any(1)]
    assert len(kept) > 50 and all(tuple(f) in drawn_set for f in kept.tolist())
