"""Returns the GL draws of a head's attachments (hair, clothing, raised brows; `renderers.attachments`) for GLRenderer.

Two draws with one program (`renderers.strand_shading`), after the head's and into the same depth buffer (so the
hair behind the skull fails the depth test):

- the rigid part (hair and clothing) from static buffers of its rest-space vertices, moved by a uniform (the
  skull's rigid motion this frame), so a frame uploads 64 bytes for it whichever posing path runs;
- the brow shell from the head's own posed position and normal buffers, through an index buffer of the brow's
  base vertices, each lifted along its normal by a per-vertex amount read from a (V,) buffer (zero elsewhere):
  it follows every expression with no per-frame work, on the numpy and compute-shader posing paths alike.

Both draw without back-face culling: the shader turns each normal towards the viewer (the inside of a curtain of
hair shows from below and from the side). Culling the hair shell by its winding dropped parts of it from some views
(not understood in the time there was), so it is not done.

On a CPU rasterizer (`segment_layout`) the rigid part is drawn in two halves around the head: its patches that face
the camera this frame (the hair over the forehead and crown, the collar in front of the neck) before the head, the
rest after it. llvmpipe tests depth before it shades, so the scalp, forehead and neck under them are no longer shaded
and then painted over (at 512 px, front view, about a fifth of the head's shaded samples). Depth decides what is seen
whatever the order, so the pixels are the same but where two surfaces meet at exactly equal depth.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from renderers.attachments import BROW_HAIRNESS, Attachments

_NO_RUNS: list[tuple[int, int]] = []


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
        self._segments: np.ndarray | None = None  # (S, 3) triangles' first/count and rank in the index buffer
        self._front: list[tuple[int, int]] = _NO_RUNS  # index runs drawn before the head this frame (`draw_front`)
        if len(a.faces):
            params = np.stack([a.hairness, np.zeros(a.num_rigid)], 1)
            drawn, source = a.faces, np.arange(a.num_rigid)
            if segment_layout:
                from renderers.draw_order import SEGMENT_TRIANGLES, cache_friendly_layout

                # Hair before clothing, as concatenated (the order only matters where two surfaces meet at equal depth).
                part = (a.hairness[a.faces[:, 0]] == 0).astype(np.int64)
                drawn, source = cache_friendly_layout(a.faces, a.rest, part, len(a.faces))
                # Each vsplit segment is a compact patch: its centre and mean outward normal (rest space) say which
                # side of the skull it lies on, for `draw_front`.
                corners = a.rest[source][drawn]  # (F, 3, 3)
                normals = a.normals[source][drawn].sum(1)
                starts = np.arange(0, len(drawn), SEGMENT_TRIANGLES)
                self._seg_tris = np.diff(np.append(starts, len(drawn)))
                self._seg_centre = np.add.reduceat(corners.mean(1), starts) / self._seg_tris[:, None]
                self._seg_normal = np.add.reduceat(normals, starts)
                self._seg_triangles = np.asarray(drawn, np.int32)
            ibo = ctx.buffer(np.ascontiguousarray(drawn, np.int32).tobytes())
            self._ibo = ibo
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
        if hasattr(self, "_seg_tris"):
            self._order_segments(np.asarray(eye, np.float64))
        p = self.prog
        p["u_view"].write(np.ascontiguousarray(view.T, np.float32).tobytes())
        p["u_proj"].write(np.ascontiguousarray(proj.T, np.float32).tobytes())
        p["u_eye"].value = eye
        for name, value in lights.items():
            if f"u_{name}" in p:
                p[f"u_{name}"].value = value

    def _order_segments(self, eye: np.ndarray) -> None:
        """Rewrite the rigid part's index buffer with its segments sorted from the most to the least facing `eye` (the
        camera, head at rest), so the segments facing the camera in a frame are one or a few runs (`draw_front`).
        The last, shorter segment stays last: every run then starts on a segment boundary and llvmpipe's vsplit cuts
        it where the layout did (each vertex still shaded once)."""
        facing = (self._seg_normal * (eye - self._seg_centre)).sum(1)
        order = np.append(np.argsort(-facing[:-1], kind="stable"), len(facing) - 1)
        from renderers.draw_order import SEGMENT_TRIANGLES

        runs = [self._seg_triangles[i * SEGMENT_TRIANGLES:i * SEGMENT_TRIANGLES + n]
                for i, n in zip(order, self._seg_tris[order])]
        self._ibo.write(np.ascontiguousarray(np.concatenate(runs), np.int32).tobytes())
        self._seg_order = order
        self._seg_first = np.concatenate([[0], np.cumsum(self._seg_tris[order])[:-1]]) * 3
        self._eye_world = eye

    def _front_runs(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Return ((first index, index count) runs of the segments that face the camera in this frame's pose, the
        runs of the others), in index-buffer order."""
        r, t = self.model[:3, :3].astype(np.float64), self.model[:3, 3].astype(np.float64)
        eye = r.T @ (self._eye_world - t)  # the camera in the rest space the segments are described in
        o = self._seg_order
        front = (self._seg_normal[o] * (eye - self._seg_centre[o])).sum(1) > 0.0
        counts = 3 * self._seg_tris[o]
        runs: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        for i in range(len(o)):
            side = runs[0] if front[i] else runs[1]
            first = int(self._seg_first[i])
            if side and side[-1][0] + side[-1][1] == first:
                side[-1] = (side[-1][0], side[-1][1] + int(counts[i]))
            else:
                side.append((first, int(counts[i])))
        return runs

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

    def draw_front(self) -> None:
        """Draw the rigid part's segments that face the camera this frame (a CPU rasterizer's layout only; else
        nothing), before the head, so the skin they cover fails the depth test instead of being shaded; `draw` then
        draws the rest. Depth test on, no culling."""
        self._front = _NO_RUNS
        if self.rigid_vao is None or not hasattr(self, "_seg_order"):
            return
        self._front, back = self._front_runs()
        self._render_rigid(self._front)
        self._back = back

    def _render_rigid(self, runs: list[tuple[int, int]]) -> None:
        """Draw `runs` ((first index, count) pairs) of the rigid part with this frame's model."""
        import moderngl

        p = self.prog
        p["u_model"].write(np.ascontiguousarray(self.model.T, np.float32).tobytes())
        p["u_rot"].write(np.ascontiguousarray(self.model[:3, :3].T, np.float32).tobytes())  # column-major for GLSL
        for first, count in runs:
            self.rigid_vao.render(moderngl.TRIANGLES, vertices=count, first=first)

    def draw(self) -> None:
        """Draw the rigid part (what `draw_front` left this frame, or all of it), then the brows, into the bound
        framebuffer (depth test on, no culling)."""
        import moderngl

        p = self.prog
        rot = np.ascontiguousarray(self.model[:3, :3].T, np.float32).tobytes()  # column-major for GLSL
        if self.rigid_vao is not None:
            self._render_rigid(self._back if self._front is not _NO_RUNS else [(0, self._rigid_vertices)])
            self._front = _NO_RUNS
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
