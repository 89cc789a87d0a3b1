"""Returns the shading of hair, raised brows and clothing (`renderers.attachments`) in GLSL and in torch, from one set of constants.

The head's own shading (`renderers.shading`) is for skin. Hair is lit as strands (Kajiya-Kay): a strand has no
single normal, its highlight is brightest where the half vector is perpendicular to the strand, so it lies as a
band across the hair. Two lobes as in real hair: a white primary (reflected at the cuticle, shifted towards the
tip) and a broader secondary tinted by the hair's colour (light that travelled through the strand, shifted
towards the root). Per fragment (linear light; `t` the strand direction made perpendicular to the normal):

    s       = strand(u, v)                                              strand-to-strand variation in [0, 1]
    albedo' = albedo * (STRAND_DARK + (1 - STRAND_DARK) s)              hair only (hairness h): mix(albedo, albedo', h)
    kk(t)   = sqrt(1 - (t.h)^2)                                         h: half vector of the key light and the view
    spec    = h * (PRIMARY kk(t + n (SHIFT_1 + JITTER (s - 0.5)))^POWER_1 + SECONDARY albedo' kk(t + n SHIFT_2)^POWER_2)
    lin     = albedo' (ambient + key K + fill F) + rim R albedo' + spec K   (the skin's wrapped diffuse and rim)

and the skin's tone curve. The highlights are divided by the key light's gain (`u_spec_scale`, `renderers.lighting.key_gain`), as the
skin's are (`renderers.lighting.light_specular`): lights lifted for dark skin leave the hair's sheen where it was.
Cloth (hairness 0) takes the diffuse and rim terms only. `vertex_shader()` / `fragment_shader()` are what
`renderers.gl.GLRenderer` compiles for its attachment draws; `shade_strands_torch` is the same in torch for
`renderers.differentiable.DifferentiableRenderer`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from renderers.shading import (
    FILL_WRAP,
    GAMMA,
    KEY_WRAP,
    LIGHT_UNIFORMS_GLSL,
    RIM_POWER,
    RIM_WRAP,
    TONE,
    _glsl,
    _glsl_power,
    gamma_encode_glsl,
    output_encode_glsl,
)

if TYPE_CHECKING:
    import torch

STRAND_FREQUENCY = 4.5
"""Strands (light-dark clumps) per cm across the hair."""
STRAND_DARK = 0.55
"""Albedo of the darkest strand, as a fraction of the hair's colour."""
PRIMARY = 0.22
"""Strength of the white primary highlight, in units of the key light."""
PRIMARY_POWER = 64.0
SECONDARY = 0.45
"""Strength of the coloured secondary highlight (times the hair's albedo)."""
SECONDARY_POWER = 12.0
SHIFT_1 = -0.10
"""Tilt of the primary highlight's strand direction towards the normal (negative: towards the tip)."""
SHIFT_2 = 0.12
JITTER = 0.3
"""How far the strand texture moves the primary highlight, so it breaks up along strands."""


def vertex_shader() -> str:
    """Return the GLSL 330 vertex shader of the attachment draws: positions through `u_model` (the skull's rigid motion;
    identity for the brows, which arrive posed) plus `in_params.y` (a lift) along the normal, tangents turned by `u_rot`;
    `in_albedo` is linear (the sRGB albedo ** GAMMA, computed once by `renderers.gl_attachments`)."""
    return """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
uniform mat4 u_model;
uniform mat3 u_rot;
in vec3 in_position;
in vec3 in_normal;
in vec3 in_tangent;
in vec3 in_albedo;
in vec2 in_strand;
in vec2 in_params;
out vec3 v_normal;
out vec3 v_world;
out vec3 v_tangent;
out vec3 v_albedo;
out vec2 v_strand;
out float v_hair;
void main() {
    vec3 n = mat3(u_model) * in_normal;
    v_world = (u_model * vec4(in_position, 1.0)).xyz + n * in_params.y;
    v_normal = n;
    v_tangent = u_rot * in_tangent;
    v_albedo = in_albedo;
    v_strand = in_strand;
    v_hair = in_params.x;
    gl_Position = u_proj * u_view * vec4(v_world, 1.0);
}
"""


def fragment_shader(fast_gamma: bool = False) -> str:
    """Return the GLSL 330 fragment shader of hair, brows and cloth (the module docstring's model).

    Whole powers are products by repeated squaring (`renderers.shading._glsl_power`: pow() is exp2(log2()) per sample
    on llvmpipe); `fast_gamma` encodes the output with `renderers.shading.gamma_encode_glsl`, as the head's shader does
    on a CPU rasterizer."""
    two_pi = _glsl(2 * math.pi)
    encode = output_encode_glsl(fast_gamma)
    return f"""
#version 330
{LIGHT_UNIFORMS_GLSL}uniform float u_spec_scale;
in vec3 v_normal;
in vec3 v_world;
in vec3 v_tangent;
in vec3 v_albedo;
in vec2 v_strand;
in float v_hair;
out vec4 f_colour;
float sq(float x) {{ return x * x; }}{gamma_encode_glsl() if fast_gamma else ""}
float kk(vec3 t, vec3 h) {{
    float th = dot(t, h);
    return sqrt(max(1.0 - th * th, 0.0));
}}
void main() {{
    vec3 n = normalize(v_normal);
    vec3 view = normalize(u_eye - v_world);
    if (dot(n, view) < 0.0) n = -n;  // both sides of a curtain of hair
    float u = v_strand.x * {_glsl(STRAND_FREQUENCY)};
    float s = clamp(0.5 + 0.3 * sin({two_pi} * u + 2.3 * sin({two_pi} * u * 0.37 + 0.1 * v_strand.y))
                    + 0.2 * sin({two_pi} * u * 2.13 + 1.7 + 0.6 * v_strand.y), 0.0, 1.0);
    vec3 albedo = v_albedo * mix(1.0, {_glsl(STRAND_DARK)} + {_glsl(1 - STRAND_DARK)} * s, v_hair);
    float key = max((dot(n, u_key_dir) + {_glsl(KEY_WRAP)}) / {_glsl(1 + KEY_WRAP)}, 0.0);
    float fill = max((dot(n, u_fill_dir) + {_glsl(FILL_WRAP)}) / {_glsl(1 + FILL_WRAP)}, 0.0);
    float edge = 1.0 - max(dot(n, view), 0.0);
    float rim = {_glsl_power("edge", RIM_POWER)} * max(dot(n, u_rim_dir) + {_glsl(RIM_WRAP)}, 0.0);
    vec3 h = normalize(u_key_dir + view);
    vec3 t = v_tangent - n * dot(v_tangent, n);
    t = t / max(length(t), {_glsl(1e-12)});
    vec3 t1 = normalize(t + n * ({_glsl(SHIFT_1)} + {_glsl(JITTER)} * (s - 0.5)));
    vec3 t2 = normalize(t + n * {_glsl(SHIFT_2)});
    float k1 = kk(t1, h);
    float k2 = kk(t2, h);
    vec3 spec = v_hair * ({_glsl(PRIMARY)} * {_glsl_power("k1", PRIMARY_POWER)}
                          + {_glsl(SECONDARY)} * albedo * {_glsl_power("k2", SECONDARY_POWER)}) * key * u_spec_scale;
    vec3 lin = albedo * (u_ambient + key * u_key_rgb + fill * u_fill_rgb) + rim * u_rim_rgb * albedo + spec * u_key_rgb;
    lin = lin / (1.0 + {_glsl(TONE)} * lin);
    f_colour = vec4({encode}, 1.0);
}}
"""


def shade_strands_torch(normals: torch.Tensor, world: torch.Tensor, tangents: torch.Tensor, albedo_linear: torch.Tensor,
                        strand: torch.Tensor, hairness: torch.Tensor, *, eye: torch.Tensor, key_dir: torch.Tensor,
                        fill_dir: torch.Tensor, rim_dir: torch.Tensor, key_rgb: torch.Tensor, fill_rgb: torch.Tensor,
                        rim_rgb: torch.Tensor, ambient: torch.Tensor, spec_scale: float = 1.0) -> torch.Tensor:
    """Return (N, 3) sRGB colours in [0, 1]: `fragment_shader()`'s formulas in torch, differentiable.

    normals, world, tangents, albedo_linear: (N, 3) interpolated; strand (N, 2); hairness (N, 1); the rest (3,)
    as in `renderers.shading.shade_torch`; spec_scale: 1 / the key light's gain (`u_spec_scale`, `renderers.lighting.key_gain`).
    """
    import torch

    n = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    view = eye - world
    view = view / view.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n_dot_v = (n * view).sum(-1, keepdim=True)
    n = torch.where(n_dot_v < 0, -n, n)
    n_dot_v = n_dot_v.abs()
    two_pi = 2 * math.pi
    u = strand[:, :1] * STRAND_FREQUENCY
    v = strand[:, 1:2]
    s = (0.5 + 0.3 * torch.sin(two_pi * u + 2.3 * torch.sin(two_pi * u * 0.37 + 0.1 * v))
         + 0.2 * torch.sin(two_pi * u * 2.13 + 1.7 + 0.6 * v)).clamp(0, 1)
    albedo = albedo_linear * (1 + hairness * (STRAND_DARK + (1 - STRAND_DARK) * s - 1))
    key = ((n @ key_dir)[:, None] + KEY_WRAP).div(1 + KEY_WRAP).clamp_min(0)
    fill = ((n @ fill_dir)[:, None] + FILL_WRAP).div(1 + FILL_WRAP).clamp_min(0)
    rim = (1 - n_dot_v).pow(RIM_POWER) * ((n @ rim_dir)[:, None] + RIM_WRAP).clamp_min(0)
    half = key_dir + view
    half = half / half.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    t = tangents - n * (tangents * n).sum(-1, keepdim=True)
    t = t / t.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def unit(x: torch.Tensor) -> torch.Tensor:
        return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def kk(tt: torch.Tensor) -> torch.Tensor:
        th = (tt * half).sum(-1, keepdim=True)
        return (1 - th * th).clamp_min(0).sqrt()

    t1 = unit(t + n * (SHIFT_1 + JITTER * (s - 0.5)))
    t2 = unit(t + n * SHIFT_2)
    spec = hairness * (PRIMARY * kk(t1).pow(PRIMARY_POWER) + SECONDARY * albedo * kk(t2).pow(SECONDARY_POWER)) * key * spec_scale
    lin = albedo * (ambient + key * key_rgb + fill * fill_rgb) + rim * rim_rgb * albedo + spec * key_rgb
    lin = lin / (1 + TONE * lin)
    return lin.clamp(1e-12, 1.0).pow(1 / GAMMA)
