"""Returns the order a CPU rasterizer is given the head's triangles in, so each vertex is shaded about once a frame.

Mesa's llvmpipe (and softpipe) run the vertex shader through the draw module's "vsplit" front end: an indexed
draw is cut into segments of `SEGMENT_TRIANGLES` triangles, and within a segment a vertex is shaded again unless
it is still in a 256-slot cache keyed by its index modulo 256. In the head's own triangle order a vertex was
shaded 2.7 times a frame on average (71,069 shadings of 26,719 vertices for 54,096 triangles): at preview sizes,
where the per-frame geometry work is most of llvmpipe's draw, that is a third of it.

`cache_friendly_layout` reorders the triangles so that each segment is a compact patch of one part (the parts
keep their order, so what hides what is drawn as before), and gives every segment its own run of consecutive
vertex indices (a vertex on a patch border appears once in each patch that uses it): no two vertices of a
segment share a cache slot, so each is shaded once per segment (35,907 shadings, -49%; the draw at 128 px
~18% less CPU). The renderer gathers its per-vertex attributes into that layout (`source`) before writing them
to GL. The pixels are those of the original order but for fragments at exactly equal depth.
"""

from __future__ import annotations

import numpy as np

SEGMENT_TRIANGLES = 341
"""Triangles per vsplit segment: Mesa's SEGMENT_SIZE of 1024 vertices trimmed to whole triangles (1023 indices)."""

CACHE_SLOTS = 256
"""Mesa's vsplit MAP_SIZE: a vertex index's slot is the index modulo this."""


def _morton_keys(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """Return (N,) uint64 Z-order keys of (N, 3) points in their bounding box, `bits` per axis."""
    lo, hi = points.min(0), points.max(0)
    q = ((points - lo) / np.maximum(hi - lo, 1e-9) * (2 ** bits - 1)).astype(np.uint64)
    key = np.zeros(len(points), np.uint64)
    for b in range(bits):
        for axis in range(3):
            key |= ((q[:, axis] >> np.uint64(b)) & np.uint64(1)) << np.uint64(3 * b + axis)
    return key


def _patch_order(triangles: np.ndarray, vertices: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Return the permutation of (F, 3) `triangles` that keeps `part` (F,) non-decreasing and follows a Z-order curve
    through the triangles' centroids within each part (consecutive triangles then form compact patches)."""
    keys = _morton_keys(vertices[triangles].mean(1)) | (part.astype(np.uint64) << np.uint64(40))
    return np.argsort(keys, kind="stable")


def cache_friendly_layout(triangles: np.ndarray, vertices: np.ndarray, part: np.ndarray, culled: int,
                          segment: int = SEGMENT_TRIANGLES) -> tuple[np.ndarray, np.ndarray]:
    """Return (triangles', source): (F, 3) int32 triangles over a vertex list laid out per segment, and (E,) intp the
    head vertex each of its E vertices is (attributes are gathered as `attribute[source]`).

    `triangles` is the renderer's draw order: `culled` one-sided triangles, then pairs of a two-sided triangle and
    its reversed copy; `part` (F,) numbers each triangle's part of the head (parts are drawn in increasing order).
    Each group is reordered into patches within each part, pairs kept together; then every run of `segment`
    triangles gets its own consecutive vertex indices, in first-use order.
    """
    triangles = np.asarray(triangles, np.int64)
    vertices = np.asarray(vertices, np.float64)
    part = np.asarray(part, np.int64)
    one_sided, pairs = triangles[:culled], triangles[culled:].reshape(-1, 2, 3)
    if len(one_sided):
        one_sided = one_sided[_patch_order(one_sided, vertices, part[:culled])]
    if len(pairs):
        pairs = pairs[_patch_order(pairs[:, 0], vertices, part[culled::2])]
    ordered = np.concatenate([one_sided, pairs.reshape(-1, 3)])
    n = len(vertices)
    # A (segment, vertex) key per corner; unique keys in first-use order are the laid-out vertices.
    keys = np.repeat(np.arange(len(ordered), dtype=np.int64) // segment, 3) * n + ordered.reshape(-1)
    unique, first_use, inverse = np.unique(keys, return_index=True, return_inverse=True)
    by_first_use = np.argsort(first_use, kind="stable")
    rank = np.empty_like(by_first_use)
    rank[by_first_use] = np.arange(len(by_first_use))
    laid_out = rank[inverse.reshape(-1)].reshape(-1, 3).astype(np.int32)
    source = (unique[by_first_use] % n).astype(np.intp)
    return laid_out, source


def shadings(triangles: np.ndarray, segment: int = SEGMENT_TRIANGLES, slots: int = CACHE_SLOTS) -> int:
    """Return how many vertex-shader runs Mesa's vsplit front end makes for an indexed draw of (F, 3) `triangles`
    (a model of its per-segment, direct-mapped cache; benchmarks and tests read it)."""
    flat = np.asarray(triangles).reshape(-1)
    runs = 0
    for s in range(0, len(flat), 3 * segment):
        cache: dict[int, int] = {}
        for v in flat[s:s + 3 * segment].tolist():
            if cache.get(v % slots) != v:
                cache[v % slots] = v
                runs += 1
    return runs
