"""Returns the GL draws of a head's attachments (hair, clothing, raised brows; `renderers.attachments`) for GLRenderer.

Two draws with one program (`renderers.strand_shading`), after the head's and into the same depth buffer (so the
hair behind the skull fails the depth test):

- the rigid part (hair and clothing) from static buffers of its rest-space vertices, moved by a uniform (the
  skull's rigid motion this frame), so a frame uploads 64 bytes for it whichever posing path runs;
- the brow shell from the head's own posed position and normal buffers, through an index buffer of the brow's
  base vertices, each lifted along its normal by a per-vertex amount read from a (V,) buffer (zero elsewhere):
  it follows every expression with no per-frame work, on the numpy and compute-shader posing paths alike.

Both draw without back-face culling: the shader turns each normal towards the viewer (the inside of a curtain of
hair shows from below and from the side). Drawing them before the head, with culling, would spare shading the scalp
under the hair, but culling the hair shell by its winding dropped parts of it from some views (not understood in the
time there was), so it is not done.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from renderers.attachments import BROW_HAIRNESS, Attachments


class GLAttachments:
    """The buffers, program and vertex arrays that draw `Attachments` in a moderngl context; `release()` frees them.

    `head_positions` / `head_normals` are the head's posed vertex buffers and `slots` (V,) where each head vertex lies
    in them (GLRenderer may lay its buffers out in another order, `renderers.draw_order`). `fast_gamma`: the output
    gamma without pow() (`renderers.shading.gamma_encode_glsl`; GLRenderer's choice on a CPU rasterizer).
    `segment_layout`: the rigid part's triangles in compact patches, each with its own run of vertices
    (`renderers.draw_order.cache_friendly_layout`, GLRenderer's choice on a CPU rasterizer): each vertex is shaded
    about once a draw instead of 2.65 times (26,831 -> ~10,500 runs of the vertex shader for the default hair).
    """

    def __init__(self, ctx: Any, attachments: Attachments, head_positions: Any, head_normals: Any, slots: np.ndarray,
                 fast_gamma: bool = False, segment_layout: bool = False) -> None:
        from renderers.shading import linear_albedo  # the vertex shader reads linear albedo, linearised here once
        from renderers.strand_shading import fragment_shader, vertex_shader

        self.ctx, self.attachments = ctx, attachments
        self.model = np.eye(4, dtype=np.float32)
        self.head_model = np.eye(4, dtype=np.float32)
        self.prog = ctx.program(vertex_shader=vertex_shader(), fragment_shader=fragment_shader(fast_gamma))
        a = attachments
        self._buffers: list[Any] = []

        def buf(data: np.ndarray) -> Any:
            b = ctx.buffer(np.ascontiguousarray(data, np.float32).tobytes())
            self._buffers.append(b)
            return b

        self.rigid_vao = None
        if len(a.faces):
            params = np.stack([a.hairness, np.zeros(a.num_rigid)], 1)
            drawn, source = a.faces, np.arange(a.num_rigid)
            if segment_layout:
                from renderers.draw_order import cache_friendly_layout

                # Hair before clothing, as concatenated (the order only matters where two surfaces meet at equal depth).
                part = (a.hairness[a.faces[:, 0]] == 0).astype(np.int64)
                drawn, source = cache_friendly_layout(a.faces, a.rest, part, len(a.faces))
            ibo = ctx.buffer(np.ascontiguousarray(drawn, np.int32).tobytes())
            self._buffers.append(ibo)
            self.rigid_vao = ctx.vertex_array(
                self.prog,
                [(buf(a.rest[source]), "3f", "in_position"), (buf(a.normals[source]), "3f", "in_normal"),
                 (buf(a.tangents[source]), "3f", "in_tangent"), (buf(linear_albedo(a.albedo)[source]), "3f", "in_albedo"),
                 (buf(a.strand[source]), "2f", "in_strand"), (buf(params[source]), "2f", "in_params")],
                index_buffer=ibo, skip_errors=True)
            self._rigid_vertices = 3 * len(drawn)
        self.brow_vao = None
        if len(a.brow_faces):
            n = head_positions.size // 12
            at = np.asarray(slots)[a.brow_base]
            if (at < 0).any():
                raise ValueError("a brow vertex is not in the head's vertex buffers")

            def scattered(values: np.ndarray, width: int) -> np.ndarray:
                out = np.zeros((n, width), np.float32)
                out[at] = values.reshape(len(a.brow_base), width)
                return out

            params = scattered(np.stack([np.full(a.num_brow, BROW_HAIRNESS), a.brow_lift], 1), 2)
            ibo = ctx.buffer(np.ascontiguousarray(at[a.brow_faces], np.int32).tobytes())
            self._buffers.append(ibo)
            self.brow_vao = ctx.vertex_array(
                self.prog,
                [(head_positions, "3f", "in_position"), (head_normals, "3f", "in_normal"),
                 (buf(scattered(a.brow_tangent, 3)), "3f", "in_tangent"), (buf(scattered(linear_albedo(a.brow_albedo), 3)), "3f", "in_albedo"),
                 (buf(scattered(a.brow_strand, 2)), "2f", "in_strand"), (buf(params), "2f", "in_params")],
                index_buffer=ibo, skip_errors=True)
            self._brow_vertices = 3 * len(a.brow_faces)

    def set_uniforms(self, view: np.ndarray, proj: np.ndarray, eye: tuple[float, ...], lights: dict[str, Any]) -> None:
        """Set the camera and light uniforms (the head program's values: `lights` maps `u_` names' suffixes to values)."""
        p = self.prog
        p["u_view"].write(np.ascontiguousarray(view.T, np.float32).tobytes())
        p["u_proj"].write(np.ascontiguousarray(proj.T, np.float32).tobytes())
        p["u_eye"].value = eye
        for name, value in lights.items():
            if f"u_{name}" in p:
                p[f"u_{name}"].value = value

    def set_model(self, model: np.ndarray) -> None:
        """Use the (4, 4) rigid transform of the skull (rest -> posed) for the following frames."""
        self.model = np.asarray(model, np.float32)

    def set_head_model(self, model: np.ndarray | None) -> None:
        """Use the (4, 4) transform the head's vertex shader applies to its vertex buffers (None: the identity) for the
        brows, which are drawn from those buffers."""
        self.head_model = np.eye(4, dtype=np.float32) if model is None else np.asarray(model, np.float32)

    def set_model_from_vertices(self, vertices: np.ndarray) -> None:
        """Fit the skull's rigid motion from (V, 3) posed head vertices (`renderers.attachments.rigid_fit`)."""
        from renderers.attachments import rigid_fit

        a = self.attachments
        self.set_model(rigid_fit(a.anchor_rest, np.asarray(vertices)[a.anchors]))

    def draw(self) -> None:
        """Draw the rigid part, then the brows, into the bound framebuffer (depth test on, no culling)."""
        import moderngl

        p = self.prog
        rot = np.ascontiguousarray(self.model[:3, :3].T, np.float32).tobytes()  # column-major for GLSL
        if self.rigid_vao is not None:
            p["u_model"].write(np.ascontiguousarray(self.model.T, np.float32).tobytes())
            p["u_rot"].write(rot)
            self.rigid_vao.render(moderngl.TRIANGLES, vertices=self._rigid_vertices)
        if self.brow_vao is not None:
            p["u_model"].write(np.ascontiguousarray(self.head_model.T, np.float32).tobytes())
            p["u_rot"].write(rot)
            self.brow_vao.render(moderngl.TRIANGLES, vertices=self._brow_vertices)

    def release(self) -> None:
        """Free the GL objects."""
        for obj in (self.rigid_vao, self.brow_vao, self.prog, *self._buffers):
            if obj is not None:
                obj.release()
        self._buffers = []
        self.rigid_vao = self.brow_vao = None
