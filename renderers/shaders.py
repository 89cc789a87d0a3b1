"""GLSL sources for the offscreen head renderer, formatted from `renderers.shading` (the one home of the
shading constants, shared with the differentiable renderer), plus the visibility pass's shaders."""

from renderers.shading import fragment_shader, vertex_shader

VERTEX_SHADER = vertex_shader()
FRAGMENT_SHADER = fragment_shader()

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
