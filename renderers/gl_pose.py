"""Compute-shader posing for GLRenderer: blend shapes, normals, wrinkle amplitude and cornea normals on the GL device.

A frame uploads its non-zero weights, the head pose and two eye centres instead of the posed mesh (GL 4.3).
Used where the rasterizer is a GPU (`RendererOptions.gpu_pose`); on llvmpipe the compute also runs on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from renderers.wrinkles import WrinkleField
from avatar.errors import ShapeError
from avatar.head import BlendshapeHead


class GPUPose:
    """Poses a head in compute shaders into a GLRenderer's vertex buffers: per frame, the non-zero weights and the
    head pose go up, and positions, normals, wrinkle amplitudes and cornea normals are made on the GL device.

    The same formulas as the numpy path (`avatar.blend.blend` / `vertex_normals`, `renderers.shading.wrinkle_amplitude`,
    `cornea_normals`), gathered per vertex so the sums are in a fixed order; float32 throughout, so results agree
    with numpy to ~1e-5 (tests/test_speed_paths.py). Eye centres are means of posed eyeball vertices, which are
    linear in the weights, so they are blended from per-shape means on the host (52 x 3 numbers per eye).
    """

    def __init__(self, ctx: Any, head: BlendshapeHead, faces: np.ndarray, wrinkles: WrinkleField | None,
                 corneas: list[tuple[np.ndarray, np.ndarray]], outputs: tuple[Any, Any, Any, Any]) -> None:
        from renderers.shading import MAX_SHAPES, POSE_GROUP, attributes_compute_shader, pose_compute_shader

        if len(head.shape_deltas) > MAX_SHAPES:
            raise ShapeError(f"gpu_pose takes at most {MAX_SHAPES} shapes, the head has {len(head.shape_deltas)}")
        self.ctx, self.head, self.group, self.max_shapes = ctx, head, POSE_GROUP, MAX_SHAPES
        self.pose_prog = ctx.compute_shader(pose_compute_shader())
        self.attr_prog = ctx.compute_shader(attributes_compute_shader())
        self.pos, self.nrm, self.wrk, self.eye = outputs
        n = head.num_vertices
        self.n = n
        # Vertex -> drawn triangles, sorted by triangle so each normal sums in the numpy path's order.
        corner_vertex = faces.ravel().astype(np.int64)
        order = np.argsort(corner_vertex, kind="stable")
        tri_list = (order // 3).astype(np.int32)
        tri_range = np.concatenate([[0], np.cumsum(np.bincount(corner_vertex, minlength=n))]).astype(np.int32)
        ints: list[np.ndarray] = []
        floats: list[np.ndarray] = []
        offsets: dict[str, int] = {}

        def put(table: list[np.ndarray], name: str, values: np.ndarray) -> None:
            offsets[name] = sum(len(t) for t in table)
            table.append(np.ascontiguousarray(values).ravel())

        put(ints, "faces", faces.astype(np.int32))
        put(ints, "tri_range", tri_range)
        put(ints, "tri_list", tri_list)
        self.wrinkles = wrinkles
        if wrinkles is not None:
            order = np.argsort(wrinkles.incidence_vertex, kind="stable")
            inc_vertex = wrinkles.incidence_vertex[order]
            inc_edge = wrinkles.incidence_edge[order]
            put(ints, "inc_range", np.concatenate([[0], np.cumsum(np.bincount(inc_vertex, minlength=n))]).astype(np.int32))
            put(ints, "inc_edge", wrinkles.edges[inc_edge].astype(np.int32))
            put(floats, "inc_weight", wrinkles.incidence_weight[order].astype(np.float32))
            self._inc_edge = inc_edge
            put(floats, "rest_length", self._rest_lengths(head.neutral))
            put(floats, "depth", wrinkles.depth.astype(np.float32))
        eye = np.full(n, -1, np.int32)
        for i, (glossy, _) in enumerate(corneas[:2]):
            eye[glossy] = i
        put(ints, "eye", eye)
        self.corneas = corneas[:2]
        self._offsets = offsets
        self.ints = ctx.buffer(np.concatenate(ints).astype(np.int32).tobytes())
        self.floats = ctx.buffer(np.concatenate(floats or [np.zeros(1, np.float32)]).astype(np.float32).tobytes())
        self.neutral = ctx.buffer(head.neutral.astype(np.float32).tobytes())
        self.deltas = ctx.buffer(head.shape_deltas.astype(np.float32).tobytes())
        self._deltas_of = head.shape_deltas
        self._eye_means = self._eye_shape_means(head)
        self._set_static_uniforms()

    def _rest_lengths(self, rest: np.ndarray) -> np.ndarray:
        """Return (I,) float32 rest lengths of each wrinkle incidence's edge, in the sorted incidence order."""
        e = self.wrinkles.edges[self._inc_edge]
        return np.linalg.norm(rest[e[:, 1]] - rest[e[:, 0]], axis=-1).astype(np.float32)

    def _eye_shape_means(self, head: BlendshapeHead) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return per eye (neutral eyeball centre (3,), per-shape centre shift (K, 3)), float64."""
        return [(head.neutral[ball].astype(np.float64).mean(0), head.shape_deltas[:, ball].astype(np.float64).mean(1))
                for _, ball in self.corneas]

    def _set_static_uniforms(self) -> None:
        for prog in (self.pose_prog, self.attr_prog):
            prog["u_vertices"].value = self.n
        ap = self.attr_prog
        for name, at in self._offsets.items():
            if f"u_{name}_at" in ap:
                ap[f"u_{name}_at"].value = at
        for name in ("u_wrinkles", "u_corneas"):
            if name in ap:
                ap[name].value = bool(self.wrinkles is not None) if name == "u_wrinkles" else bool(self.corneas)

    def set_head(self, head: BlendshapeHead) -> None:
        """Use another head of the same topology: its neutral (and deltas, when they differ) and its rest lengths."""
        self.head = head
        self.neutral.write(head.neutral.astype(np.float32).tobytes())
        if head.shape_deltas is not self._deltas_of:
            if len(head.shape_deltas) != len(self._deltas_of):  # another number of combos: another buffer size
                self.deltas.release()
                self.deltas = self.ctx.buffer(head.shape_deltas.astype(np.float32).tobytes())
            else:
                self.deltas.write(head.shape_deltas.astype(np.float32).tobytes())
            self._deltas_of = head.shape_deltas
        if self.wrinkles is not None:
            at = self._offsets["rest_length"] * 4
            self.floats.write(self._rest_lengths(head.neutral).tobytes(), offset=at)
        self._eye_means = self._eye_shape_means(head)

    def run(self, weights: np.ndarray, head_pose: np.ndarray | None) -> None:
        """Pose (52,) weights with an optional (6,) head pose into the vertex buffers (no host round trip)."""
        from avatar.rotations import rotation_matrix

        w = self.head.shape_weights(np.asarray(weights, np.float32))  # the combos' products after the 52
        active = np.flatnonzero(w)
        pp = self.pose_prog
        pp["u_active"].value = len(active)
        shapes, values = np.zeros(self.max_shapes, np.int32), np.zeros(self.max_shapes, np.float32)
        shapes[:len(active)], values[:len(active)] = active, w[active]
        pp["u_shapes"].write(shapes.tobytes())
        pp["u_weights"].write(values.tobytes())
        if head_pose is None:
            rot, shift = np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
        else:
            hp = np.asarray(head_pose, np.float64)
            rot = rotation_matrix(hp[0], hp[1], hp[2]).astype(np.float32).reshape(3, 3)
            shift = hp[3:6].astype(np.float32)
        pivot = np.asarray(self.head.pivot, np.float32)
        pp["u_rotation"].write(rot.T.copy().tobytes())  # GLSL matrices are column-major
        pp["u_pivot"].value = tuple(float(x) for x in pivot)
        pp["u_shift"].value = tuple(float(x) for x in shift)
        if self.corneas:
            centres = []
            for c0, per_shape in self._eye_means:
                c = c0 + w.astype(np.float64) @ per_shape
                centres.append(rot.astype(np.float64) @ (c - pivot) + pivot + shift)
            while len(centres) < 2:
                centres.append(np.zeros(3))
            self.attr_prog["u_eye_centres"].write(np.asarray(centres, np.float32).tobytes())
        self.neutral.bind_to_storage_buffer(0)
        self.deltas.bind_to_storage_buffer(1)
        self.pos.bind_to_storage_buffer(2)
        self.ints.bind_to_storage_buffer(3)
        self.floats.bind_to_storage_buffer(4)
        self.nrm.bind_to_storage_buffer(5)
        self.wrk.bind_to_storage_buffer(6)
        self.eye.bind_to_storage_buffer(7)
        groups = (self.n + self.group - 1) // self.group
        pp.run(groups)
        self.ctx.memory_barrier()
        self.attr_prog.run(groups)
        self.ctx.memory_barrier()

    def release(self) -> None:
        """Free the compute programs and tables (the vertex buffers belong to the renderer)."""
        for obj in (self.pose_prog, self.attr_prog, self.ints, self.floats, self.neutral, self.deltas):
            obj.release()
