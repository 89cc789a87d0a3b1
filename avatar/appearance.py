"""Returns per-vertex albedo for a head: painted skin, brows, lips, irises, teeth (the ICT head has no textures).

A face is read from its brows, lips and eyes, so they are painted from the head's landmarks and
parts: brows as tapered bands along landmarks 17-26, lips inside the lip contour (48-59), irises
and pupils by distance from each eyeball's optical axis. Painting uses the generic neutral mesh, so
it follows the vertices through every expression and identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.errors import AvatarInputError
from avatar.head import ICT_PARTS, BlendshapeHead


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Return linear-light values of sRGB colours in [0, 1] (the piecewise sRGB curve)."""
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Return sRGB values of linear-light colours in [0, 1] (inverse of `srgb_to_linear`)."""
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055).astype(np.float32)

# sRGB colours (0..1).
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "light": (0.93, 0.78, 0.69),
    "medium": (0.84, 0.64, 0.52),
    "tan": (0.74, 0.54, 0.40),
    "brown": (0.55, 0.38, 0.27),
    "dark": (0.36, 0.24, 0.17),
}
EYE_COLOURS: dict[str, tuple[float, float, float]] = {
    "brown": (0.36, 0.22, 0.12), "blue": (0.30, 0.45, 0.62), "green": (0.33, 0.45, 0.28),
    "hazel": (0.45, 0.35, 0.18), "grey": (0.45, 0.48, 0.50),
}

# Materials that are drawn: ICT's lacrimal fluid, eye blend and eye occlusion are transparent
# overlays meant for a compositing renderer; drawn opaque they hide the iris, so they are skipped.
HIDDEN_MATERIALS = ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion")


@dataclass(frozen=True)
class Appearance:
    """Colours of a painted head: a skin tone name or sRGB triple, eye colour, brow and lip darkness."""

    skin: str | tuple[float, float, float] = "medium"
    eyes: str | tuple[float, float, float] = "brown"
    brow_colour: tuple[float, float, float] = (0.16, 0.11, 0.08)
    hair_cap: bool = True


def _rgb(value: str | tuple[float, float, float], table: dict[str, tuple[float, float, float]], what: str) -> np.ndarray:
    if isinstance(value, str):
        if value not in table:
            raise AvatarInputError(f"unknown {what} {value!r}: use one of {', '.join(table)} or an (r, g, b) triple in 0..1")
        return np.array(table[value], np.float32)
    arr = np.asarray(value, np.float32)
    if arr.shape != (3,) or arr.min() < 0 or arr.max() > 1:
        raise AvatarInputError(f"{what} must be a name or an (r, g, b) triple in 0..1, got {value!r}")
    return arr


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distance, t along the line in 0..1) from 2-D points (N, 2) to a polyline (M, 2)."""
    best = np.full(len(p), np.inf)
    best_t = np.zeros(len(p))
    seg_len = np.linalg.norm(np.diff(line, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    for i in range(len(line) - 1):
        a, b = line[i], line[i + 1]
        ab = b - a
        u = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
        d = np.linalg.norm(p - (a + u[:, None] * ab), axis=1)
        closer = d < best
        best[closer] = d[closer]
        best_t[closer] = (cum[i] + u[closer] * seg_len[i]) / cum[-1]
    return best, best_t


def _inside_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Return (N,) bool: which 2-D points lie inside the closed polygon (even-odd rule)."""
    inside = np.zeros(len(p), bool)
    x, y = p[:, 0], p[:, 1]
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xi)
    return inside


def _polygon_edge_distance(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    closed = np.concatenate([poly, poly[:1]])
    return _polyline_distance(p, closed)[0]


def _smooth(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def paint_head(head: BlendshapeHead, appearance: Appearance | None = None) -> np.ndarray:
    """Return (V, 3) float32 sRGB albedo per vertex for `head`.

    The ICT layout (any identity) is painted part by part; another head shows its own colours (the
    file's COLOR_0 or material colours, `head.vertex_colors`), or plain skin when it has none.
    """
    app = appearance or Appearance()
    skin = _rgb(app.skin, SKIN_TONES, "skin tone")
    iris_rgb = _rgb(app.eyes, EYE_COLOURS, "eye colour")
    v = head.generic_neutral
    n = len(v)
    if not head.is_ict:
        return head.vertex_colors.copy() if head.vertex_colors is not None else np.tile(skin, (n, 1)).astype(np.float32)
    colour = np.tile(skin, (n, 1)).astype(np.float32)

    def part(name: str) -> slice:
        a, b = ICT_PARTS[name]
        return slice(a, b)

    lm = v[head.landmarks68]
    face = np.zeros(n, bool)
    face[part("face")] = True
    xy = v[:, :2]

    # Lips: inside the outer lip contour, on the front of the face (and the inner lip surface).
    outer = lm[48:60, :2]
    lip_front = face & (v[:, 2] > lm[48:60, 2].min() - 1.2)
    d_edge = _polygon_edge_distance(xy, outer)
    inside = _inside_polygon(xy, outer)
    lip_w = np.where(inside, _smooth(-0.02, 0.12, d_edge), 1 - _smooth(0.0, 0.10, d_edge) ) * lip_front
    lip_w = np.where(inside, lip_w, lip_w * 0.35)
    lip_colour = np.clip(skin * np.array([0.86, 0.58, 0.58]) + np.array([0.06, 0.0, 0.02]), 0, 1)
    colour = colour * (1 - lip_w[:, None]) + lip_colour * lip_w[:, None]

    # Brows: tapered bands slightly below the brow landmarks (which trace the brow's upper edge).
    for idx in (slice(17, 22), slice(22, 27)):
        line = lm[idx, :2].copy()
        if line[0, 0] > line[-1, 0]:
            line = line[::-1]
        line[:, 1] -= 0.35
        d, t = _polyline_distance(xy, line)
        inner_at_end = abs(line[-1, 0]) < abs(line[0, 0])
        t_inner = t if inner_at_end else 1 - t  # 1 at the inner end
        half = 0.22 + 0.30 * t_inner
        near = face & (v[:, 2] > lm[idx, 2].min() - 2.0)
        w = (1 - _smooth(half * 0.55, half, d)) * near * 0.92
        colour = colour * (1 - w[:, None]) + np.asarray(app.brow_colour, np.float32) * w[:, None]

    # Short hair on the scalp, so the head reads as a person and not a mannequin.
    if app.hair_cap:
        head_part = np.zeros(n, bool)
        head_part[part("face")] = True
        head_part[part("head_neck")] = True
        brow_top = lm[17:27, 1].max()
        forehead_z = lm[17:27, 2].max()
        # Hairline: above the brows by ~5 cm at the front, lower at the back and sides.
        hairline = brow_top + 5.0 - 6.5 * _smooth(forehead_z - 2, forehead_z - 14, v[:, 2])
        hair_w = _smooth(hairline - 0.3, hairline + 0.6, v[:, 1]) * head_part
        hair_rgb = np.asarray(app.brow_colour, np.float32) * 1.1
        colour = colour * (1 - hair_w[:, None]) + hair_rgb * hair_w[:, None]

    # Eyes: sclera off-white; the iris sphere painted by distance from the optical axis (pupil,
    # iris with a darker limbal ring). The sclera's cornea cap is not drawn (see drawn_faces).
    for eye in _eye_geometry(v):
        colour[eye.sclera] = (0.93, 0.90, 0.87)
        r = eye.radial(v[eye.iris])
        front = eye.axial(v[eye.iris]) > 0
        pupil = 1 - _smooth(IRIS_RADIUS * 0.36, IRIS_RADIUS * 0.44, r)
        limbus = _smooth(IRIS_RADIUS * 0.75, IRIS_RADIUS, r)
        c = iris_rgb * (1 - 0.55 * limbus[:, None])
        c = c * (1 - pupil[:, None]) + np.array([0.02, 0.02, 0.02]) * pupil[:, None]
        outside = (r > IRIS_RADIUS * 1.02) | ~front
        c[outside] = (0.93, 0.90, 0.87)
        colour[eye.iris] = c

    colour[part("teeth")] = (0.90, 0.87, 0.80)
    colour[part("gums_tongue")] = (0.70, 0.33, 0.33)
    colour[part("mouth_socket")] = (0.35, 0.12, 0.12)
    # Lashes are cards meant for an alpha texture; opaque they read as heavy eyeliner, so the upper
    # lashes are dark brown and the lower ones are not drawn (see drawn_faces).
    colour[part("eyelashes")] = np.asarray(app.brow_colour, np.float32) * 0.7
    colour[part("eye_sockets")] = skin * 0.8
    return colour.astype(np.float32)


def drawn_faces(head: BlendshapeHead) -> np.ndarray:
    """Return the (F', 3) triangles that are drawn: overlay materials and the corneas removed."""
    hidden = [i for i, m in enumerate(head.materials) if m in HIDDEN_MATERIALS]
    keep = ~np.isin(head.face_material, hidden)
    if head.is_ict:
        v = head.generic_neutral
        for eye in _eye_geometry(v):
            # ICT's sclera sphere also covers the cornea (meant to be transparent); cut that cap away
            # so the iris sphere inside shows through.
            idx = np.arange(eye.sclera.start, eye.sclera.stop)
            cap = idx[(eye.axial(v[idx]) > 0) & (eye.radial(v[idx]) < IRIS_RADIUS * 1.05)]
            keep &= ~np.isin(head.faces, cap).all(axis=1)
        a, b = ICT_PARTS["eyelashes"]
        lash = np.arange(a, b)
        eye_y = np.array([e.centre[1] for e in _eye_geometry(v)]).mean()
        lower = lash[v[lash, 1] < eye_y]
        keep &= ~np.isin(head.faces, lower).any(axis=1)
    return head.faces[keep]


IRIS_RADIUS = 0.60  # cm: a human iris is ~12 mm across


@dataclass(frozen=True)
class _Eye:
    sclera: slice
    iris: slice
    centre: np.ndarray
    axis: np.ndarray

    def axial(self, p: np.ndarray) -> np.ndarray:
        return (p - self.centre) @ self.axis

    def radial(self, p: np.ndarray) -> np.ndarray:
        rel = p - self.centre
        return np.linalg.norm(rel - (rel @ self.axis)[:, None] * self.axis, axis=1)


def _eye_geometry(v: np.ndarray) -> list[_Eye]:
    """Return each ICT eyeball's parts, centre and gaze axis (centre -> centroid of its iris sphere)."""
    eyes = []
    for sclera, iris in ((ICT_SCLERA_IRIS[0]), (ICT_SCLERA_IRIS[1])):
        centre = v[sclera[0]:iris[1]].mean(0)
        # Both parts are spheres; the iris sphere sits forward, so its centroid gives the gaze axis.
        axis = v[iris[0]:iris[1]].mean(0) - v[sclera[0]:sclera[1]].mean(0)
        axis = axis / np.linalg.norm(axis)
        eyes.append(_Eye(slice(*sclera), slice(*iris), centre, axis))
    return eyes


# (sclera range, iris range) per eyeball, from ICT-FaceKit's README (end exclusive).
ICT_SCLERA_IRIS = (((21451, 22221), (22221, 23021)), ((23021, 23791), (23791, 24591)))
