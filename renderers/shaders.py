"""GLSL sources for the offscreen head renderer, formatted from `renderers.shading` (the one home of the
shading constants, shared with the differentiable renderer), plus the visibility pass's shaders."""

from renderers.shading import fragment_shader, vertex_shader

VERTEX_SHADER = vertex_shader()
FRAGMENT_SHADER = fragment_shader()

# The last pass of a GLRenderer frame: one fullscreen triangle that averages each k x k block of the
# supersampled scene (a box filter, as the differentiable renderer's avg_pool2d) and writes the rows top
# first, so the read-back needs no flip.
RESOLVE_VERTEX_SHADER = """
#version 330
void main() {
    gl_Position = vec4(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0, 0.0, 1.0);
}
"""


def resolve_fragment_shader(factor: int) -> str:
    """Return the resolve pass's GLSL 330 fragment shader for `factor` x `factor` supersampling: the block's texels
    summed row by row and divided by their count.

    The factor is a compile-time constant, not a uniform, so the loops unroll into `factor`**2 fetches: on llvmpipe a
    loop with a uniform bound runs as a masked loop per 8 pixels (the same sums in the same order, so the same bits)."""
    return f"""
#version 330
const int FACTOR = {int(factor)};
uniform sampler2D u_scene;
uniform int u_height;
out vec4 f_colour;
void main() {{
    ivec2 o = ivec2(gl_FragCoord.xy);
    ivec2 base = ivec2(o.x, u_height - 1 - o.y) * FACTOR;
    vec4 sum = vec4(0.0);
    for (int j = 0; j < FACTOR; ++j)
        for (int i = 0; i < FACTOR; ++i)
            sum += texelFetch(u_scene, base + ivec2(i, j), 0);
    f_colour = sum / float(FACTOR * FACTOR);
}}
"""

# Visibility pass of the differentiable renderer: the same clip-space position as VERTEX_SHADER (so
# coverage and depth match the shaded pass exactly), writing triangle index + 1 (0 = background) as
# a float, exact up to 2**24 triangles; torch recomputes barycentrics from the vertices.
VISIBILITY_VERTEX_SHADER = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_position;
void main() {
    gl_Position = u_proj * u_view * vec4(in_position, 1.0);
}
"""

VISIBILITY_FRAGMENT_SHADER = """
#version 330
out float f_id;
void main() {
    f_id = float(gl_PrimitiveID + 1);
}
"""

# The key light's shadow map (renderers.shadows): the head's positions through the light's orthographic matrix, depth only.
SHADOW_VERTEX_SHADER = """
#version 330
uniform mat4 u_light;
uniform mat4 u_model;  // the head pose, as in the head's vertex shader
in vec3 in_position;
void main() {
    gl_Position = u_light * (u_model * vec4(in_position, 1.0));
}
"""

SHADOW_FRAGMENT_SHADER = """
#version 330
void main() {
}
"""
