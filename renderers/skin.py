"""Returns the skin's material per vertex (micro-detail, specular strength and roughness by region, thinness) and its
baked ambient occlusion, for both renderers.

A painted head with one specular everywhere and no texture reads as a mannequin. Real skin is oilier and sharper in
its highlight on the T-zone (forehead, nose), rougher on the cheeks, glossy on the lips; it is covered in pores and
fine lines that break up the highlight; light scatters under it and comes out red where it is thin (ears, nose
wings, eyelids); and what little light reaches under the chin, behind the ears and inside the nostrils is shadowed.

`skin_material` paints, per vertex, on the generic neutral (so it follows every expression and identity):

    detail    0..1   how much of the pore / fine-line normal perturbation a vertex gets (0 off the skin)
    specular  x      factor on the skin's Blinn strength (T-zone 1.4, cheeks 0.6, lips 1.5, elsewhere 1)
    gloss     -1..1  sharpness of the highlight: -1 rough (power 10, half strength), 0 today's lobe (power 40),
                     1 glossy (power 160, twice the strength), blended linearly between
    thin      0..1   how much red-shifted wrap light (subsurface-like warmth) a vertex gets

and carries `rest`, the generic neutral positions, from which the fragment shaders evaluate the noise: the pattern is
attached to the skin, so it moves and stretches with it. `bake_ambient_occlusion` measures, once per identity on its
neutral mesh, the cosine-weighted fraction of the sky each vertex sees, by splatting the mesh into depth maps from 64
directions (numpy; no ray tracer needed, and both renderers read the same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from avatar.head import ICT_PARTS, BlendshapeHead

SKIN_PARTS = ("face", "head_neck")
"""ICT parts that are skin (pores, regional specular, subsurface warmth, ambient occlusion)."""
AO_PARTS = ("face", "head_neck", "eye_sockets", "eyeball_left", "eyeball_right", "eyelashes")
"""ICT parts ambient occlusion darkens. The mouth's inside is left out: baked on the closed neutral mouth it would be
black, and it opens with expressions (cavity shading and the mouth's own albedo deal with it)."""

TONGUE_SHEEN = (3.0, -0.6)
"""(specular factor, gloss) of the gums and tongue (issue 19 part 0): wet, a soft broad sheen on the tongue's top
where the key light meets it (gloss -0.6 mixes the rough lobe in; the skin's default lobe, (1, 0), left no highlight
on it; 1.6 was barely seen). Only with `skin_regions` (on), as every regional highlight, and with the teeth shade in
use (`Appearance.teeth_shade` on, `mouth_interior` off), which dims it in the mouth's shade like the albedo (the
baked `mouth_interior` light dims the albedo only). Set by the look."""
AO_DIRECTIONS = 64
"""Directions (a Fibonacci sphere) the occlusion is sampled from."""
AO_CELL_CM = 0.25
"""Depth-map cell: about half the ICT face's edge length, so splatted vertices and triangle centroids leave no holes."""
AO_BIAS_CM = 0.15
"""How far above a vertex (along the direction) an occluder must be, plus a slope term: the vertex's own curved
neighbourhood is not one."""


@dataclass(frozen=True)
class SkinMaterial:
    """Per-vertex skin material of a head (see the module docstring).

    rest: (V, 3) float32 noise coordinates (cm; the generic neutral). detail, specular, gloss, thin: (V,) float32.
    """

    rest: np.ndarray
    detail: np.ndarray
    specular: np.ndarray
    gloss: np.ndarray
    thin: np.ndarray

    def attributes(self) -> np.ndarray:
        """Return (V, 4) float32 (detail, specular, gloss, thin): the vertex attribute both renderers interpolate."""
        return np.stack([self.detail, self.specular, self.gloss, self.thin], 1).astype(np.float32)


def _smooth_fall(d: np.ndarray, inner: float, outer: float) -> np.ndarray:
    """Return 1 inside `inner`, 0 beyond `outer`, a smoothstep between (distances)."""
    t = np.clip((d - inner) / (outer - inner), 0.0, 1.0)
    return 1.0 - t * t * (3 - 2 * t)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return (N,) distances from 3-D points to the segment a-b."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def skin_material(head: BlendshapeHead) -> SkinMaterial:
    """Return the head's SkinMaterial: regions from its 68 landmarks on the ICT layout (any identity); on another
    head every vertex is skin with the neutral lobe and no thin parts."""
    v = np.asarray(head.generic_neutral, np.float64)
    n = len(v)
    rest = v.astype(np.float32)
    if not head.is_ict or head.landmarks68 is None:
        ones = np.ones(n, np.float32)
        return SkinMaterial(rest, ones, ones.copy(), np.zeros(n, np.float32), np.zeros(n, np.float32))
    skin = np.zeros(n, bool)
    for name in SKIN_PARTS:
        a, b = ICT_PARTS[name]
        skin[a:b] = True
    lm = v[head.landmarks68]
    brow_y = lm[17:27, 1].max()
    front_z = lm[17:27, 2].min() - 1.0

    # T-zone: the middle of the forehead and the nose (ridge, tip and wings).
    forehead = (_smooth_fall(np.abs(v[:, 0]), 2.5, 4.0) * _smooth_fall(np.abs(v[:, 1] - (brow_y + 2.5)), 2.5, 4.0)
                * (v[:, 2] > front_z))
    nose = _smooth_fall(np.minimum(_segment_distance(v, lm[27], lm[30]), _segment_distance(v, lm[31], lm[35])), 0.9, 1.6)
    tzone = np.maximum(forehead, nose)
    # Cheeks: below the outer eye, beside the nose and above the mouth corner, each side.
    cheeks = np.zeros(n)
    for eye, corner in ((slice(36, 42), 48), (slice(42, 48), 54)):
        centre = 0.5 * (lm[eye].mean(0) + lm[corner])
        centre[0] *= 1.25  # out towards the cheekbone
        centre[2] -= 0.6
        cheeks = np.maximum(cheeks, _smooth_fall(np.linalg.norm(v - centre, axis=1), 1.6, 3.0))
    cheeks *= 1 - tzone
    # Lips: inside an ellipse through the lip landmarks.
    mouth = lm[48:60]
    centre = mouth.mean(0)
    half_w = 0.5 * (mouth[:, 0].max() - mouth[:, 0].min())
    half_h = 0.5 * (mouth[:, 1].max() - mouth[:, 1].min())
    r = np.sqrt(((v[:, 0] - centre[0]) / half_w) ** 2 + ((v[:, 1] - centre[1]) / half_h) ** 2)
    lips = _smooth_fall(r, 0.8, 1.05) * (v[:, 2] > centre[2] - 2.0)
    # Thin parts: ears (lateral, at eye-to-mouth height, behind the cheek), nose wings, eyelids.
    ears = (np.abs(v[:, 0]) > 7.4) & (v[:, 2] < 2.0) & (v[:, 1] > lm[2, 1] - 0.5) & (v[:, 1] < brow_y)
    ear_w = ears * _smooth_fall(7.4 + 1.2 - np.abs(v[:, 0]), 0.0, 1.2)
    wings = _smooth_fall(np.minimum(np.linalg.norm(v - lm[31], axis=1), np.linalg.norm(v - lm[35], axis=1)), 0.5, 1.0)
    lids = np.zeros(n)
    for eye in (slice(36, 42), slice(42, 48)):
        contour = lm[eye]
        d = np.min([_segment_distance(v, contour[i], contour[(i + 1) % 6]) for i in range(6)], axis=0)
        lids = np.maximum(lids, _smooth_fall(d, 0.35, 0.8))
    lids *= v[:, 2] > lm[36:48, 2].min() - 1.0

    detail = skin * (1.0 - 0.65 * lips + 0.3 * nose) * (1.0 - 0.3 * ear_w)
    specular = 1.0 + 0.4 * tzone - 0.4 * cheeks + 0.5 * lips
    gloss = np.clip(0.5 * tzone - 0.8 * cheeks + 0.8 * lips, -1.0, 1.0)
    thin = np.clip(np.maximum.reduce([ear_w, 0.7 * wings, 0.6 * lids]), 0.0, 1.0)
    f32 = lambda x: np.where(skin, x, 0.0).astype(np.float32)  # noqa: E731 (off the skin: no detail, no warmth)
    return SkinMaterial(rest, detail.astype(np.float32), np.where(skin, specular, 1.0).astype(np.float32),
                        f32(gloss), f32(thin))


def fibonacci_directions(count: int) -> np.ndarray:
    """Return (count, 3) unit directions spread evenly over the sphere (a Fibonacci lattice)."""
    i = np.arange(count) + 0.5
    z = 1 - 2 * i / count
    r = np.sqrt(1 - z * z)
    phi = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def bake_ambient_occlusion(head: BlendshapeHead, vertices: np.ndarray | None = None, faces: np.ndarray | None = None,
                           directions: int = AO_DIRECTIONS) -> np.ndarray:
    """Return (V,) float32 ambient occlusion in 0..1 (1: the vertex sees its whole hemisphere) of the head's neutral
    (or of (V, 3) `vertices`), cosine-weighted over `directions` directions; 1 outside `AO_PARTS` on the ICT layout.

    Per direction d the mesh (its vertices and triangle centroids) is splatted into a depth map perpendicular to d
    (cells of AO_CELL_CM, keeping the greatest height along d), and a vertex is lit from d when nothing in its cell or
    the 8 around it stands more than AO_BIAS_CM above it. The vertex normals come from the same mesh.
    """
    from avatar.blend import vertex_normals

    verts = np.asarray(head.neutral if vertices is None else vertices, np.float64)
    tris = np.asarray(head.faces if faces is None else faces, np.int64)
    return _bake(verts.astype(np.float32).tobytes(), tris.tobytes(), len(verts), directions,
                 _ao_mask(head).tobytes(), vertex_normals(verts.astype(np.float32), tris).astype(np.float64).tobytes()).copy()


def _ao_mask(head: BlendshapeHead) -> np.ndarray:
    """Return (V,) bool: the vertices ambient occlusion darkens."""
    n = head.num_vertices
    if not head.is_ict:
        return np.ones(n, bool)
    mask = np.zeros(n, bool)
    for name in AO_PARTS:
        a, b = ICT_PARTS[name]
        mask[a:b] = True
    return mask


@lru_cache(maxsize=8)
def _bake(verts_b: bytes, tris_b: bytes, n: int, directions: int, mask_b: bytes, normals_b: bytes) -> np.ndarray:
    """Cached bake keyed on the mesh's bytes (an identity is baked once per process, whichever renderer asks)."""
    verts = np.frombuffer(verts_b, np.float32).reshape(n, 3).astype(np.float64)
    tris = np.frombuffer(tris_b, np.int64).reshape(-1, 3)
    mask = np.frombuffer(mask_b, bool)
    normals = np.frombuffer(normals_b, np.float64).reshape(n, 3)
    points = np.concatenate([verts, verts[tris].mean(1)])
    probe = np.flatnonzero(mask)
    # Test a point just off the surface, so a vertex is not hidden by the triangles it belongs to.
    q = verts[probe] + 0.05 * normals[probe]
    seen = np.zeros(len(probe))
    total = np.zeros(len(probe))
    for d in fibonacci_directions(directions):
        cos = normals[probe] @ d
        front = cos > 0
        if not front.any():
            continue
        # An orthonormal basis (u, w) of the plane perpendicular to d.
        u = np.cross(d, [0.0, 1.0, 0.0] if abs(d[1]) < 0.9 else [1.0, 0.0, 0.0])
        u /= np.linalg.norm(u)
        w = np.cross(d, u)
        pu, pw, ph = points @ u, points @ w, points @ d
        x0, y0 = pu.min() - 2 * AO_CELL_CM, pw.min() - 2 * AO_CELL_CM
        cols = int((pu.max() - x0) / AO_CELL_CM) + 3
        rows = int((pw.max() - y0) / AO_CELL_CM) + 3
        ix = ((pu - x0) / AO_CELL_CM).astype(np.int64)
        iy = ((pw - y0) / AO_CELL_CM).astype(np.int64)
        top = np.full(rows * cols, -np.inf)
        np.maximum.at(top, iy * cols + ix, ph)
        top = top.reshape(rows, cols)
        # The highest surface in each cell's 3 x 3 neighbourhood (a splat is a point; its triangle spans cells).
        pad = np.pad(top, 1, constant_values=-np.inf)
        near = np.max([pad[1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
        qx = ((q @ u - x0) / AO_CELL_CM).astype(np.int64)
        qy = ((q @ w - y0) / AO_CELL_CM).astype(np.int64)
        # Slope-scaled bias: the 3 x 3 cells span ~2 cells sideways, over which a surface tilted away from d rises.
        tan = np.sqrt(np.clip(1 - cos * cos, 0, 1)) / np.maximum(cos, 1e-3)
        lit = near[qy, qx] <= q @ d + AO_BIAS_CM + np.minimum(2.5 * AO_CELL_CM * tan, 3.0)
        weight = np.where(front, cos, 0.0)
        seen += weight * lit
        total += weight
    ao = np.ones(n, np.float32)
    ao[probe] = (seen / np.maximum(total, 1e-12)).astype(np.float32)
    return ao


def skin_attributes(head: BlendshapeHead, appearance: object, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return what both renderers feed their shaders for the skin under `appearance`'s switches (an
    `avatar.appearance.Appearance`): (V, 3) float32 rest positions, (V, 4) float32 (detail, specular, gloss, thin) with
    the switched-off parts neutral (0, 1, 0, 0), and (V,) float32 ambient-occlusion light factors (1 when off), the
    occlusion baked on this identity's neutral over the drawn `faces`."""
    mat = skin_material(head)
    attr = mat.attributes()
    if not appearance.skin_detail:
        attr[:, 0] = 0.0
    if not appearance.skin_regions:
        attr[:, 1], attr[:, 2] = 1.0, 0.0
    if not appearance.subsurface:
        attr[:, 3] = 0.0
    if appearance.skin_regions and head.is_ict and getattr(appearance, "teeth_shade", False) \
            and not getattr(appearance, "mouth_interior", False):  # the tongue's sheen, dimmed by its shade (renderers.teeth)
        a, b = ICT_PARTS["gums_tongue"]
        attr[a:b, 1], attr[a:b, 2] = TONGUE_SHEEN
    ao = np.ones(head.num_vertices, np.float32)
    if appearance.ambient_occlusion:
        ao = (1.0 - float(appearance.ambient_occlusion_strength) * (1.0 - bake_ambient_occlusion(head, faces=faces))).astype(np.float32)
    return mat.rest, attr, ao
