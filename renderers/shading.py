"""Returns the head's shading in both renderers' languages: GLSL text for GLRenderer, torch for the differentiable one.

The shading constants live here once. `vertex_shader()` / `fragment_shader()` format them into the GLSL
that `renderers.gl.GLRenderer` compiles, and `shade_torch` / `wrinkle_amplitude_torch` evaluate the same
formulas in torch for `renderers.differentiable.DifferentiableRenderer`, so the two cannot drift apart
(tests compare their images to ~58 dB).

The model, per fragment (linear light):

    albedo' = albedo * (1 - a * fold(u))                          expression lines (the skin's specular too)
    fold(u) = max(0.5 + 0.5 cos(2 pi u), 0) ** WRINKLE_SHARPNESS   dark where the line coordinate u is an integer
    key     = max((n.l_key + KEY_WRAP) / (1 + KEY_WRAP), 0)        wrapped diffuse (fill likewise)
    rim     = (1 - n.v) ** RIM_POWER * max(n.l_rim + RIM_WRAP, 0)
    spec    = specular (1 - a fold(u)) occlusion max(n.h, 0) ** SPEC_POWER + gloss * CATCH_LIGHT_STRENGTH * max(c.h, 0) ** CATCH_LIGHT_POWER
              (c: the cornea normal, position minus the eyeball's centre, normalised per fragment)
    lin     = albedo' (ambient + key K + fill F) + rim R albedo' + spec K;  lin / (1 + TONE lin);  ** (1 / GAMMA)

u (the line coordinate) and gloss are static per vertex (`renderers.wrinkles.wrinkle_field`, `renderers.corneas.gloss_weights`);
the wrinkle amplitude a is per vertex per frame: `depth * smoothstep(WRINKLE_ONSET, WRINKLE_FULL, compression)`,
compression being how much the posed mesh's edges along the region's axis shrank against the neutral
(`renderers.wrinkles.vertex_compression`, `vertex_compression_torch`). Both renderers interpolate u, a
and gloss perspective-correctly and evaluate fold() per fragment, so the lines are as sharp as the
pixels allow and not limited by the mesh's resolution.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np

from renderers.wrinkles import WrinkleField, vertex_compression

if TYPE_CHECKING:
    import torch

GAMMA = 2.2
"""Albedo arrives in sRGB and is linearised per vertex with this power; output goes back with 1 / GAMMA."""
KEY_WRAP = 0.25
FILL_WRAP = 0.4
RIM_POWER = 3.0
RIM_WRAP = 0.3
SPEC_POWER = 40.0
TONE = 0.15
"""Soft filmic-ish shoulder: lin / (1 + TONE * lin)."""

WRINKLE_SHARPNESS = 3.0
"""Power of the raised cosine: 3 makes a fold ~0.3 of the line spacing wide (3 px at 256 px on the forehead)."""
WRINKLE_ONSET = 0.02
"""Compression (fraction of edge length lost) below which no line shows: small shrinkage is skin, not a fold."""
WRINKLE_FULL = 0.12
"""Compression at which a region's lines reach their full depth (ICT's brow raise compresses the forehead ~0.19)."""
CATCH_LIGHT_POWER = 150.0
"""Blinn exponent of the cornea's highlight: a few pixels across on a 256 px face."""
CATCH_LIGHT_STRENGTH = 1.6
"""Catch-light intensity in units of the key light (before the tone curve, which keeps it below white)."""


def _glsl(x: float) -> str:
    """Return a GLSL float literal that parses to the same float32 as the Python constant."""
    text = repr(float(x))
    return text if ("." in text or "e" in text) else text + ".0"


def _glsl_power(name: str, p: float) -> str:
    """Return GLSL for `name ** p`: for a whole power up to 64, products by repeated squaring (exact to a few
    float32 ulps, and far cheaper than pow(), which is exp2(log2) per fragment on llvmpipe); pow() otherwise.
    The constant is written into the text either way."""
    if not (float(p).is_integer() and 1 <= p <= 64):
        return f"pow({name}, {_glsl(p)})"
    n, square, terms = int(p), name, []
    while n:
        if n & 1:
            terms.append(square)
        n >>= 1
        if n:
            square = f"sq({square})"
    return f"({' * '.join(terms)} /* {name} ** {_glsl(p)} */)"


def vertex_shader() -> str:
    """Return the GLSL 330 vertex shader: positions through the camera; normal, world position, linear albedo,
    wrinkle (u, a), gloss and the cornea normal on to the fragment shader."""
    return f"""
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_position;
in vec3 in_normal;
in vec3 in_albedo;
in vec2 in_wrinkle;
in float in_gloss;
in vec3 in_eye_normal;
in float in_cavity;
out vec3 v_normal;
out vec3 v_world;
out vec3 v_albedo;
out vec2 v_wrinkle;
out float v_gloss;
out vec3 v_eye_normal;
out float v_occlusion;
void main() {{
    v_world = in_position;
    v_normal = in_normal;
    // Albedo arrives in sRGB; shade in linear light (per vertex, as the torch renderer does). The cavity factor
    // (renderers.cavity, 1 where off) darkens the sRGB albedo of skin in folds.
    v_albedo = pow(in_albedo * in_cavity, vec3({_glsl(GAMMA)}));
    v_occlusion = pow(in_cavity, {_glsl(GAMMA)});  // the same darkening in linear light, for the highlight
    v_wrinkle = in_wrinkle;
    v_gloss = in_gloss;
    v_eye_normal = in_eye_normal;
    gl_Position = u_proj * u_view * vec4(in_position, 1.0);
}}
"""


def fragment_shader(wrinkles: bool = True, catch_lights: bool = True) -> str:
    """Return the GLSL 330 fragment shader: the module's shading model (see the module docstring).

    `wrinkles` / `catch_lights` False leave those terms out of the program. Their inputs are zero when
    switched off, so the image is the same; leaving them out saves per-fragment work, which is most of
    the frame on a CPU rasterizer (llvmpipe) once the head is supersampled.
    """
    # Integer powers as products: exact, and far cheaper than pow() (exp2(log2)) on llvmpipe.
    fold = ""
    if wrinkles:
        fold = f"""
    float ridge = max(0.5 + 0.5 * cos({_glsl(2 * math.pi)} * v_wrinkle.x), 0.0);
    fold_shade = 1.0 - v_wrinkle.y * {_glsl_power("ridge", WRINKLE_SHARPNESS)};
    albedo *= fold_shade;"""
    catch = ""
    if catch_lights:
        catch = f"""
    vec3 nc = v_eye_normal / max(length(v_eye_normal), {_glsl(1e-12)});  // the cornea's normal (eyeball sphere)
    spec += v_gloss * {_glsl(CATCH_LIGHT_STRENGTH)} * pow(max(dot(nc, h), 0.0), {_glsl(CATCH_LIGHT_POWER)});"""
    return f"""
#version 330
uniform vec3 u_eye;
uniform vec3 u_key_dir;
uniform vec3 u_fill_dir;
uniform vec3 u_rim_dir;
uniform vec3 u_key_rgb;
uniform vec3 u_fill_rgb;
uniform vec3 u_rim_rgb;
uniform vec3 u_ambient;
uniform float u_specular;
in vec3 v_normal;
in vec3 v_world;
in vec3 v_albedo;
in vec2 v_wrinkle;
in float v_gloss;
in vec3 v_eye_normal;
in float v_occlusion;
out vec4 f_colour;
float sq(float x) {{ return x * x; }}
void main() {{
    vec3 n = normalize(v_normal);
    vec3 view = normalize(u_eye - v_world);
    if (dot(n, view) < 0.0) n = -n;  // back faces (inside of lips, mouth) lit like front faces
    vec3 albedo = v_albedo;
    float fold_shade = 1.0;  // a fold is in its own shadow: it darkens the albedo and the skin's highlight alike{fold}
    // Soft (wrapped) diffuse so the shadow side does not go black.
    float key = max((dot(n, u_key_dir) + {_glsl(KEY_WRAP)}) / {_glsl(1 + KEY_WRAP)}, 0.0);
    float fill = max((dot(n, u_fill_dir) + {_glsl(FILL_WRAP)}) / {_glsl(1 + FILL_WRAP)}, 0.0);
    float edge = 1.0 - max(dot(n, view), 0.0);
    float rim = {_glsl_power("edge", RIM_POWER)} * max(dot(n, u_rim_dir) + {_glsl(RIM_WRAP)}, 0.0);
    vec3 h = normalize(u_key_dir + view);
    float n_h = max(dot(n, h), 0.0);
    // Folds and cavities are in their own shadow: their highlight dims with their albedo (a lit highlight over a
    // darkened albedo read as a grey smudge beside the nose, and as white lines in crow's feet).
    float spec = u_specular * fold_shade * v_occlusion * {_glsl_power("n_h", SPEC_POWER)};{catch}
    vec3 lin = albedo * (u_ambient + key * u_key_rgb + fill * u_fill_rgb) + rim * u_rim_rgb * albedo + spec * u_key_rgb;
    lin = lin / (1.0 + {_glsl(TONE)} * lin);
    f_colour = vec4(pow(clamp(lin, 0.0, 1.0), vec3({_glsl(1 / GAMMA)})), 1.0);
}}
"""


# ---------------------------------------------------------------------------------- posing on the GPU
MAX_SHAPES = 64
"""Most blendshapes the GPU pose pass takes in one frame (ARKit has 52; a uniform array's size is fixed)."""
POSE_GROUP = 64
"""Threads per compute work group in the pose and attribute passes (one vertex each)."""


def pose_compute_shader() -> str:
    """Return the GLSL 430 compute shader that poses one vertex per thread: neutral + sum of the active weights times
    their deltas, then the head pose about the pivot; std430 float buffers, (V * 3,) positions out.

    Only the frame's non-zero weights are sent (`u_weights[i]` for shape `u_shapes[i]`), so a frame uploads at
    most 52 weights, the head pose and two eye centres instead of the posed mesh.
    """
    return f"""
#version 430
layout(local_size_x = {POSE_GROUP}) in;
layout(std430, binding = 0) readonly buffer Neutral {{ float neutral[]; }};
layout(std430, binding = 1) readonly buffer Deltas {{ float deltas[]; }};   // (K, V * 3)
layout(std430, binding = 2) writeonly buffer Posed {{ float posed[]; }};
uniform int u_vertices;
uniform int u_active;
uniform int u_shapes[{MAX_SHAPES}];
uniform float u_weights[{MAX_SHAPES}];
uniform mat3 u_rotation;
uniform vec3 u_pivot;
uniform vec3 u_shift;
void main() {{
    int v = int(gl_GlobalInvocationID.x);
    if (v >= u_vertices) return;
    int b = 3 * v;
    vec3 p = vec3(0.0);
    for (int i = 0; i < u_active; ++i) {{
        int o = u_shapes[i] * 3 * u_vertices + b;
        p += u_weights[i] * vec3(deltas[o], deltas[o + 1], deltas[o + 2]);
    }}
    p += vec3(neutral[b], neutral[b + 1], neutral[b + 2]);
    p = u_rotation * (p - u_pivot) + u_pivot + u_shift;
    posed[b] = p.x; posed[b + 1] = p.y; posed[b + 2] = p.z;
}}
"""


def attributes_compute_shader() -> str:
    """Return the GLSL 430 compute shader that derives, per vertex, what the draw needs from the posed positions:
    the area-weighted unit normal (`avatar.blend.vertex_normals`), the wrinkle amplitude (`wrinkle_amplitude`) and
    the cornea normal (`cornea_normals`), gathering over per-vertex lists (no atomics, so the result does not
    depend on thread order).

    Integer tables (one std430 int buffer, sections at the `u_*_at` offsets): drawn triangles (F * 3); per vertex
    the range of its triangles and that list; per vertex the range of its wrinkle incidences, and per incidence
    the edge's two vertices; per vertex its eye (-1: none). Float tables: per incidence its weight and the rest
    length of its edge; per vertex the wrinkle depth and gloss.
    """
    return f"""
#version 430
layout(local_size_x = {POSE_GROUP}) in;
layout(std430, binding = 2) readonly buffer Posed {{ float posed[]; }};
layout(std430, binding = 3) readonly buffer Ints {{ int ints[]; }};
layout(std430, binding = 4) readonly buffer Floats {{ float floats[]; }};
layout(std430, binding = 5) writeonly buffer Normals {{ float normals[]; }};
layout(std430, binding = 6) buffer Wrinkle {{ float wrinkle[]; }};      // (u, a) per vertex; u is static
layout(std430, binding = 7) writeonly buffer EyeNormals {{ float eye_normals[]; }};
uniform int u_vertices;
uniform int u_faces_at;
uniform int u_tri_range_at;
uniform int u_tri_list_at;
uniform int u_inc_range_at;
uniform int u_inc_edge_at;
uniform int u_eye_at;
uniform int u_inc_weight_at;
uniform int u_rest_length_at;
uniform int u_depth_at;
uniform bool u_wrinkles;
uniform bool u_corneas;
uniform vec3 u_eye_centres[2];
vec3 at(int v) {{ return vec3(posed[3 * v], posed[3 * v + 1], posed[3 * v + 2]); }}
void main() {{
    int v = int(gl_GlobalInvocationID.x);
    if (v >= u_vertices) return;
    vec3 n = vec3(0.0);
    for (int i = ints[u_tri_range_at + v]; i < ints[u_tri_range_at + v + 1]; ++i) {{
        int f = u_faces_at + 3 * ints[u_tri_list_at + i];
        vec3 p0 = at(ints[f]);
        n += cross(at(ints[f + 1]) - p0, at(ints[f + 2]) - p0);
    }}
    n /= max(length(n), {_glsl(1e-12)});
    normals[3 * v] = n.x; normals[3 * v + 1] = n.y; normals[3 * v + 2] = n.z;
    if (u_wrinkles) {{
        float strain = 0.0;
        for (int i = ints[u_inc_range_at + v]; i < ints[u_inc_range_at + v + 1]; ++i) {{
            float len = length(at(ints[u_inc_edge_at + 2 * i + 1]) - at(ints[u_inc_edge_at + 2 * i]));
            strain += (len / max(floats[u_rest_length_at + i], {_glsl(1e-12)}) - 1.0) * floats[u_inc_weight_at + i];
        }}
        float t = clamp((max(-strain, 0.0) - {_glsl(WRINKLE_ONSET)}) / {_glsl(WRINKLE_FULL - WRINKLE_ONSET)}, 0.0, 1.0);
        wrinkle[2 * v + 1] = floats[u_depth_at + v] * t * t * (3.0 - 2.0 * t);
    }}
    if (u_corneas) {{
        int eye = ints[u_eye_at + v];
        vec3 c = eye >= 0 ? at(v) - u_eye_centres[eye] : vec3(0.0);
        eye_normals[3 * v] = c.x; eye_normals[3 * v + 1] = c.y; eye_normals[3 * v + 2] = c.z;
    }}
}}
"""


# ---------------------------------------------------------------------------------- wrinkle amplitude
def _smoothstep_np(x: np.ndarray) -> np.ndarray:
    t = np.clip((x - WRINKLE_ONSET) / (WRINKLE_FULL - WRINKLE_ONSET), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def wrinkle_amplitude(wf: WrinkleField, vertices: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Return (B, V) float32 per-vertex fold darkness a in [0, 1) for (B, V, 3) or (V, 3) posed vertices against
    (V, 3) rest (neutral) vertices; numpy, for GLRenderer."""
    return (wf.depth * _smoothstep_np(vertex_compression(wf, vertices, rest))).astype(np.float32)


class WrinkleTensors(Protocol):
    """A WrinkleField's arrays as tensors on the render device (`renderers.differentiable.WrinkleBuffers`).

    edges (E, 2), incidence_vertex / incidence_edge (I,) int64; incidence_weight (I,) and depth (V,) float.
    """

    edges: torch.Tensor
    incidence_vertex: torch.Tensor
    incidence_edge: torch.Tensor
    incidence_weight: torch.Tensor
    depth: torch.Tensor


def vertex_compression_torch(wt: WrinkleTensors, vertices: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """Return (B, V) compression >= 0 along each region vertex's axis for (B, V, 3) posed vertices against
    (1 or B, V, 3) rest vertices; the torch twin of `renderers.wrinkles.vertex_compression`, differentiable."""
    import torch

    e0, e1 = wt.edges[:, 0], wt.edges[:, 1]
    d1 = vertices.index_select(1, e1) - vertices.index_select(1, e0)
    d0 = rest.index_select(1, e1) - rest.index_select(1, e0)
    # Length ratios ignore head pose, so posed-with-pose vertices compare directly with the unposed neutral.
    strain = d1.norm(dim=-1) / d0.norm(dim=-1).clamp_min(1e-12) - 1  # (B, E)
    contrib = strain.index_select(1, wt.incidence_edge) * wt.incidence_weight
    per_vertex = torch.zeros(vertices.shape[:2], dtype=vertices.dtype, device=vertices.device)
    per_vertex = per_vertex.index_add(1, wt.incidence_vertex, contrib)
    return (-per_vertex).clamp_min(0)


def wrinkle_amplitude_torch(wt: WrinkleTensors, vertices: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
    """Return (B, V) per-vertex fold darkness a for (B, V, 3) posed vertices against (1 or B, V, 3) rest
    vertices: `depth * smoothstep(WRINKLE_ONSET, WRINKLE_FULL, compression)`, differentiable."""
    c = vertex_compression_torch(wt, vertices, rest)
    t = ((c - WRINKLE_ONSET) / (WRINKLE_FULL - WRINKLE_ONSET)).clamp(0, 1)
    return wt.depth * t * t * (3 - 2 * t)


# ---------------------------------------------------------------------------------- cornea normals
def cornea_normals(groups: list[tuple[np.ndarray, np.ndarray]], vertices: np.ndarray) -> np.ndarray:
    """Return (V, 3) float32 unnormalised cornea normals (vertex - its eyeball's centre) of (V, 3) posed vertices,
    zero off the corneas; `groups` from `renderers.corneas.cornea_groups`. numpy, for GLRenderer."""
    out = np.zeros(vertices.shape, np.float32)
    for glossy, ball in groups:
        out[glossy] = vertices[glossy] - vertices[ball].mean(0)
    return out


def cornea_normals_torch(groups: list[tuple[torch.Tensor, torch.Tensor]], vertices: torch.Tensor) -> torch.Tensor:
    """Return (B, V, 3) unnormalised cornea normals of (B, V, 3) posed vertices (the torch twin of `cornea_normals`)."""
    import torch

    out = torch.zeros_like(vertices)
    for glossy, ball in groups:
        centre = vertices.index_select(1, ball).mean(1, keepdim=True)
        out = out.index_copy(1, glossy, vertices.index_select(1, glossy) - centre)
    return out


# ---------------------------------------------------------------------------------- fragment shading
def shade_torch(normals: torch.Tensor, world: torch.Tensor, albedo_linear: torch.Tensor, *, eye: torch.Tensor,
                key_dir: torch.Tensor, fill_dir: torch.Tensor, rim_dir: torch.Tensor, key_rgb: torch.Tensor,
                fill_rgb: torch.Tensor, rim_rgb: torch.Tensor, ambient: torch.Tensor, specular: float,
                wrinkle: torch.Tensor | None = None, gloss: torch.Tensor | None = None,
                eye_normal: torch.Tensor | None = None, occlusion: torch.Tensor | None = None) -> torch.Tensor:
    """Return (N, 3) sRGB colours in [0, 1]: `fragment_shader()`'s formulas in torch, differentiable.

    Args:
        normals, world, albedo_linear: (N, 3) interpolated normal, world position and linear albedo.
        eye, *_dir, *_rgb, ambient: (3,) camera position, unit light directions and light colours.
        specular: the skin's Blinn strength.
        wrinkle: optional (N, 2) interpolated (line coordinate u, amplitude a); None: no lines.
        gloss: optional (N, 1) interpolated cornea gloss; None: no catch-lights.
        eye_normal: (N, 3) interpolated unnormalised cornea normals, needed with `gloss`.
        occlusion: optional (N, 1) interpolated cavity darkening in linear light (factor ** GAMMA); it dims the
            skin's highlight as it dims the albedo (already in `albedo_linear`). None: 1.
    """
    import torch

    n = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    view = eye - world
    view = view / view.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n_dot_v = (n * view).sum(-1, keepdim=True)
    # Back faces (inside of the lips and mouth) are lit like front faces.
    n = torch.where(n_dot_v < 0, -n, n)
    n_dot_v = n_dot_v.abs()
    albedo = albedo_linear
    fold_shade: torch.Tensor | float = 1.0
    if wrinkle is not None:
        fold = (0.5 + 0.5 * (2 * math.pi * wrinkle[:, :1]).cos()).clamp_min(0).pow(WRINKLE_SHARPNESS)
        fold_shade = 1 - wrinkle[:, 1:2] * fold
        albedo = albedo * fold_shade
    key = ((n @ key_dir)[:, None] + KEY_WRAP).div(1 + KEY_WRAP).clamp_min(0)
    fill = ((n @ fill_dir)[:, None] + FILL_WRAP).div(1 + FILL_WRAP).clamp_min(0)
    rim = (1 - n_dot_v).pow(RIM_POWER) * ((n @ rim_dir)[:, None] + RIM_WRAP).clamp_min(0)
    half = key_dir + view
    half = half / half.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n_h = (n * half).sum(-1, keepdim=True).clamp_min(0)
    spec = specular * fold_shade * n_h.pow(SPEC_POWER)  # a fold shades its highlight too: lines never turn white
    if occlusion is not None:  # so does a cavity: no grey smudge of highlight over a darkened albedo
        spec = spec * occlusion
    if gloss is not None:
        nc = eye_normal / eye_normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        spec = spec + gloss * CATCH_LIGHT_STRENGTH * (nc * half).sum(-1, keepdim=True).clamp_min(0).pow(CATCH_LIGHT_POWER)
    lin = albedo * (ambient + key * key_rgb + fill * fill_rgb) + rim * rim_rgb * albedo + spec * key_rgb
    lin = lin / (1 + TONE * lin)
    # The floor keeps pow's gradient finite at black (GL's pow(0, 1/2.2) is 0; 1e-12 ** (1/2.2) ~ 4e-6).
    return lin.clamp(1e-12, 1.0).pow(1 / GAMMA)

