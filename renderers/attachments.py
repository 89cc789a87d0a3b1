"""Returns the geometry both renderers draw on top of a head: hair, raised brows and clothing (`Attachments`).

A head from ICT-FaceKit is a bald bust cut at the neck; a person has hair, brows that stand off the skin and
clothes. Each is built here once per head and appearance, in the head's rest space, as plain numpy:

- hair (`Appearance.hair`): a grid over the skull in spherical coordinates about its centre. Each grid vertex
  sits on the scalp (the farthest surface sample of the head in its direction) pushed out by the style's
  thickness, which fades to a hair's breadth at the hairline (`avatar.appearance.hair_coverage`, the rule the
  root paint uses too). Bob and long styles fall from the widest part of the head as a vertical curtain (the
  running maximum of each column's distance from the skull's axis, so the hair passes over the ears), open in
  front of the face, ending in tapered clumps of uneven lengths (`avatar.appearance.hair_clumps`). A grid
  triangle is drawn where the style covers all three corners, with a per-column jitter so the hairline is ragged,
  not a ruled line. Strand coordinates (u across strands, v along them, cm) and the
  strands' direction (down the grid's columns, radiating from the crown) feed the strand shading.
- clothing (`Appearance.clothing`): a crew neck, a surface of rings from a collar just outside the neck down
  over the shoulders (a super-ellipse 36 cm across), never inside the head's own neck mesh.
- brows (`Appearance.brow_shell`): the face's triangles under the painted brows drawn again, each vertex lifted
  along its posed normal by up to `BROW_LIFT_CM` (tapering to the skin at the brow's edge), so the brows follow
  every expression and have depth.

Hair and clothing are rigid: each frame they take the rigid motion of the skull (`rigid_fit`: the least-squares
rotation and translation of the head's anchor vertices, those no expression moves, from rest to posed), so they
follow head pose, need no blendshape deltas, and work with any posing path. The brows are posed from the posed
head (vertex + lift x normal). `renderers.strand_shading` shades all three in both renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from avatar.appearance import (BROW_LIFT_CM, HAIR_CLUMP_CM, HAIR_STYLES, Appearance, HairStyle, brow_weights, clothing_albedo, hair_albedo,
                               curtain_coverage, hair_clumps, hair_coverage, hair_tip_length, hairline_height, head_frame, skin_albedo, smoothstep)
from avatar.head import ICT_PARTS, BlendshapeHead

if TYPE_CHECKING:
    import torch

HAIR_ROWS = 96
"""Grid rows from the crown down to the nape (spherical part): ~0.25 cm apart on the ICT head."""
HAIR_COLUMNS = 160
"""Grid columns around the head: ~0.35 cm apart at the temples."""
HAIR_MIN_CM = 0.06
"""Thickness of the hair at its edge (enough to stay in front of the scalp in the depth buffer)."""
STRAND_RADIUS_CM = 9.0
"""Strand coordinate u is the azimuth times this, so strands are evenly spaced around the head and converge on the crown."""
HAIR_TAPER_CM = 2.0
"""Height above the hairline's cut over which the hair thickens from `HAIR_MIN_CM` to the style's thickness."""
HAIRLINE_EDGE = 0.0
"""At the hair's very edge (the cut contour) its albedo is this much of the hair's colour over the skin's: 0, the edge
is the skin's colour, so the shell's outline does not show; the colour comes in over `HAIRLINE_FADE_CM`."""
HAIRLINE_FADE_CM = 0.6
"""How far above the hairline's cut the hair's colour and highlights take to come in full (~12 px at 512 px, front):
a painted alpha over the skin beneath, which both renderers draw alike. A curtain's sides fade over 0.35 of their
coverage instead."""
BROW_SHELL_MIN = 0.3
"""Brow paint weight above which a face vertex carries the raised brow shell."""
BROW_HAIRNESS = 0.5
"""The brows' strand texture and highlights at this fraction of the hair's (short hairs lying flat on the skin)."""
COLLAR_GAP_CM = 0.35
"""The collar stands this far off the neck."""


@dataclass(frozen=True)
class Attachments:
    """What a renderer draws besides the head, in the head's rest space (see the module docstring).

    Rigid part (hair and clothing), R vertices: `rest` (R, 3), `normals` (R, 3) unit, `tangents` (R, 3) unit
    strand directions, `albedo` (R, 3) sRGB, `strand` (R, 2) strand coordinates (cm), `hairness` (R,) 1 for
    hair (anisotropic highlights, strand texture), 0 for cloth; `faces` (Fr, 3) int32 into the rigid vertices.
    Brow shell, B vertices: `brow_base` (B,) head vertex each one lifts off, `brow_lift` (B,) cm,
    `brow_tangent` (B, 3), `brow_albedo` (B, 3), `brow_strand` (B, 2); `brow_faces` (Fb, 3) int32 into them.
    `anchors` (K,) head vertices no expression moves and `anchor_rest` (K, 3) their rest positions: the rigid
    part follows their rigid motion (`rigid_fit`).
    """

    rest: np.ndarray
    normals: np.ndarray
    tangents: np.ndarray
    albedo: np.ndarray
    strand: np.ndarray
    hairness: np.ndarray
    faces: np.ndarray
    brow_base: np.ndarray
    brow_lift: np.ndarray
    brow_tangent: np.ndarray
    brow_albedo: np.ndarray
    brow_strand: np.ndarray
    brow_faces: np.ndarray
    anchors: np.ndarray
    anchor_rest: np.ndarray

    @property
    def num_rigid(self) -> int:
        """Return R, the number of rigid (hair and clothing) vertices."""
        return len(self.rest)

    @property
    def num_brow(self) -> int:
        """Return B, the number of brow shell vertices."""
        return len(self.brow_base)

    def hair_faces(self) -> np.ndarray:
        """Return the rigid faces whose vertices are hair (all three corners), (F, 3) int32."""
        return self.faces[(self.hairness[self.faces] > 0).all(1)]


def build_attachments(head: BlendshapeHead, appearance: Appearance, faces: np.ndarray) -> Attachments | None:
    """Return the Attachments `appearance` asks for on `head` (its drawn `faces`), or None when it asks for none.

    Only the ICT layout gets hair, brows and clothing (they are placed from its landmarks and parts); any other
    head is drawn as it comes.
    """
    if not head.is_ict or not (appearance.hair or appearance.brow_shell or appearance.clothing):
        return None
    v = head.neutral.astype(np.float64)
    lm = v[head.landmarks68]
    frame = head_frame(v, lm)
    parts: list[tuple[np.ndarray, ...]] = []
    skin = skin_albedo(appearance.skin)
    if appearance.hair:
        parts.append(_hair(head, faces, frame, HAIR_STYLES[appearance.hair_style] if appearance.hair_style in HAIR_STYLES
                           else HAIR_STYLES[_checked_style(appearance)], hair_albedo(appearance), skin))
    if appearance.clothing:
        parts.append(_clothing(head, frame, clothing_albedo(appearance)))
    rest, normals, tangents, albedo, strand, hairness, tri = _concatenate(parts)
    # Only the grid vertices a drawn triangle uses (a short style uses about half of its grid): less to transform.
    used, tri = np.unique(tri, return_inverse=True)
    tri = tri.reshape(-1, 3).astype(np.int32)
    rest, normals, tangents, albedo, strand, hairness = (a[used] for a in (rest, normals, tangents, albedo, strand, hairness))
    brow = _brow_shell(head, faces, appearance) if appearance.brow_shell else None
    empty3 = np.zeros((0, 3), np.float32)
    return Attachments(
        rest=rest, normals=normals, tangents=tangents, albedo=albedo, strand=strand, hairness=hairness, faces=tri,
        brow_base=brow[0] if brow else np.zeros(0, np.int64), brow_lift=brow[1] if brow else np.zeros(0, np.float32),
        brow_tangent=brow[2] if brow else empty3, brow_albedo=brow[3] if brow else empty3,
        brow_strand=brow[4] if brow else np.zeros((0, 2), np.float32),
        brow_faces=brow[5] if brow else np.zeros((0, 3), np.int32),
        anchors=(anchors := _anchors(head)), anchor_rest=v[anchors])


def _checked_style(appearance: Appearance) -> str:
    hair_albedo(appearance)  # raises the one-line error for an unknown style
    return appearance.hair_style


def _concatenate(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    if not parts:
        z3 = np.zeros((0, 3), np.float32)
        return z3, z3, z3, z3, np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros((0, 3), np.int32)
    out, offset, tris = [], 0, []
    for p in parts:
        tris.append(p[6] + offset)
        offset += len(p[0])
    for i in range(6):
        out.append(np.concatenate([p[i] for p in parts]).astype(np.float32))
    out.append(np.concatenate(tris).astype(np.int32))
    return tuple(out)


def _anchors(head: BlendshapeHead) -> np.ndarray:
    """Return head vertices of the skull that no expression moves (the rigid motion's anchors)."""
    a, b = ICT_PARTS["head_neck"]
    idx = np.arange(a, b)
    still = np.abs(head.deltas[:, a:b]).max(axis=(0, 2)) == 0
    v = head.neutral[idx]
    high = v[:, 1] > np.median(v[:, 1])
    chosen = idx[still & high]
    return chosen if len(chosen) >= 4 else idx[still]


# ------------------------------------------------------------------------------------------ rigid motion
def rigid_fit(rest: np.ndarray, posed: np.ndarray) -> np.ndarray:
    """Return the (4, 4) float32 rigid transform (rotation, translation; least squares, Kabsch) taking (K, 3) `rest` to `posed`."""
    p, q = np.asarray(rest, np.float64), np.asarray(posed, np.float64)
    mp, mq = p.mean(0), q.mean(0)
    u, _, vt = np.linalg.svd((p - mp).T @ (q - mq))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = r, mq - r @ mp
    return m.astype(np.float32)


def rigid_fit_torch(rest: torch.Tensor, posed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ((B, 3, 3) rotations, (B, 3) translations) taking (K, 3) `rest` to each of (B, K, 3) `posed` (Kabsch, differentiable)."""
    import torch

    mp, mq = rest.mean(0), posed.mean(1)
    h = (rest - mp).T[None] @ (posed - mq[:, None])  # (B, 3, 3)
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.transpose(1, 2) @ u.transpose(1, 2)))
    diag = torch.ones(len(d), 3, dtype=h.dtype, device=h.device)
    diag = torch.cat([diag[:, :2], d[:, None]], 1)
    r = vt.transpose(1, 2) @ torch.diag_embed(diag) @ u.transpose(1, 2)
    return r, mq - (r @ mp[:, None]).squeeze(-1)


def pose_transform(head: BlendshapeHead, head_pose: np.ndarray | None) -> np.ndarray:
    """Return the (4, 4) float32 rigid transform of a (6,) head pose (pitch, yaw, roll; tx, ty, tz) about the head's pivot."""
    from avatar.rotations import rotation_matrix

    m = np.eye(4)
    if head_pose is not None:
        hp = np.asarray(head_pose, np.float64).reshape(6)
        r = rotation_matrix(hp[0], hp[1], hp[2])
        pivot = np.asarray(head.pivot, np.float64)
        m[:3, :3], m[:3, 3] = r, pivot + hp[3:6] - r @ pivot
    return m.astype(np.float32)


# ------------------------------------------------------------------------------------------ hair
def _scalp_samples(head: BlendshapeHead, faces: np.ndarray) -> np.ndarray:
    """Return (N, 3) points spread over the head's skin (face and head-and-neck parts): vertices and triangle samples."""
    v = head.neutral.astype(np.float64)
    skin = np.zeros(len(v), bool)
    for part in ("face", "head_neck"):
        a, b = ICT_PARTS[part]
        skin[a:b] = True
    tri = faces[skin[faces].all(1)]
    bary = np.array([[1, 1, 1], [4, 1, 1], [1, 4, 1], [1, 1, 4], [2, 2, 1], [2, 1, 2], [1, 2, 2]], np.float64)
    bary /= bary.sum(1, keepdims=True)
    samples = np.einsum("sk,fkc->fsc", bary, v[tri]).reshape(-1, 3)
    return np.concatenate([v[skin], samples])


def _scalp_radius(points: np.ndarray, centre: np.ndarray, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Return the scalp's distance from `centre` in the directions (theta from +y, phi about y from +z), radians:
    the nearest surface sample per angular bin (the first surface a ray from the centre meets), holes filled from
    their neighbours, then grown over bumps and smoothed.

    The nearest, not the farthest: behind and below the ears a bin's farthest samples were the ear's back, so the
    shell stood 2-3.6 cm off the mastoid and the nape and its edge drew a flap poking out behind the ear at
    three-quarter and profile views. An ear now stands out through the hair, as a real one does."""
    rows, cols = 48, 96
    rel = points - centre
    r = np.linalg.norm(rel, axis=1)
    th = np.arccos(np.clip(rel[:, 1] / r, -1, 1))
    ph = np.arctan2(rel[:, 0], rel[:, 2])
    bi = np.clip((th / np.pi * rows).astype(int), 0, rows - 1)
    bj = np.clip(((ph + np.pi) / (2 * np.pi) * cols).astype(int), 0, cols - 1)
    grid = np.full((rows, cols), np.inf)
    np.minimum.at(grid, (bi, bj), r)
    grid[np.isinf(grid)] = -1.0  # an empty bin: filled below
    for _ in range(rows):
        empty = grid < 0
        if not empty.any():
            break
        neighbours = np.stack([np.roll(grid, 1, 1), np.roll(grid, -1, 1), np.vstack([grid[:1], grid[:-1]]),
                               np.vstack([grid[1:], grid[-1:]])])
        grid = np.where(empty, neighbours.max(0), grid)
    # Max over each cell's neighbours (the hair rests on bumps, never inside them), then a light blur.
    padded = np.vstack([grid[:1], grid, grid[-1:]])
    grown = np.max([np.roll(padded, s, 1)[1 + di:rows + 1 + di] for s in (-1, 0, 1) for di in (-1, 0, 1)], axis=0)
    padded = np.vstack([grown[:1], grown, grown[-1:]])
    smooth = np.mean([np.roll(padded, s, 1)[1 + di:rows + 1 + di] for s in (-1, 0, 1) for di in (-1, 0, 1)], axis=0)
    # Bilinear lookup at the bin centres.
    fi = np.clip(theta / np.pi * rows - 0.5, 0, rows - 1)
    fj = (phi + np.pi) / (2 * np.pi) * cols - 0.5
    i0 = np.floor(fi).astype(int)
    i1 = np.minimum(i0 + 1, rows - 1)
    j0 = np.floor(fj).astype(int)
    ti, tj = fi - i0, fj - j0
    j0m, j1m = j0 % cols, (j0 + 1) % cols
    top = smooth[i0, j0m] * (1 - tj) + smooth[i0, j1m] * tj
    bottom = smooth[i1, j0m] * (1 - tj) + smooth[i1, j1m] * tj
    return top * (1 - ti) + bottom * ti


def _envelope(h: np.ndarray) -> np.ndarray:
    """Return a smooth surface at or beyond (rows, cols + 1) distances `h` (last column = first): each cell grown to the
    largest of its neighbours within 3 cells, then blurred, so a bump (an ear) becomes a gentle swell, not a ridge."""
    ring = h[:, :-1]
    for axis, wrap in ((0, False), (1, True)):
        grown = ring.copy()
        for k in range(1, 4):
            for sign in (-1, 1):
                if wrap:
                    shifted = np.roll(ring, sign * k, 1)
                else:
                    shifted = np.concatenate([ring[:1].repeat(k, 0), ring[:-k]]) if sign > 0 else np.concatenate([ring[k:], ring[-1:].repeat(k, 0)])
                grown = np.maximum(grown, shifted)
        ring = grown
    for _ in range(3):
        padded = np.concatenate([ring[:1], ring[:1], ring, ring[-1:], ring[-1:]])
        ring = (padded[:-4] + 2 * padded[1:-3] + 3 * padded[2:-2] + 2 * padded[3:-1] + padded[4:]) / 9
        ring = (np.roll(ring, 2, 1) + 2 * np.roll(ring, 1, 1) + 3 * ring + 2 * np.roll(ring, -1, 1) + np.roll(ring, -2, 1)) / 9
    ring = np.maximum(ring, h[:, :-1])
    return np.concatenate([ring, ring[:, :1]], 1)


def phi_of_columns(cols: int) -> np.ndarray:
    """Return the (cols + 1,) azimuths of the hair grid's columns, -pi to pi (the last repeats the first)."""
    return np.linspace(-np.pi, np.pi, cols + 1)


def _grid_frames(p: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return unit (normals, tangents) of a (rows, cols + 1, 3) grid whose last column repeats the first: tangents run
    down the columns, normals point away from the skull's axis."""
    body = p[:, :-1]
    d_col = np.roll(body, -1, 1) - np.roll(body, 1, 1)
    d_row = np.empty_like(body)
    d_row[1:-1] = body[2:] - body[:-2]
    d_row[0], d_row[-1] = body[1] - body[0], body[-1] - body[-2]
    n = np.cross(d_col, d_row)
    radial = body - centre
    flat = np.linalg.norm(n, axis=-1) < 1e-9
    n[flat] = radial[flat]
    n *= np.where((n * radial).sum(-1, keepdims=True) < 0, -1.0, 1.0)
    n /= np.linalg.norm(n, axis=-1, keepdims=True).clip(1e-12)
    t = d_row - n * (d_row * n).sum(-1, keepdims=True)
    t /= np.linalg.norm(t, axis=-1, keepdims=True).clip(1e-12)
    close = lambda a: np.concatenate([a, a[:, :1]], 1)  # noqa: E731 - the seam column
    return close(n), close(t)


def _grid_triangles(rows: int, cols: int, keep_vertex: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Return (F, 3) int32 triangles of a (rows, cols + 1) grid whose corners all have `keep_vertex` > the column's threshold."""
    idx = np.arange(rows * (cols + 1)).reshape(rows, cols + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    quads = np.stack([a, c, d, b], -1).reshape(-1, 4)
    thr = np.broadcast_to(threshold[None, :cols], (rows - 1, cols)).reshape(-1)
    k = keep_vertex.reshape(-1)
    ok = (k[quads] > thr[:, None]).all(1)
    q = quads[ok]
    return np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]]).astype(np.int32)


def _draped(head: BlendshapeHead, faces: np.ndarray, frame: object, style: HairStyle, p: np.ndarray, cover: np.ndarray,
            th: np.ndarray, ph: np.ndarray, steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the hair grid (rows', cols + 1, 3) and its coverage: the shell `p` over the skull as it is, or for a style
    with a curtain (`drape`), hung from the widest part of the head and continued straight down to its length in
    `steps` rows (None: one per 0.5 cm of the longest column; `curtain_rows`)."""
    if style.drape is None:
        return p, cover
    centre = frame.centre  # type: ignore[attr-defined]
    theta = th[:, 0]
    cols = th.shape[1] - 1
    # A curtain: below the crown each column hangs no nearer the skull's axis than anywhere above it, then falls
    # straight down to its length.
    rel = p - centre
    horiz = np.hypot(rel[..., 0], rel[..., 2])
    start = int(np.searchsorted(theta, np.radians(55.0)))
    hung = horiz.copy()
    hung[start:] = np.maximum.accumulate(horiz[start:], axis=0)
    # The running maximum steps out where a bump (an ear) begins; hair drapes over it, so the steps are smoothed
    # into ramps (never inside the head: the result stays at or beyond the plain maximum).
    hung[start:] = np.maximum.accumulate(horiz[start:], axis=0)
    hung = _envelope(hung)
    p = centre + np.stack([hung * np.sin(ph), rel[..., 1], hung * np.cos(ph)], -1)
    last_y = p[-1, :, 1]
    # Each column ends at its own length: clumps of strands of uneven lengths tapering to points (hair_tip_length),
    # never above the spherical part's last row.
    bottom = np.minimum(frame.chin_y - style.drape - hair_tip_length(phi_of_columns(cols)), last_y - 0.5)  # type: ignore[attr-defined]
    # Below the last row the curtain falls straight, so it must clear whatever of the head lies there (the ears).
    samples = _scalp_samples(head, faces)
    low = samples[(samples[:, 1] < last_y.max()) & (samples[:, 1] > max(bottom.min(), frame.chin_y - 2.0))] - centre  # type: ignore[attr-defined]
    reach = np.zeros(cols + 1)
    j = np.clip(np.round((np.arctan2(low[:, 0], low[:, 2]) + np.pi) / (2 * np.pi) * cols).astype(int), 0, cols)
    np.maximum.at(reach, j, np.hypot(low[:, 0], low[:, 2]))
    reach[0] = reach[-1] = max(reach[0], reach[-1])
    reach = np.max([np.roll(reach[:-1], k) for k in range(-3, 4)], axis=0)
    reach = np.append(reach, reach[0]) + style.sides
    rel = p - centre
    need = np.maximum(np.hypot(rel[..., 0], rel[..., 2]), reach[None])
    grow = need / np.maximum(np.hypot(rel[..., 0], rel[..., 2]), 1e-9)
    ramp = smoothstep(np.radians(60.0), np.radians(95.0), th)[..., None]  # swell out smoothly towards the last row
    scale = 1 + (grow[..., None] - 1) * ramp
    p = centre + rel * np.concatenate([scale[..., :1], np.ones_like(scale), scale[..., :1]], -1)
    if steps is None:
        steps = curtain_rows(last_y, bottom)
    ys = last_y[None] + (bottom - last_y)[None] * np.linspace(0, 1, steps + 1)[1:, None]
    curtain = np.stack([np.broadcast_to(p[-1:, :, 0], ys.shape), ys, np.broadcast_to(p[-1:, :, 2], ys.shape)], -1)
    # Locks: towards the ends each clump's middle stands out from the notches beside it (outwards only, away from
    # the skull's axis, so never into the head).
    down = (last_y[None] - ys) / np.maximum(last_y - bottom, 1e-9)[None]
    _, point = hair_clumps(phi_of_columns(cols))
    out = curtain - centre
    horiz = np.hypot(out[..., 0], out[..., 2])[..., None]
    radial = np.concatenate([out[..., :1], np.zeros_like(horiz), out[..., 2:]], -1) / np.maximum(horiz, 1e-9)
    curtain = curtain + radial * (HAIR_CLUMP_CM * down * point[None])[..., None]
    p = np.concatenate([p, curtain])
    cover = np.concatenate([cover, hair_coverage(curtain.reshape(-1, 3), frame, style, drape=True).reshape(ys.shape)])  # type: ignore[arg-type]
    return p, cover


def curtain_rows(last_y: np.ndarray, bottom: np.ndarray) -> int:
    """Return how many rows a curtain hung from (cols + 1,) heights `last_y` down to `bottom` is drawn in: one per
    0.5 cm of its longest column, at least 2."""
    return max(2, int(np.ceil(float((last_y - bottom).max()) / 0.5)))


def _hair(head: BlendshapeHead, faces: np.ndarray, frame: object, style: HairStyle, colour: np.ndarray,
          skin: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the hair's (vertices, normals, tangents, albedo, strand, hairness, faces) in the head's rest space."""
    centre = frame.centre  # type: ignore[attr-defined]
    cols = HAIR_COLUMNS
    end = np.radians(100.0 if style.drape is not None else 150.0)
    theta = np.linspace(0.0, end, HAIR_ROWS)
    phi = phi_of_columns(cols)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    direction = np.stack([np.sin(th) * np.sin(ph), np.cos(th), np.sin(th) * np.cos(ph)], -1)
    radius = _scalp_radius(_scalp_samples(head, faces), centre, th.reshape(-1), ph.reshape(-1)).reshape(th.shape)
    scalp = centre + radius[..., None] * direction
    cover = hair_coverage(scalp.reshape(-1, 3), frame, style, drape=True).reshape(th.shape)  # type: ignore[arg-type]
    # An uneven hairline: the cut-off wanders smoothly around the head (the same for every head).
    jitter = 0.5 + 0.3 * np.sin(7.0 * phi + 1.3) + 0.2 * np.sin(19.0 * phi + 0.4)
    threshold = 0.25 + 0.4 * jitter
    depth = style.sides + (style.top - style.sides) * (1 - smoothstep(np.radians(40), np.radians(95), th))
    # The shell thins to a hair's breadth at the cut and thickens over HAIR_TAPER_CM of height above it, so its edge lies
    # on the scalp and no steep wall stands at the hairline: over the ~1 cm the coverage takes to rise, the wall at the
    # temples (seen edge-on from the front) drew a row of dark spikes. A curtain's sides (drape) keep their own ramp.
    height = hairline_height(scalp.reshape(-1, 3), frame, style).reshape(th.shape)  # type: ignore[arg-type]
    cut = -0.2 + _smoothstep_inverse(threshold)  # the height at which the coverage reaches the cut's threshold
    # Across the hairline, not up the head (the height over its slope along the scalp; see the colour's fade below).
    across = cut[None] + (height - cut[None]) / _hairline_slope(height, scalp, theta)
    ramp = smoothstep(cut[None], cut[None] + HAIR_TAPER_CM, across)
    line_cover = smoothstep(-0.2, 0.8, height)
    ramp = np.where(cover > line_cover, np.maximum(ramp, smoothstep(threshold[None], 1.0, cover)), ramp)
    taper = np.maximum(depth * ramp, HAIR_MIN_CM)
    # Strands lie along the scalp, so they are shaded with the frame of the untapered shell (the style's thickness
    # everywhere, parallel to the scalp): the taper moves the outline, not the highlights, and leaves no dark band of
    # sideways-turned normals along the hairline.
    shading = np.maximum(depth, HAIR_MIN_CM)
    p, cover_all = _draped(head, faces, frame, style, scalp + taper[..., None] * direction, cover, th, ph)
    # The shading frame's shell hangs in as many rows as the drawn one (their columns' lengths differ by the taper: with
    # a row count of its own, 14 of identities 0-199 with a bob or long curtain failed to build).
    p_shading, _ = _draped(head, faces, frame, style, scalp + shading[..., None] * direction, cover, th, ph,
                           steps=len(p) - len(th))
    cover = cover_all
    rows = len(p)
    normals, tangents = _grid_frames(p_shading, centre)
    edge_normals, edge_tangents = _grid_frames(p, centre)  # the tapered shell's: on the scalp at the cut
    arc = np.concatenate([np.zeros((1, cols + 1)), np.cumsum(np.linalg.norm(np.diff(p_shading, axis=0), axis=-1), 0)])
    strand = np.stack([np.broadcast_to(phi[None] * STRAND_RADIUS_CM, (rows, cols + 1)), arc], -1)
    # The cut follows the coverage's contour, not the grid: triangles with any corner inside are kept and the corners
    # outside are moved onto the contour (cut along whole triangles, the edge was a saw at the temples, where the
    # hairline runs diagonally across the grid).
    inside = cover - threshold[None]
    # How far above the cut each vertex lies (cm; the shell's own height, a hair's breadth off the scalp at the cut).
    above = hairline_height(p.reshape(-1, 3), frame, style).reshape(p.shape[:2]) - cut[None]  # type: ignore[arg-type]
    # The colour's fade is measured across the hairline, not up the head: the height above the cut over its slope
    # along the scalp. Where the hairline runs steeply (behind the ears) the height rose within a grid cell, and each
    # row's fade, interpolated over the cell's triangles, drew a skin-coloured tooth: the edge was a saw.
    above = above / _hairline_slope(above, p, theta)
    # A curtain's own coverage (bob, long), beyond the cut's threshold: where it covers, the hair is in full colour
    # whatever the hairline beneath it does.
    curtain = curtain_coverage(p.reshape(-1, 3), frame, style).reshape(p.shape[:2]) - threshold[None]  # type: ignore[arg-type]
    tri, (p, normals, tangents, edge_normals, edge_tangents, strand, above, curtain) = _cut_at_contour(
        rows, cols, inside, (p, normals, tangents, edge_normals, edge_tangents, strand, above, curtain))
    albedo = colour * style.density + skin * (1 - style.density)
    # A soft hairline: the hair's colour comes in over HAIRLINE_FADE_CM from the skin's at the cut (an alpha painted over
    # the skin beneath, so the shell's outline does not draw a line), and its highlights with it; where it is skin, it is
    # shaded with the scalp-hugging tapered shell's frame, so it is lit as the skin beside it is.
    fade = np.maximum(smoothstep(0.0, 0.35, curtain), smoothstep(0.0, HAIRLINE_FADE_CM, above))
    alpha = HAIRLINE_EDGE + (1 - HAIRLINE_EDGE) * fade[..., None]
    normals = edge_normals + (normals - edge_normals) * alpha
    tangents = edge_tangents + (tangents - edge_tangents) * alpha
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True).clip(1e-12)
    tangents /= np.linalg.norm(tangents, axis=-1, keepdims=True).clip(1e-12)
    alpha = alpha.reshape(-1, 1)
    albedo = skin + (albedo - skin) * alpha
    # Hairness stays above 0 at the edge: 0 marks cloth for the draws (renderers.gl_attachments).
    hairness = style.density * np.maximum(alpha[:, 0], 0.02)
    return (p.reshape(-1, 3), normals.reshape(-1, 3), tangents.reshape(-1, 3), albedo, strand.reshape(-1, 2),
            hairness, tri)


def _surface_slope(f: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return (rows, cols + 1) |grad f| per cm along the surface of a grid `p` (rows, cols + 1, 3) whose last column
    repeats the first: central differences down the columns and around the rows (the grid's directions are near
    orthogonal on the skull)."""
    body, fb = p[:, :-1], f[:, :-1]
    d_around = np.linalg.norm(np.roll(body, -1, 1) - np.roll(body, 1, 1), axis=-1)
    g_around = (np.roll(fb, -1, 1) - np.roll(fb, 1, 1)) / np.maximum(d_around, 1e-9)
    d_down = np.linalg.norm(np.gradient(body, axis=0), axis=-1)
    g_down = np.gradient(fb, axis=0) / np.maximum(d_down, 1e-9)
    slope = np.hypot(g_around, g_down)
    return np.concatenate([slope, slope[:, :1]], 1)


def _hairline_slope(f: np.ndarray, p: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Return (rows, cols + 1) the slope of the height above the hairline `f` along the surface of grid `p`, at least 1,
    and 1 within 20-35 degrees of the crown (rows beyond `theta`'s are a curtain's): the hairline never comes near the
    crown, where the columns converge and a height that depends on the azimuth looks steep between points ~0 apart."""
    away = np.ones(len(p))
    away[:len(theta)] = smoothstep(np.radians(20.0), np.radians(35.0), theta)
    return 1.0 + (np.maximum(_surface_slope(f, p), 1.0) - 1.0) * away[:, None]


def _smoothstep_inverse(y: np.ndarray) -> np.ndarray:
    """Return x in [0, 1] with smoothstep(0, 1, x) = y (y in [0, 1]), by interpolation in a fine table."""
    x = np.linspace(0.0, 1.0, 2049)
    return np.interp(y, x * x * (3 - 2 * x), x)


def _cut_at_contour(rows: int, cols: int, inside: np.ndarray, fields: tuple[np.ndarray, ...]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Return (triangles (F, 3) int32, `fields` with the outside corners moved onto the contour `inside` = 0) of a
    (rows, cols + 1) grid whose last column repeats the first.

    A triangle is kept when any corner has `inside` > 0; each kept corner with `inside` <= 0 moves to the mean of the
    zero crossings along its edges to inside corners (every field, (rows, cols + 1[, k]), interpolated linearly; the
    caller renormalises unit vectors), so the outline follows the contour within a fraction of a cell. The seam's two
    copies of a vertex move together."""
    n = rows * (cols + 1)
    flat = [f.reshape(n, -1).astype(np.float64) for f in fields]
    f = inside.reshape(-1)
    idx = np.arange(n).reshape(rows, cols + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    quads = np.stack([a, c, d, b], -1).reshape(-1, 4)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    tris = tris[(f[tris] > 0).any(1)]
    canon = np.where(np.arange(n) % (cols + 1) == cols, np.arange(n) - cols, np.arange(n))  # the seam's copy -> column 0
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    edges = np.unique(np.sort(edges, 1), axis=0)
    out_in = edges[(f[edges[:, 0]] > 0) != (f[edges[:, 1]] > 0)]
    out_in = np.where((f[out_in[:, 0]] > 0)[:, None], out_in[:, ::-1], out_in)  # (outside, inside)
    o, i = out_in[:, 0], out_in[:, 1]
    t = (f[o] / (f[o] - f[i]))[:, None]  # f[o] <= 0 < f[i]: t in [0, 1)
    count = np.bincount(canon[o], minlength=n).astype(np.float64)
    moved = count > 0
    result = []
    for field in flat:
        crossing = field[o] + (field[i] - field[o]) * t
        total = np.zeros_like(field)
        np.add.at(total, canon[o], crossing)
        new = field.copy()
        new[moved] = total[moved] / count[moved, None]
        new = new[canon]  # the seam's copy takes column 0's value
        result.append(new.reshape(fields[len(result)].shape).astype(fields[len(result)].dtype))
    return tris.astype(np.int32), tuple(result)


# ------------------------------------------------------------------------------------------ clothing
def _clothing(head: BlendshapeHead, frame: object, colour: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return a crew-neck top's (vertices, normals, tangents, albedo, strand, hairness, faces) in the head's rest space."""
    v = head.neutral.astype(np.float64)
    skin = np.zeros(len(v), bool)
    for part in ("face", "head_neck"):
        a, b = ICT_PARTS[part]
        skin[a:b] = True
    body = v[skin]
    chin = frame.chin_y  # type: ignore[attr-defined]
    top = chin - 4.0
    ring = body[np.abs(body[:, 1] - top) < 0.6]
    axis = np.array([0.0, 0.0, 0.5 * (ring[:, 2].min() + ring[:, 2].max())])
    cols = 96
    phi = np.linspace(-np.pi, np.pi, cols + 1)
    dirs = np.stack([np.sin(phi), np.zeros_like(phi), np.cos(phi)], -1)

    def mesh_radius(y0: float, y1: float) -> np.ndarray:
        """The head mesh's farthest reach from the axis per azimuth between two heights (0 where it has none)."""
        pts = body[(body[:, 1] <= y0 + 0.3) & (body[:, 1] >= y1 - 0.3)]
        out = np.zeros(cols + 1)
        if len(pts):
            ang = np.arctan2(pts[:, 0], pts[:, 2] - axis[2])
            rad = np.hypot(pts[:, 0], pts[:, 2] - axis[2])
            j = np.clip(np.round((ang + np.pi) / (2 * np.pi) * cols).astype(int), 0, cols)
            np.maximum.at(out, j, rad)
            out[0] = out[-1] = max(out[0], out[-1])
            for _ in range(cols):  # fill azimuths no point fell in from their neighbours
                if (out > 0).all():
                    break
                out = np.where(out > 0, out, np.maximum(np.roll(out, 1), np.roll(out, -1)))
            out = np.max([np.roll(out, s) for s in (-2, -1, 0, 1, 2)], axis=0)
        return out

    neck = mesh_radius(top + 0.5, top - 0.5) + COLLAR_GAP_CM
    superellipse = 1.0 / ((np.abs(np.sin(phi)) / 18.0) ** 2.6 + (np.abs(np.cos(phi)) / 10.5) ** 2.6) ** (1 / 2.6)
    drop = np.array([-0.35, 0.0, 0.8, 2.0, 3.2, 4.4, 5.6, 7.0, 9.0, 13.0, 20.0, 30.0])
    blend = np.array([0.0, 0.0, 0.02, 0.12, 0.33, 0.58, 0.78, 0.9, 0.97, 1.0, 1.0, 1.0])
    radii = []
    for k, (dy, w) in enumerate(zip(drop, blend)):
        r = (1 - w) * neck + w * superellipse
        if k == 0:
            r = neck - 0.15  # the collar's rolled rim
        y = top - dy
        radii.append(np.maximum(r, mesh_radius(y + 0.6, y - 0.6) + COLLAR_GAP_CM if k > 1 else r))
    radii = np.array(radii)
    p = axis + radii[..., None] * dirs[None] + (top - drop)[:, None, None] * np.array([0.0, 1.0, 0.0])
    normals, tangents = _grid_frames(p, axis + np.array([0.0, top + 8.0, 0.0]))
    rows = len(drop)
    tri = _grid_triangles(rows, cols, np.ones(rows * (cols + 1)), np.full(cols + 1, 0.5))
    n = rows * (cols + 1)
    albedo = np.tile(colour, (n, 1))
    albedo[: 2 * (cols + 1)] *= 0.82  # the collar's band, a shade darker
    return (p.reshape(-1, 3), normals.reshape(-1, 3), tangents.reshape(-1, 3), albedo, np.zeros((n, 2)), np.zeros(n), tri)


# ------------------------------------------------------------------------------------------ brows
def _brow_shell(head: BlendshapeHead, faces: np.ndarray, appearance: Appearance) -> tuple[np.ndarray, ...] | None:
    """Return the raised brows' (base vertices, lifts, tangents, albedo, strand, faces), or None when the head has no brow region."""
    v = head.generic_neutral.astype(np.float64)
    a, b = ICT_PARTS["face"]
    face = np.zeros(len(v), bool)
    face[a:b] = True
    w = brow_weights(v, v[head.landmarks68], face)
    tri = faces[(w[faces] > BROW_SHELL_MIN).all(1) & face[faces].all(1)]
    if not len(tri):
        return None
    base, local = np.unique(tri, return_inverse=True)
    lift = BROW_LIFT_CM * smoothstep(BROW_SHELL_MIN, 0.85, w[base])
    x = v[base, 0] - v[head.landmarks68][:, 0].mean()
    tangent = np.stack([np.sign(x), np.full(len(x), 0.3), np.zeros(len(x))], -1)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    strand = np.stack([v[base, 1] + 0.3 * np.abs(x), np.abs(x)], -1)
    albedo = np.tile(np.asarray(appearance.brow_colour, np.float64), (len(base), 1))
    return (base.astype(np.int64), lift.astype(np.float32), tangent.astype(np.float32), albedo.astype(np.float32),
            strand.astype(np.float32), local.reshape(-1, 3).astype(np.int32))
