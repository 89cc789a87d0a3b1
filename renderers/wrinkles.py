"""Returns where a head wrinkles and how much its skin is compressed: `WrinkleField`, `wrinkle_field`, `vertex_compression`.

`wrinkle_field` says where expression lines form (forehead, glabella, nose bridge, crow's feet, nasolabial
folds; or, on a head without landmarks, wherever its shapes compress the skin) and in which direction the
skin must compress for them to show; the renderers read the compression from the posed vertices each frame
(`renderers.shading`). See docs/appearance.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatar.appearance import smoothstep
from avatar.head import ICT_PARTS, BlendshapeHead

# Region names of `WrinkleField.region` (-1: none). "lines" is the generic pattern of a head without landmarks.
WRINKLE_REGIONS: tuple[str, ...] = ("forehead", "glabella", "nose_bridge", "crows_feet", "nasolabial", "lines")

# Per region: how dark its lines get at full compression (fraction of the albedo removed in a fold) and
# the spacing of its lines (cm on the ICT-sized head; a head is scaled onto that box on import).
WRINKLE_DEPTH: dict[str, float] = {"forehead": 0.30, "glabella": 0.40, "nose_bridge": 0.30, "crows_feet": 0.30,
                                   "nasolabial": 0.45, "lines": 0.25}
WRINKLE_SPACING_CM: dict[str, float] = {"forehead": 0.95, "glabella": 1.1, "nose_bridge": 0.45, "crows_feet": 0.0,
                                        "nasolabial": 1.4, "lines": 0.8}
CROWS_FEET_SPACING_RAD = 0.30  # crow's feet radiate from the eye corner, ~17 degrees apart

# Directional weight of an edge for a vertex's compression axis: |cos|^4 of the angle between the edge
# (on the neutral) and the axis, so only edges running along the axis count.
_AXIS_SHARPNESS = 4


@dataclass(frozen=True)
class WrinkleField:
    """Where a head wrinkles, in which direction its skin must compress, and the line pattern; per vertex.

    The renderers read each region vertex's compression every frame: the strain of its incident edges,
    posed against the neutral, averaged with `incidence_weight` (edges along the vertex's compression axis
    count; a zero axis would weigh all alike), and shade lines where it is high (`renderers.shading`).

    edges: (E, 2) int64 vertex pairs whose strain is read.
    incidence_vertex, incidence_edge: (I,) int64: vertex i reads edge e (each edge once per region endpoint).
    incidence_weight: (I,) float32, summing to 1 over each vertex's incidences.
    phase: (V,) float32 line coordinate u: a fold lies where u is an integer (`cos(2 pi u) = 1`).
    depth: (V,) float32 darkening of a fold at full compression (region mask x region depth), 0 outside.
    region: (V,) int8 index into `WRINKLE_REGIONS`, -1 outside every region.
    """

    edges: np.ndarray
    incidence_vertex: np.ndarray
    incidence_edge: np.ndarray
    incidence_weight: np.ndarray
    phase: np.ndarray
    depth: np.ndarray
    region: np.ndarray
    names: tuple[str, ...] = field(default=WRINKLE_REGIONS)

    def region_mask(self, name: str) -> np.ndarray:
        """Return (V,) bool: the vertices of region `name` (one of `WRINKLE_REGIONS`)."""
        return self.region == self.names.index(name)


def _unique_edges(faces: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64), 1)
    # One int64 key per edge sorts like the (a, b) rows (lexicographic): a 1-D sort is much faster than
    # np.unique(axis=0), which also imports numpy.ma (~30 ms at start-up).
    n = int(e.max()) + 1 if len(e) else 1
    key = np.sort(e[:, 0] * n + e[:, 1])
    key = key[np.concatenate([[True], key[1:] != key[:-1]])] if len(key) else key
    return np.stack([key // n, key % n], 1)


def _directional_incidence(v: np.ndarray, edges: np.ndarray, vertices: np.ndarray,
                           axis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (incidence_vertex, incidence_edge, weight) for `vertices`, weights normalised per vertex.

    axis: (V, 3) per-vertex compression axes on the neutral `v`; a zero axis weighs every edge alike.
    """
    want = np.zeros(len(v), bool)
    want[vertices] = True
    iv = np.concatenate([edges[:, 0], edges[:, 1]])
    ie = np.concatenate([np.arange(len(edges))] * 2)
    keep = want[iv]
    iv, ie = iv[keep], ie[keep]
    d = v[edges[ie, 1]] - v[edges[ie, 0]]
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    ax = axis[iv]
    iso = np.linalg.norm(ax, axis=1) < 0.5
    w = np.where(iso, 1.0, np.abs((d * ax).sum(1)) ** _AXIS_SHARPNESS)
    total = np.bincount(iv, w, len(v))
    w = w / np.maximum(total[iv], 1e-12)
    return iv, ie, w.astype(np.float32)


def edge_strain(vertices: np.ndarray, rest: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return (B, E) float32 strain |posed edge| / |rest edge| - 1 (negative = compressed) of (B, V, 3) vertices
    against (V, 3) or (B, V, 3) rest vertices."""
    d1 = vertices[..., edges[:, 1], :] - vertices[..., edges[:, 0], :]
    d0 = rest[..., edges[:, 1], :] - rest[..., edges[:, 0], :]
    return (np.linalg.norm(d1, axis=-1) / np.maximum(np.linalg.norm(d0, axis=-1), 1e-12) - 1).astype(np.float32)


def vertex_compression(wf: WrinkleField, vertices: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Return (B, V) float32 compression >= 0 along each region vertex's axis (0 outside regions) for
    (B, V, 3) posed vertices against (V, 3) or (B, V, 3) rest (neutral) vertices. numpy twin of
    `renderers.shading.vertex_compression_torch`."""
    verts = np.asarray(vertices, np.float32).reshape(-1, *np.shape(vertices)[-2:])
    strain = edge_strain(verts, np.asarray(rest, np.float32), wf.edges)  # (B, E)
    b, n = len(verts), verts.shape[1]
    flat = (np.arange(b)[:, None] * n + wf.incidence_vertex[None]).ravel()
    vals = (strain[:, wf.incidence_edge] * wf.incidence_weight[None]).ravel()
    per_vertex = np.bincount(flat, vals, b * n).reshape(b, n)
    return np.maximum(-per_vertex, 0.0).astype(np.float32)


def _band(x: np.ndarray, lo: float, hi: float, fade: float) -> np.ndarray:
    """Return 1 inside [lo, hi], fading smoothly to 0 over `fade` outside."""
    return smoothstep(lo - fade, lo, x) * (1 - smoothstep(hi, hi + fade, x))


def wrinkle_field(head: BlendshapeHead) -> WrinkleField:
    """Return the head's WrinkleField: landmark regions on a head with 68 landmarks, else the generic pattern.

    With landmarks (any ICT identity, or a user head that carries them): forehead lines (vertical
    compression: AU1/AU2 raise the brows and fold the forehead), glabellar furrows (horizontal
    compression: AU4 pulls the brows together), nose-bridge lines (vertical: AU9), crow's feet
    radiating from the outer eye corners (vertical: AU6 lifts the cheek), nasolabial folds (vertical:
    AU10/AU12 push the cheek up against them). Without landmarks: every vertex some shape
    moves, compressing along whichever of the horizontal or vertical axis the head's own shapes
    compress it more, with straight lines across that axis.
    """
    v = np.asarray(head.generic_neutral, np.float64)
    if head.landmarks68 is not None:
        region, depth, phase, axis = _landmark_regions(head, v)
    else:
        region, depth, phase, axis = _generic_regions(head, v)
    sel = np.flatnonzero(depth > 0)
    faces = head.faces[np.isin(head.faces, sel).any(axis=1)]
    edges = _unique_edges(faces) if len(faces) else np.zeros((0, 2), np.int64)
    iv, ie, w = _directional_incidence(v, edges, sel, axis)
    return WrinkleField(edges=edges, incidence_vertex=iv, incidence_edge=ie, incidence_weight=w,
                        phase=phase.astype(np.float32), depth=depth.astype(np.float32), region=region.astype(np.int8))


def _landmark_regions(head: BlendshapeHead, v: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return (region, depth, phase, axis) per vertex from the 68 landmarks on the neutral `v`."""
    n = len(v)
    lm = v[head.landmarks68]
    x, y, z = v.T
    if head.is_ict:
        skin = np.zeros(n, bool)
        skin[slice(*ICT_PARTS["face"])] = True
    else:
        # Another head's parts are unknown: keep to the facial surface (in front of the eye corners' depth
        # minus a margin), so eyeballs and mouth interior inside a region's outline stay clean.
        skin = z > lm[[0, 16], 2].min() - 1.0
    region = np.full(n, -1, np.int64)
    depth = np.zeros(n)
    phase = np.zeros(n)
    axis = np.zeros((n, 3))
    X, Y = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    brow_top = lm[17:27, 1].max()
    brow_z = lm[17:27, 2].min() - 2.0
    half_width = abs(lm[17, 0] - lm[26, 0]) / 2
    cx = lm[27, 0]

    def put(name: str, weight: np.ndarray, u: np.ndarray, ax: np.ndarray) -> None:
        w = weight * skin
        take = w > np.where(region >= 0, depth / np.array([WRINKLE_DEPTH[r] for r in WRINKLE_REGIONS])[region.clip(0)], 0)
        take &= w > 1e-3
        region[take] = WRINKLE_REGIONS.index(name)
        depth[take] = w[take] * WRINKLE_DEPTH[name]
        phase[take] = u[take]
        axis[take] = ax[take] if ax.ndim == 2 else ax

    dx = x - cx
    # Forehead: from a little above the brows to below the hairline; lines arch down a little at the sides.
    w = _band(y, brow_top + 1.0, brow_top + 4.0, 0.7) * (1 - smoothstep(half_width * 0.75, half_width * 0.95, np.abs(dx)))
    w *= z > brow_z
    put("forehead", w, (y - brow_top + 0.03 * dx**2) / WRINKLE_SPACING_CM["forehead"], Y)
    # Glabella: between the inner brow heads, two vertical furrows either side of the midline.
    inner = abs(lm[22, 0] - lm[21, 0]) / 2
    w = _band(y, lm[27, 1] + 1.0, brow_top - 0.2, 0.8) * (1 - smoothstep(inner * 0.8, inner * 1.05, np.abs(dx)))
    w *= z > brow_z
    put("glabella", w, (np.abs(dx) - 0.55) / WRINKLE_SPACING_CM["glabella"], X)
    # Nose bridge ("bunny lines"): short chevrons across the upper nose.
    w = _band(y, lm[28, 1] - 0.2, lm[27, 1] + 0.2, 0.4) * (1 - smoothstep(0.7, 1.1, np.abs(dx)))
    w *= z > lm[27, 2] - 2.0
    put("nose_bridge", w, (y + 0.5 * np.abs(dx)) / WRINKLE_SPACING_CM["nose_bridge"], Y)
    # Crow's feet: lines radiating from each outer eye corner, lateral to it only (not on the lids).
    for corner, side in ((lm[36], -1.0), (lm[45], 1.0)):
        lat = (x - corner[0]) * side
        up = y - corner[1]
        r = np.hypot(lat, up)
        ang = np.arctan2(up, np.maximum(lat, 1e-6))
        w = _band(r, 0.7, 2.0, 0.5) * smoothstep(0.1, 0.5, lat) * (1 - smoothstep(0.7, 1.0, np.abs(ang)))
        w *= z > corner[2] - 4.0
        put("crows_feet", w, ang / CROWS_FEET_SPACING_RAD, Y)
    # Nasolabial folds: one groove from beside the nose wing to beyond the mouth corner.
    for wing, mouth, side in ((lm[31], lm[48], -1.0), (lm[35], lm[54], 1.0)):
        a = np.array([wing[0] + side * 0.55, wing[1] + 0.35])
        b = np.array([mouth[0] + side * 0.45, mouth[1] - 0.4])
        ab = b - a
        t = ((v[:, :2] - a) @ ab) / (ab @ ab)
        normal = np.array([-ab[1], ab[0]]) / np.linalg.norm(ab) * side  # points to the cheek
        d = (v[:, :2] - a) @ normal
        w = _band(t, 0.0, 1.0, 0.2) * (1 - smoothstep(0.5, 0.9, np.abs(d)))
        w *= z > mouth[2] - 3.0
        u = np.clip(d / WRINKLE_SPACING_CM["nasolabial"], -0.5, 0.5)
        put("nasolabial", w, u, Y)  # the cheek rises against the fold (AU6/AU10/AU12 compress it vertically)
    return region, depth, phase, axis


def _generic_regions(head: BlendshapeHead, v: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return (region, depth, phase, axis) for a head without landmarks: wherever its own shapes compress it."""
    n = len(v)
    moved = np.abs(head.deltas).max(axis=(0, 2)) > 0.01 * np.ptp(v, axis=0).max()
    faces = head.faces[moved[head.faces].all(axis=1)]
    region, depth, phase, axis = np.full(n, -1, np.int64), np.zeros(n), np.zeros(n), np.zeros((n, 3))
    if not len(faces):
        return region, depth, phase, axis
    edges = _unique_edges(faces)
    sel = np.flatnonzero(moved)
    best = []
    for ax in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])):
        fake = WrinkleField(edges, *_directional_incidence(v, edges, sel, np.tile(ax, (n, 1))),
                            phase=np.zeros(n, np.float32), depth=np.zeros(n, np.float32), region=np.zeros(n, np.int8))
        shapes = head.deltas[np.asarray(head.present, bool)]
        best.append(vertex_compression(fake, v[None] + shapes, v).max(0) if len(shapes) else np.zeros(n))
    vertical = best[1] >= best[0]
    axis[sel] = np.where(vertical[sel, None], [0, 1.0, 0], [1.0, 0, 0])
    region[sel] = WRINKLE_REGIONS.index("lines")
    depth[sel] = WRINKLE_DEPTH["lines"]
    phase[sel] = (v[sel] * axis[sel]).sum(1) / WRINKLE_SPACING_CM["lines"]
    return region, depth, phase, axis
