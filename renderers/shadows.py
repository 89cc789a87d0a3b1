"""Returns the key light's shadow map set-up (its box, its matrix) and, in torch, the map and its filtered test.

The key light is directional, so its shadow map is an orthographic depth image of the head seen from the light: a
box of the head's bounding sphere (its neutral, with a margin for expressions and head motion) turned towards the
key direction (which turns with the camera, `renderers.lighting.light_directions`). A fragment is lit where its
position, moved `SHADOW_NORMAL_OFFSET_CM` off the surface, is no deeper than the map (less `SHADOW_BIAS`), tested with
percentage-closer filtering: 3 x 3 taps `Appearance.shadow_softness_cm` apart, each a bilinear 2 x 2 compare (what
GL's `sampler2DShadow` with linear filtering does), so the nose's shadow on the cheek has a soft edge.

`GLRenderer` draws the map in a depth-only pass (`RendererOptions.shadow_map_size`, default 1024: one more draw of
the head's triangles, ~0.4 mm texels) and tests it in its fragment shader. `DifferentiableRenderer` builds the same
map with the rasterizer it already has (triangle ids from the light, depths interpolated in torch at texel centres)
and tests it with `shadow_test_torch`; the shadow carries no gradient (a visibility test).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from avatar.head import BlendshapeHead

if TYPE_CHECKING:
    import torch

SHADOW_MARGIN = 1.1
"""The light box's half-size over the neutral head's bounding radius: room for an open jaw and a little head motion."""


def shadow_box(head: BlendshapeHead) -> tuple[np.ndarray, float]:
    """Return the (3,) centre and radius (cm) of the light box: the bounding sphere of the head's neutral, with margin."""
    v = np.asarray(head.neutral, np.float64)
    centre = 0.5 * (v.min(0) + v.max(0))
    return centre, float(np.linalg.norm(v - centre, axis=1).max() * SHADOW_MARGIN)


def light_matrix(key_dir: tuple[float, ...] | np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Return the (4, 4) float64 world -> light clip matrix: orthographic along -key_dir over the box (x, y, z in -1..1;
    z -1 nearest the light)."""
    d = np.asarray(key_dir, np.float64)
    d = d / np.linalg.norm(d)
    up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.95 else np.array([0.0, 0.0, 1.0])
    right = np.cross(up, d)
    right /= np.linalg.norm(right)
    up = np.cross(d, right)
    m = np.eye(4)
    for row, axis in enumerate((right, up, -d)):
        m[row, :3] = axis / radius
        m[row, 3] = -(axis @ centre) / radius
    return m


def shadow_step(softness_cm: float, radius: float) -> float:
    """Return the PCF tap spacing in the map's 0..1 coordinates for a softness in cm over a box of this radius."""
    return float(softness_cm) / (2.0 * radius)


def shadow_depth_torch(pix_to_face: torch.Tensor, light_clip: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Return (B, S, S) map depths in 0..1 (1 where nothing is drawn) at texel centres, rows top first, from the
    light's (B, S, S) triangle ids and the (B, V, 4) light-clip vertices (orthographic: w = 1, so screen-linear)."""
    from renderers.fragments import barycentric_fragments, interpolate

    frags = barycentric_fragments(light_clip.detach(), faces, pix_to_face)
    z = interpolate(light_clip.detach()[..., 2:3], faces, frags)[:, 0] * 0.5 + 0.5
    depth = light_clip.new_ones(pix_to_face.shape)
    return depth.index_put(frags.mask.nonzero(as_tuple=True), z)


def shadow_test_torch(depth: torch.Tensor, batch: torch.Tensor, position: torch.Tensor, step: float,
                      strength: float) -> torch.Tensor:
    """Return (N, 1) shadow factors (1 lit, 1 - strength fully shadowed) of N fragments in images `batch` (N,) at
    (N, 3) light-map positions (x, y, depth in 0..1, bias already taken off), against (B, S, S) `depth` maps (rows
    top first): the fragment shader's 3 x 3 taps of bilinear 2 x 2 compares, with clamp-to-edge."""
    import torch

    size = depth.shape[-1]
    flat = depth.reshape(depth.shape[0], -1)
    lit = torch.zeros_like(position[:, 0])
    for j in (-1, 0, 1):
        for i in (-1, 0, 1):
            u = (position[:, 0] + i * step) * size - 0.5
            v = (position[:, 1] + j * step) * size - 0.5
            u0, v0 = u.floor(), v.floor()
            fu, fv = u - u0, v - v0
            for du, dv, wgt in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
                x = (u0 + du).clamp(0, size - 1).long()
                y = (v0 + dv).clamp(0, size - 1).long()
                row = size - 1 - y  # GL's texture rows run bottom-up; the map's rows top first
                texel = flat[batch, row * size + x]
                lit = lit + wgt * (position[:, 2] <= texel).to(lit.dtype)
    return (1.0 - strength * (1.0 - lit / 9.0))[:, None]
