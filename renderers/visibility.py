"""Returns visibility buffers (which triangle covers each pixel) rasterized offscreen with moderngl.

The first half of the differentiable renderer (the split nvdiffrast uses): GL decides coverage and
depth, torch recomputes barycentrics from the vertices so gradients reach them. The pass draws the
same triangles through the same vertex transform as `renderers.gl.GLRenderer`, so it covers exactly
the pixels the shaded GL frame covers (without MSAA). numpy in, numpy out; no torch here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, ShapeError
from renderers.cameras import Camera


class GLVisibilityRasterizer:
    """Rasterizes triangle indices of posed meshes with one reused GL context; `close()` it (or use `with`).

    Args:
        faces: (F, 3) int triangles to draw (e.g. `renderers.drawn_faces.drawn_faces(head)`).
        num_vertices: V, the vertex count of every mesh passed to `rasterize`.
        width, height: image size in pixels.
        camera: the camera the meshes are seen from.
        backend: moderngl context backend ("egl" headless; None for moderngl's default).
    """

    def __init__(self, faces: np.ndarray, num_vertices: int, width: int, height: int, camera: Camera,
                 backend: str | None = "egl") -> None:
        from renderers.gl_context import create_context, make_current
        from renderers.shaders import VISIBILITY_FRAGMENT_SHADER, VISIBILITY_VERTEX_SHADER

        faces = np.ascontiguousarray(faces, dtype=np.int32)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ShapeError(f"faces must be triangles (F, 3), got {tuple(faces.shape)}")
        if len(faces) >= 2**24:  # ids travel as float32, exact below 2**24
            raise AvatarInputError(f"{len(faces)} triangles is too many for the visibility pass: split the mesh below 16.7 million")
        if not (1 <= width <= 16384 and 1 <= height <= 16384):
            raise AvatarInputError(f"visibility buffer size {width}x{height} is out of range: use 1..16384 pixels a side")
        self.width, self.height, self.num_vertices, self.num_faces = int(width), int(height), int(num_vertices), len(faces)
        self.ctx = create_context(backend)
        self._make_current = make_current
        ctx = self.ctx
        self.prog = ctx.program(vertex_shader=VISIBILITY_VERTEX_SHADER, fragment_shader=VISIBILITY_FRAGMENT_SHADER)
        self.vbo = ctx.buffer(reserve=self.num_vertices * 12, dynamic=True)
        self.ibo = ctx.buffer(faces.tobytes())
        self.vao = ctx.vertex_array(self.prog, [(self.vbo, "3f", "in_position")], index_buffer=self.ibo)
        size = (self.width, self.height)
        self.fbo = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer(size, 1, dtype="f4")],
            depth_attachment=ctx.depth_renderbuffer(size),
        )
        self.set_camera(camera)

    def set_camera(self, camera: Camera) -> None:
        """Draw the following meshes from `camera`."""
        self._make_current(self.ctx)
        self.camera = camera
        self.prog["u_view"].write(camera.view_matrix().T.copy().tobytes())
        self.prog["u_proj"].write(camera.projection_matrix(self.width / self.height).T.copy().tobytes())

    def set_view_proj(self, matrix: np.ndarray) -> None:
        """Draw the following meshes through a (4, 4) world -> clip `matrix` instead of a camera (the key light's
        orthographic box, `renderers.shadows.light_matrix`)."""
        self._make_current(self.ctx)
        self.prog["u_view"].write(np.eye(4, dtype=np.float32).tobytes())
        self.prog["u_proj"].write(np.asarray(matrix, np.float32).T.copy().tobytes())

    def rasterize(self, vertices: np.ndarray) -> np.ndarray:
        """Return (H, W) int32 triangle indices (row 0 at the top; -1 where no triangle) for (V, 3) vertices,
        or (B, H, W) for (B, V, 3)."""
        import moderngl

        verts = np.ascontiguousarray(vertices, dtype=np.float32)
        if verts.ndim not in (2, 3) or verts.shape[-2:] != (self.num_vertices, 3):
            raise ShapeError(f"vertices must have shape ({self.num_vertices}, 3) or (B, {self.num_vertices}, 3), got {tuple(verts.shape)}")
        batch = verts.reshape(-1, self.num_vertices, 3)
        out = np.empty((len(batch), self.height, self.width), np.int32)
        self._make_current(self.ctx)
        self.fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)  # as GLRenderer: both sides of every triangle are drawn
        for i, v in enumerate(batch):
            self.vbo.write(v.tobytes())
            self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
            self.vao.render(moderngl.TRIANGLES)
            ids = np.frombuffer(self.fbo.read(components=1, dtype="f4", alignment=1), np.float32)
            out[i] = ids.reshape(self.height, self.width)[::-1].astype(np.int32) - 1  # GL's origin is bottom-left
        return out if verts.ndim == 3 else out[0]

    @property
    def gl_renderer(self) -> str:
        """Return the GL renderer string (e.g. 'llvmpipe (LLVM 15...)' or the NVIDIA GPU name)."""
        return str(self.ctx.info["GL_RENDERER"])

    def close(self) -> None:
        """Release the GL context and its buffers."""
        if getattr(self, "ctx", None) is not None:
            # A released context left as "current" in renderers.gl_context is harmless: the next user re-binds its own.
            self.ctx.release()
            self.ctx = None

    def __enter__(self) -> GLVisibilityRasterizer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
