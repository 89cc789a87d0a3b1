"""GLSL sources for the offscreen head renderer: per-vertex albedo, key/fill/rim lights, sRGB output."""

VERTEX_SHADER = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_position;
in vec3 in_normal;
in vec3 in_albedo;
out vec3 v_normal;
out vec3 v_world;
out vec3 v_albedo;
void main() {
    v_world = in_position;
    v_normal = in_normal;
    // Albedo arrives in sRGB; shade in linear light.
    v_albedo = pow(in_albedo, vec3(2.2));
    gl_Position = u_proj * u_view * vec4(in_position, 1.0);
}
"""

FRAGMENT_SHADER = """
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
out vec4 f_colour;
void main() {
    vec3 n = normalize(v_normal);
    vec3 view = normalize(u_eye - v_world);
    if (dot(n, view) < 0.0) n = -n;  // back faces (inside of lips, mouth) lit like front faces
    // Soft (wrapped) diffuse so the shadow side does not go black.
    float key = max((dot(n, u_key_dir) + 0.25) / 1.25, 0.0);
    float fill = max((dot(n, u_fill_dir) + 0.4) / 1.4, 0.0);
    float rim = pow(1.0 - max(dot(n, view), 0.0), 3.0) * max(dot(n, u_rim_dir) + 0.3, 0.0);
    vec3 h = normalize(u_key_dir + view);
    float spec = u_specular * pow(max(dot(n, h), 0.0), 40.0);
    vec3 lin = v_albedo * (u_ambient + key * u_key_rgb + fill * u_fill_rgb) + rim * u_rim_rgb * v_albedo + spec * u_key_rgb;
    // Simple filmic-ish tone curve, then back to sRGB.
    lin = lin / (1.0 + 0.15 * lin);
    f_colour = vec4(pow(clamp(lin, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
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
