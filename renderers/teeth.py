"""The teeth in the mouth's shade, following the lips frame by frame (`Appearance.teeth_shade`; docs/appearance.md).

A tooth is lit through the lips' opening *as posed in this frame*: each frame the eight inner-lip landmarks (60-67) give
the opening's outline in a frame of the head's own axes with its origin between the inner corners, and a tooth keeps
`MOUTH_INTERIOR_FLOOR + (1 - MOUTH_INTERIOR_FLOOR) open deep` of its colour, where `open` falls from 1 to 0 as the tooth
lies up to `TEETH_OPENING_CM` outside that outline (beyond a corner, above the upper lip's inner edge, below the lower
lip's) and `deep` is a Gaussian of how far it lies behind the corners (past `TEETH_DEPTH_START_CM`, over
`TEETH_DEPTH_CM`); its faces turned into the mouth keep `TEETH_LINGUAL_SHADE` of that (`avatar.appearance.
teeth_lingual_light`, static). So surprise's rounded mouth puts the lower teeth at and behind its corners into shade,
and the far-side lower tooth that a smile shows over the near lower lip at three-quarter (it lies below the lower lip's
inner edge), while fear's stretched mouth, whose corners lie beyond its side teeth, leaves them lit.

The gums and tongue take the same light (issue 19 part 0), with `MOUTH_SOFT_DEPTH_SHARE` of the depth shade, and
the upper teeth's shadow (`MOUTH_KEY_SHADOW`): above a line falling `MOUTH_KEY_SLOPE` per cm behind the upper lip's
inner edge (the key light's elevation), from `MOUTH_KEY_SHADOW_CM` below it, they keep 1 - `MOUTH_KEY_SHADOW` of it,
so the tongue is a shaded form, darker under the upper teeth and towards the throat, not a flat lit disc.

On a face whose lights are lifted for its tone (`renderers.lighting.skin_exposure`: dark x2.8) a tooth in the mouth's
shade is kept out of the lift in proportion to its shade (`TEETH_SHADE_UNLIFT`, `shade_unlift`): the lift is more key
light, which the lips and the cheek keep off it. With the whole lift a dark face's shaded teeth (the far lower tooth of
a smile at yaw 30, surprise's corner teeth) came out near white, the highlight shoulder compressing their shade.

What a frame costs: the outline from eight posed vertices on the host (or, when the compute shaders pose, eight rows of
the blend), two small uniform arrays and a matrix; the shade itself is a few operations per tooth vertex in the vertex
shader (GL) or on the teeth's vertices (torch). The factor multiplies the sRGB albedo as the cavity factor does (so the
tooth's highlight dims with it), in both renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.appearance import (MOUTH_INTERIOR_FLOOR, MOUTH_KEY_SHADOW, MOUTH_SOFT_DEPTH_CM, MOUTH_SOFT_DEPTH_SHARE,
                               MOUTH_SOFT_DEPTH_START_CM, MOUTH_KEY_SHADOW_CM, MOUTH_KEY_SLOPE,
                               MOUTH_KEY_SOFT_CM, TEETH_BEHIND_CM, teeth_sample_offset, TEETH_DEPTH_CM, TEETH_DEPTH_INNER, TEETH_DEPTH_START_CM,
                               TEETH_OPENING_CM, TEETH_OPENING_MARGIN_CM, TEETH_SHADE_UNLIFT, Appearance, teeth_buccal_facing,
                               teeth_lingual_light)
from avatar.constants import RENDER_GAMMA
from avatar.head import ICT_PARTS, BlendshapeHead

if TYPE_CHECKING:
    import torch

TEETH_ATTRIBUTE_WIDTH = 6
"""Floats per vertex of `TeethShade.attribute`: the static factor (a tooth's lingual shade; 1 on the gums and tongue),
the depth share, the share of the upper teeth's shadow (`MOUTH_KEY_SHADOW`; 1 on the gums and tongue, 0 on the teeth)
and the (x, y, z) sample offset."""
INNER_LIP_UPPER = (60, 61, 62, 63, 64)
"""68-point landmarks of the upper lip's inner edge, from the right inner corner (-x) to the left one."""
INNER_LIP_LOWER = (60, 67, 66, 65, 64)
"""68-point landmarks of the lower lip's inner edge, in the same order."""


@dataclass(frozen=True)
class TeethShade:
    """What a renderer needs to shade the teeth, gums and tongue per frame: `attribute` (V, TEETH_ATTRIBUTE_WIDTH)
    float32, the static factors of each of their vertices (a tooth's lingual shade, > 0, or 1; the share of the depth
    shade its face takes; the share of the upper teeth's shadow; the sample offset) and 0 elsewhere; `teeth` the (T,)
    int64 gums' and tongue's and teeth's vertices (the shaded ones); `lips` (10,) int64 head vertices of the inner lip edges (upper then lower,
    `INNER_LIP_UPPER` / `INNER_LIP_LOWER`); `anchors` (K,) skull vertices and `anchor_rest` (K, 3) their rest positions
    (the head's rigid motion when only posed vertices are known)."""

    attribute: np.ndarray
    teeth: np.ndarray
    lips: np.ndarray
    anchors: np.ndarray
    anchor_rest: np.ndarray


def teeth_shade(head: BlendshapeHead, appearance: Appearance) -> TeethShade | None:
    """Return the head's `TeethShade`, or None where there is nothing to shade: the switch off, `mouth_interior` on
    (its light already shades the teeth, baked), or a head without the ICT teeth or 68-point landmarks."""
    if not appearance.teeth_shade or appearance.mouth_interior or not head.is_ict or head.landmarks68 is None:
        return None
    from renderers.attachments import _anchors

    a, b = ICT_PARTS["teeth"]
    attribute = np.zeros((head.num_vertices, TEETH_ATTRIBUTE_WIDTH), np.float32)
    attribute[a:b, 0] = np.maximum(teeth_lingual_light(head), 1e-3)
    attribute[a:b, 1] = TEETH_DEPTH_INNER + (1 - TEETH_DEPTH_INNER) * teeth_buccal_facing(head)
    attribute[a:b, 3:6] = teeth_sample_offset(head)
    g0, g1 = ICT_PARTS["gums_tongue"]
    attribute[g0:g1, 0] = 1.0
    attribute[g0:g1, 1] = MOUTH_SOFT_DEPTH_SHARE
    attribute[g0:g1, 2] = 1.0
    lips = np.asarray(head.landmarks68, np.int64)[list(INNER_LIP_UPPER + INNER_LIP_LOWER)]
    anchors = _anchors(head)
    return TeethShade(attribute, np.concatenate([np.arange(g0, g1), np.arange(a, b)]), lips, anchors,
                      head.neutral[anchors].astype(np.float32))


def mouth_frame(lips: np.ndarray, model: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (the (4, 4) float32 matrix from world space to the mouth's frame, the upper and the lower inner lip edges
    as (5, 3) float32 (x, y, z) in it) for the (10, 3) inner-lip vertices `lips` posed by the expression alone and the
    (4, 4) rigid `model` (the head pose; None: the identity) that takes them to world space.

    The mouth's frame has the head's own axes (x across, y up, z forward) and its origin midway between the inner
    corners, so the outline and a tooth's position in it do not change with the head pose."""
    lips = np.asarray(lips, np.float64)
    mid = (lips[0] + lips[4]) / 2
    m = np.eye(4) if model is None else np.asarray(model, np.float64)
    inv = np.eye(4)
    inv[:3, :3] = m[:3, :3].T
    inv[:3, 3] = -m[:3, :3].T @ m[:3, 3] - mid
    rel = (lips - mid).astype(np.float32)
    return inv.astype(np.float32), rel[:5], rel[5:]


def model_of_vertices(shade: TeethShade, vertices: np.ndarray) -> np.ndarray:
    """Return the (4, 4) rigid motion of the skull in (V, 3) posed vertices (their anchors fitted to the rest)."""
    from renderers.attachments import rigid_fit

    return rigid_fit(shade.anchor_rest, vertices[shade.anchors])


def shade_unlift(gain: float) -> float:
    """Return the factor on a tooth's sRGB albedo that keeps `TEETH_SHADE_UNLIFT` of the exposure's lift `gain`
    (`renderers.options.renderer_exposure`) out of it: gain ** (-TEETH_SHADE_UNLIFT / GAMMA). A tooth in the mouth's
    full shade takes all of it, a lit one none (`teeth_light`'s `unlift`); 1 where the face is not lifted."""
    return float(max(gain, 1.0) ** (-TEETH_SHADE_UNLIFT / RENDER_GAMMA))


def teeth_light(local: np.ndarray, upper: np.ndarray, lower: np.ndarray, depth_share: np.ndarray | float = 1.0,
                key_share: np.ndarray | float = 0.0, lingual: np.ndarray | float = 1.0, unlift: float = 1.0) -> np.ndarray:
    """Return (N,) float32 factors (before the lingual term) of teeth at (N, 3) positions in the mouth's frame, given
    the (5, 3) inner lip edges in it (`mouth_frame`) and the share of the depth shade each tooth's face takes
    (`TeethShade.attribute[:, 1]`): the light through the posed opening (the GLSL and torch code compute the same).

    A tooth keeps `MOUTH_INTERIOR_FLOOR + (1 - MOUTH_INTERIOR_FLOOR) open deep`. `open` falls from 1 to 0 as it lies
    from `TEETH_OPENING_MARGIN_CM` to `TEETH_OPENING_CM` outside the opening: beyond an inner corner (inside the cheek),
    or past a lip's inner edge while behind that lip (by `TEETH_BEHIND_CM` for the lip's full shade: a tooth in front of
    a lip is not hidden by it). `deep` is 1 - share (1 - exp(-d^2)), d how far past `TEETH_DEPTH_START_CM` behind the
    inner corners it lies, over `TEETH_DEPTH_CM`: the cheek's shade on a face that looks at it (share 1) and the
    light the opening still gives a face that looks into the mouth (share `TEETH_DEPTH_INNER`). With `key_share` (the
    gums and tongue: 1) it is also multiplied by 1 - share `MOUTH_KEY_SHADOW` s, s a smoothstep of how far it lies above
    the upper teeth's shadow line (`MOUTH_KEY_SLOPE`, `MOUTH_KEY_SHADOW_CM`, over 2 `MOUTH_KEY_SOFT_CM`).

    On a tooth (`key_share` 0; the gums' and tongue's lift is withheld statically, `UNLIFTED_PARTS`) it is also
    multiplied by `unlift` ** (1 - lingual open deep), `unlift` from `shade_unlift` and `lingual` the tooth's static
    lingual factor: a tooth is kept out of the exposure's lift as far as it is shaded (1: every tooth lifted alike)."""
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    up_y, up_z = np.interp(x, upper[:, 0], upper[:, 1]), np.interp(x, upper[:, 0], upper[:, 2])
    lo_y, lo_z = np.interp(x, lower[:, 0], lower[:, 1]), np.interp(x, lower[:, 0], lower[:, 2])
    below = (lo_y - y) * np.clip((lo_z - z) / TEETH_BEHIND_CM, 0, 1)
    above = (y - up_y) * np.clip((up_z - z) / TEETH_BEHIND_CM, 0, 1)
    outside = np.maximum(np.maximum(below, above), np.maximum(upper[0, 0] - x, x - upper[-1, 0]))
    t = np.clip((outside - TEETH_OPENING_MARGIN_CM) / (TEETH_OPENING_CM - TEETH_OPENING_MARGIN_CM), 0, 1)
    opening = 1 - t * t * (3 - 2 * t)
    soft = np.asarray(key_share)  # 1 on the gums and tongue: their own depth scale
    start = TEETH_DEPTH_START_CM + soft * (MOUTH_SOFT_DEPTH_START_CM - TEETH_DEPTH_START_CM)
    d = np.maximum(-z - start, 0) / (TEETH_DEPTH_CM + soft * (MOUTH_SOFT_DEPTH_CM - TEETH_DEPTH_CM))
    deep = 1 - np.asarray(depth_share) * (1 - np.exp(-d * d))
    over = (y - up_y + MOUTH_KEY_SLOPE * np.maximum(up_z - z, 0) + MOUTH_KEY_SHADOW_CM) / MOUTH_KEY_SOFT_CM
    k = np.clip(0.5 + 0.5 * over, 0, 1)
    key = 1 - np.asarray(key_share) * MOUTH_KEY_SHADOW * k * k * (3 - 2 * k)
    lift = np.float32(unlift) ** ((1 - np.asarray(key_share)) * (1 - np.asarray(lingual) * opening * deep))
    return ((MOUTH_INTERIOR_FLOOR + (1 - MOUTH_INTERIOR_FLOOR) * opening * deep * key) * lift).astype(np.float32)


def teeth_factors(shade: TeethShade, vertices: np.ndarray, model: np.ndarray | None = None, unlift: float = 1.0) -> np.ndarray:
    """Return (V,) float32 factors on the sRGB albedo (1 off the teeth) for (V, 3) vertices posed by the expression
    alone and the rigid `model` to world (None: fitted to the skull in `vertices`, which are then world positions),
    `unlift` the shaded teeth's share of the lift withheld (`shade_unlift`; 1: none).
    numpy reference of what both renderers compute per frame."""
    if model is None:
        model = model_of_vertices(shade, vertices)
        unposed = (vertices - model[:3, 3]) @ model[:3, :3]
    else:
        unposed = vertices
    mouth, upper, lower = mouth_frame(unposed[shade.lips], None)
    local = unposed[shade.teeth] @ mouth[:3, :3].T + mouth[:3, 3]
    out = np.ones(len(vertices), np.float32)
    static = shade.attribute[shade.teeth]
    out[shade.teeth] = static[:, 0] * teeth_light(local - static[:, 3:6], upper, lower, static[:, 1], static[:, 2],
                                                  static[:, 0], unlift)
    return out


def teeth_glsl() -> str:
    """Return GLSL (uniforms and a function `teeth_light(world, depth_share, key_share, offset, lingual)`) for the vertex
    shader: `teeth_light` of a point, with `u_mouth` (world -> the mouth's frame) and the lip edges `u_lip_upper`,
    `u_lip_lower` set per frame and `u_teeth_unlift` (`shade_unlift` of the exposure) per renderer."""
    margin, ramp = TEETH_OPENING_MARGIN_CM, TEETH_OPENING_CM - TEETH_OPENING_MARGIN_CM
    return f"""
uniform mat4 u_mouth;  // world -> the mouth's frame (renderers.teeth.mouth_frame), set per frame
uniform vec3 u_lip_upper[5];  // the inner lip edges in that frame (x, y, z), corner to corner
uniform vec3 u_lip_lower[5];
uniform float u_teeth_unlift;  // shade_unlift(the exposure's gain): a shaded tooth's share of the lift withheld; 1: none
vec2 lip_edge(vec3 p[5], float x) {{  // (y, z) piecewise linear through the edge's points (np.interp: held past the ends)
    vec2 e = p[0].yz;
    for (int i = 0; i < 4; i++) {{
        if (x > p[i].x) e = mix(p[i].yz, p[i + 1].yz, clamp((x - p[i].x) / max(p[i + 1].x - p[i].x, 1e-6), 0.0, 1.0));
    }}
    return e;
}}
float teeth_light(vec3 world, float depth_share, float key_share, vec3 offset, float lingual) {{
    vec3 m = (u_mouth * vec4(world, 1.0)).xyz - offset;  // sampled where the cusps are averaged out (teeth_sample_offset)
    vec2 up = lip_edge(u_lip_upper, m.x);
    vec2 lo = lip_edge(u_lip_lower, m.x);
    float below = (lo.x - m.y) * clamp((lo.y - m.z) * {_glsl(1 / TEETH_BEHIND_CM)}, 0.0, 1.0);
    float above = (m.y - up.x) * clamp((up.y - m.z) * {_glsl(1 / TEETH_BEHIND_CM)}, 0.0, 1.0);
    float outside = max(max(below, above), max(u_lip_upper[0].x - m.x, m.x - u_lip_upper[4].x));
    float t = clamp((outside - {_glsl(margin)}) * {_glsl(1 / ramp)}, 0.0, 1.0);
    // the gums and tongue (key_share 1) have their own depth scale
    float d = max(-m.z - mix({_glsl(TEETH_DEPTH_START_CM)}, {_glsl(MOUTH_SOFT_DEPTH_START_CM)}, key_share), 0.0)
        / mix({_glsl(TEETH_DEPTH_CM)}, {_glsl(MOUTH_SOFT_DEPTH_CM)}, key_share);
    float deep = 1.0 - depth_share * (1.0 - exp(-d * d));
    float over = (m.y - up.x + {_glsl(MOUTH_KEY_SLOPE)} * max(up.y - m.z, 0.0) + {_glsl(MOUTH_KEY_SHADOW_CM)}) * {_glsl(1 / MOUTH_KEY_SOFT_CM)};
    float k = clamp(0.5 + 0.5 * over, 0.0, 1.0);
    float key = 1.0 - key_share * {_glsl(MOUTH_KEY_SHADOW)} * k * k * (3.0 - 2.0 * k);
    float open_deep = (1.0 - t * t * (3.0 - 2.0 * t)) * deep;
    float lift = pow(u_teeth_unlift, (1.0 - key_share) * (1.0 - lingual * open_deep));  // a shaded tooth: out of the lift
    return ({_glsl(MOUTH_INTERIOR_FLOOR)} + {_glsl(1 - MOUTH_INTERIOR_FLOOR)} * open_deep * key) * lift;
}}
"""


def _glsl(x: float) -> str:
    """Return a GLSL float literal of `x` (this module is imported by `renderers.shading`, so it keeps its own)."""
    text = repr(float(x))
    return text if "." in text or "e" in text else text + ".0"


def teeth_factors_torch(buffers: Any, vertices: torch.Tensor, unlift: float = 1.0) -> torch.Tensor:
    """Return (B, V) factors on the sRGB albedo (1 off the teeth) for (B, V, 3) world vertices, as `teeth_factors`
    with the model fitted to the skull: `buffers` holds `teeth_attribute` (T, 6), `teeth_index`, `teeth_lips`,
    `teeth_anchors` and `teeth_anchor_rest` tensors (`renderers.differentiable`); `unlift` as `teeth_factors`.
    Differentiable in the vertices."""
    import torch

    from renderers.attachments import rigid_fit_torch

    dt = vertices.dtype
    r, t = rigid_fit_torch(buffers.teeth_anchor_rest.to(dt), vertices.index_select(1, buffers.teeth_anchors))
    lips = (vertices.index_select(1, buffers.teeth_lips) - t[:, None]) @ r  # (B, 10, 3) in the head's rest axes
    teeth = (vertices.index_select(1, buffers.teeth_index) - t[:, None]) @ r
    static = buffers.teeth_attribute.to(dt)
    mid = (lips[:, 0] + lips[:, 4]) / 2
    lips, local = lips - mid[:, None], teeth - mid[:, None] - static[:, 3:6]
    upper, lower = lips[:, :5], lips[:, 5:]
    x, y, z = local[..., 0], local[..., 1], local[..., 2]

    def edge(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, z) of the edge `p` (B, 5, 3) at the teeth's x, piecewise linear (np.interp: held past the ends)."""
        ey, ez = p[:, :1, 1].expand_as(x), p[:, :1, 2].expand_as(x)
        for i in range(4):
            x0, x1 = p[:, i:i + 1, 0], p[:, i + 1:i + 2, 0]
            s = ((x - x0) / torch.clamp(x1 - x0, min=1e-6)).clamp(0, 1)
            ey = torch.where(x > x0, p[:, i:i + 1, 1] + (p[:, i + 1:i + 2, 1] - p[:, i:i + 1, 1]) * s, ey)
            ez = torch.where(x > x0, p[:, i:i + 1, 2] + (p[:, i + 1:i + 2, 2] - p[:, i:i + 1, 2]) * s, ez)
        return ey, ez

    (up_y, up_z), (lo_y, lo_z) = edge(upper), edge(lower)
    below = (lo_y - y) * ((lo_z - z) / TEETH_BEHIND_CM).clamp(0, 1)
    above = (y - up_y) * ((up_z - z) / TEETH_BEHIND_CM).clamp(0, 1)
    outside = torch.maximum(torch.maximum(below, above), torch.maximum(upper[:, :1, 0] - x, x - upper[:, 4:5, 0]))
    s = ((outside - TEETH_OPENING_MARGIN_CM) / (TEETH_OPENING_CM - TEETH_OPENING_MARGIN_CM)).clamp(0, 1)
    soft = static[:, 2]  # 1 on the gums and tongue: their own depth scale
    start = TEETH_DEPTH_START_CM + soft * (MOUTH_SOFT_DEPTH_START_CM - TEETH_DEPTH_START_CM)
    d = (-z - start).clamp(min=0) / (TEETH_DEPTH_CM + soft * (MOUTH_SOFT_DEPTH_CM - TEETH_DEPTH_CM))
    deep = 1 - static[:, 1] * (1 - torch.exp(-d * d))
    over = (y - up_y + MOUTH_KEY_SLOPE * (up_z - z).clamp(min=0) + MOUTH_KEY_SHADOW_CM) / MOUTH_KEY_SOFT_CM
    k = (0.5 + 0.5 * over).clamp(0, 1)
    key = 1 - static[:, 2] * MOUTH_KEY_SHADOW * k * k * (3 - 2 * k)
    open_deep = (1 - s * s * (3 - 2 * s)) * deep
    light = MOUTH_INTERIOR_FLOOR + (1 - MOUTH_INTERIOR_FLOOR) * open_deep * key
    if unlift != 1.0:  # a shaded tooth is kept out of the exposure's lift as far as it is shaded (teeth_light)
        light = light * torch.pow(torch.as_tensor(unlift, dtype=dt), (1 - static[:, 2]) * (1 - static[:, 0] * open_deep))
    out = vertices.new_ones(vertices.shape[:2])
    return out.index_copy(1, buffers.teeth_index, light * static[:, 0])
