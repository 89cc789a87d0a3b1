"""The draw order a CPU rasterizer gets (renderers.draw_order): the same triangles, each vertex shaded about once."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.head import ICT_PARTS, default_head
from renderers.draw_order import CACHE_SLOTS, SEGMENT_TRIANGLES, cache_friendly_layout, shadings
from renderers.drawn_faces import drawn_faces, two_sided_faces


def _rows(t: np.ndarray) -> list[tuple[int, ...]]:
    return sorted(map(tuple, np.asarray(t).tolist()))


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (F, 3) triangles and (V, 3) vertices of an n x n quad grid, rows in order (a mesh's own order)."""
    ij = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = ij[:-1, :-1].ravel(), ij[:-1, 1:].ravel(), ij[1:, :-1].ravel(), ij[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])
    y, x = np.divmod(np.arange((n + 1) ** 2), n + 1)
    return tris, np.stack([x, y, np.zeros_like(x)], 1).astype(float)


def test_the_shading_model_counts_a_segments_cache_misses() -> None:
    # Within a segment a repeated index is shaded once; indices 256 apart share a slot and evict each other.
    assert shadings(np.array([[0, 1, 2], [2, 1, 3]])) == 4
    assert shadings(np.array([[0, CACHE_SLOTS, 0]])) == 3
    # A new segment starts with an empty cache.
    tris = np.tile([[0, 1, 2]], (SEGMENT_TRIANGLES + 1, 1))
    assert shadings(tris) == 6


def test_layout_keeps_every_triangle_groups_and_pairs_and_each_segment_fits_the_cache() -> None:
    tris, verts = _grid(40)  # 3,200 triangles
    culled = 3000
    pairs = np.stack([tris[culled:], tris[culled:][:, [0, 2, 1]]], 1).reshape(-1, 3)
    order = np.concatenate([tris[:culled], pairs])
    part = (verts[order].mean(1)[:, 1] > 20).astype(int)  # two parts: the lower rows, then the upper
    laid, source = cache_friendly_layout(order, verts, part, culled)
    back = source[laid]
    assert _rows(back[:culled]) == _rows(order[:culled])
    assert _rows(back[culled::2]) == _rows(order[culled::2]) and np.array_equal(back[culled + 1::2], back[culled::2][:, [0, 2, 1]])
    # Each segment's vertices are one run of consecutive indices in first-use order, so a segment of at most 256
    # vertices puts each in its own cache slot.
    sizes = []
    for s in range(0, len(laid), SEGMENT_TRIANGLES):
        seg = laid[s:s + SEGMENT_TRIANGLES].ravel()
        first = seg[np.sort(np.unique(seg, return_index=True)[1])]
        assert np.array_equal(first, np.arange(first[0], first[0] + len(first)))
        sizes.append(len(first))
        if len(first) <= CACHE_SLOTS:
            assert shadings(laid[s:s + SEGMENT_TRIANGLES]) == len(first)
    assert np.mean(np.array(sizes) <= CACHE_SLOTS) > 0.7  # patches are compact
    assert len(source) < 1.5 * len(verts) and shadings(laid) < 1.1 * len(source)


@pytest.mark.slow
def test_the_ict_heads_draw_shades_half_as_many_vertices() -> None:
    head = default_head()
    faces = drawn_faces(head)
    both = two_sided_faces(head, faces)
    starts = np.array(sorted(a for a, _ in ICT_PARTS.values()))
    part = np.searchsorted(starts, faces.min(1), side="right")
    pairs = np.stack([faces[both], faces[both][:, [0, 2, 1]]], 1).reshape(-1, 3)
    order = np.concatenate([faces[~both], pairs])
    laid, source = cache_friendly_layout(order, head.generic_neutral, np.concatenate([part[~both], np.repeat(part[both], 2)]),
                                         int((~both).sum()))
    before, after = shadings(order), shadings(laid)
    assert after <= 0.55 * before and after < 1.4 * head.num_vertices
    # The parts keep their order within each group (what hides what is drawn as before).
    drawn_part = np.searchsorted(starts, source[laid].min(1), side="right")
    culled = int((~both).sum())
    assert np.all(np.diff(drawn_part[:culled]) >= 0) and np.all(np.diff(drawn_part[culled::2]) >= 0)


@pytest.mark.gl
@pytest.mark.slow
def test_frames_drawn_in_the_laid_out_order_are_the_head_order_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pixels differ only where two surfaces meet at exactly equal depth: PSNR >= 60 dB, at most 0.01% of pixels."""
    import renderers.draw_order as draw_order
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    rng = np.random.default_rng(1)
    w = np.clip(rng.normal(0.15, 0.3, (6, 52)), 0, 1).astype(np.float32)
    hp = np.zeros((6, 6))
    hp[:, 1] = np.linspace(-0.4, 0.4, 6)
    opts = RendererOptions(width=96, height=96, camera="three-quarter")
    with GLRenderer(options=opts) as r:
        assert r._source is not None and len(r._source) > r.head.num_vertices  # the layout is in use on llvmpipe
        laid = np.stack(list(r.iter_frames(w, hp)))
    monkeypatch.setattr(draw_order, "cache_friendly_layout", lambda t, v, p, c: (t.astype(np.int32), np.arange(len(v))))
    with GLRenderer(options=opts) as r:
        assert len(r._source) == r.head.num_vertices
        own = np.stack(list(r.iter_frames(w, hp)))
    diff = np.abs(laid.astype(float) - own.astype(float))
    mse = float((diff ** 2).mean())
    assert mse == 0 or 10 * np.log10(255 ** 2 / mse) >= 60
    assert (diff.max(-1) > 0).mean() <= 1e-4
