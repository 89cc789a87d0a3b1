"""Returns what GLRenderer's shaders read for a posed frame, at the cost of what moves: its numpy posing path.

The per-frame work of the numpy path (a CPU rasterizer's) was, per frame at 512 px, blend ~1 ms, vertex normals
~6 ms, wrinkle amplitude ~1 ms and cavity shading ~7 ms of CPU (20 sparse smoothing passes over the posed skin).
`FramePoser` gives the same attributes for less:

- vertex normals: one gather of the drawn triangles' corners into a preallocated (corner, axis, triangle) array,
  component-wise cross products, and three sparse vertex x triangle products (a CSR incidence matrix built once);
  float32 throughout. Equal to `avatar.blend.vertex_normals` to ~2e-7.
- cavity depth: the smoothing `S^n` is linear and its rows sum to one, so `S^n v - v` of a posed head is the head
  pose's rotation of `(S^n - I)` applied to the unposed vertices `neutral + sum_k w_k delta_k`, i.e. of
  `C_0 + sum_k w_k C_k` with `C_0 = (S^n - I) neutral` and `C_k = (S^n - I) delta_k` on the skin. Each `C_k` is
  computed once, the first time shape k is non-zero; a frame then costs one product of its weights with
  the (K, 3S) table. Equal to `renderers.cavity.cavity_shade` to float32 rounding of the depth (~1e-5 of a factor
  in 0.2..1, far below one 8-bit level).
- no per-frame allocation of the (V, 3) outputs: results live in a ring of `RING` buffer sets, so a frame's
  arrays stay valid while up to `RING - 1` later frames are posed (GLRenderer's worker runs two frames ahead and
  the drawing thread copies a frame's arrays into GL before it takes the next).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avatar.head import BlendshapeHead
from avatar.rotations import rotation_matrix

RING = 4
"""Buffer sets in the ring: prefetch depth 2 + the frame being drawn + the frame being posed."""


class FramePoser:
    """Poses frames into GLRenderer's vertex attributes: positions, unit normals, wrinkle amplitude, cornea normals,
    cavity factors (numpy; one instance per renderer; `attributes` may run on a worker thread)."""

    def __init__(self, head: BlendshapeHead, faces: np.ndarray, wrinkles: Any = None,
                 corneas: list[tuple[np.ndarray, np.ndarray]] | None = None, cavity: Any = None) -> None:
        import scipy.sparse

        self.head = head
        self.wrinkles, self.corneas, self.cavity = wrinkles, list(corneas or []), cavity
        faces = np.asarray(faces, np.int64)
        n, f = head.num_vertices, len(faces)
        self.num_vertices = n
        # Corner gather indices into the flattened (V * 3) positions, laid out (corner, axis, triangle) so the
        # edge and cross-product arithmetic runs on contiguous rows.
        self._corner_index = (faces.T[:, None, :] * 3 + np.arange(3)[None, :, None]).reshape(-1).astype(np.intp)
        # Vertex x triangle incidence: its product with the (3, F) triangle normals sums them per vertex, in
        # triangle order (as `vertex_normals`' bincount does).
        self._incidence = scipy.sparse.csr_matrix(
            (np.ones(3 * f, np.float32), (faces.ravel(), np.repeat(np.arange(f), 3))), shape=(n, f))
        self._incidence.sum_duplicates()
        self._corners = np.empty((3, 3, f), np.float32)
        self._edges = np.empty((2, 3, f), np.float32)
        self._tri = np.empty((3, f), np.float32)
        self._tmp = np.empty(f, np.float32)
        self._ring = [self._buffers() for _ in range(RING)]
        self._slot = 0
        self._cavity_tables()
        self._wrinkle_tables()

    def _buffers(self) -> dict[str, np.ndarray]:
        n = self.num_vertices
        out = {"verts": np.empty((n, 3), np.float32), "normals": np.empty((n, 3), np.float32),
               "length": np.empty(n, np.float32), "scratch": np.empty((n, 3), np.float32)}
        if self.cavity is not None:
            out["cavity"] = np.ones(n, np.float32)
        if self.wrinkles is not None:
            out["wrinkle"] = np.zeros(n, np.float32)  # 0 off the wrinkle regions, which `_wrinkle` never writes
        return out

    # --------------------------------------------------------------- wrinkles
    def _wrinkle_tables(self) -> None:
        """Set what `wrinkle_amplitude` recomputed every frame: the rest edge lengths, and the region vertices
        (the only ones with a non-zero amplitude) with each incidence's index among them."""
        if self.wrinkles is None:
            return
        wf = self.wrinkles
        rest = np.asarray(self.head.neutral, np.float32)
        self._wr_rest = np.maximum(np.linalg.norm(rest[wf.edges[:, 1]] - rest[wf.edges[:, 0]], axis=-1), 1e-12)
        self._wr_region, self._wr_local = np.unique(wf.incidence_vertex, return_inverse=True)
        self._wr_depth = wf.depth[self._wr_region]

    def _wrinkle(self, vertices: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Return `out` (V,) float32 holding `renderers.shading.wrinkle_amplitude` of (V, 3) float32 posed vertices
        (bit for bit: the same float32 strain, float64 sums in the same order), computed on the region vertices only."""
        from renderers.shading import _smoothstep_np

        wf = self.wrinkles
        strain = (np.linalg.norm(vertices[wf.edges[:, 1]] - vertices[wf.edges[:, 0]], axis=-1) / self._wr_rest - 1
                  ).astype(np.float32)
        sums = np.bincount(self._wr_local, strain[wf.incidence_edge] * wf.incidence_weight, len(self._wr_region))
        compression = np.maximum(-sums, 0.0).astype(np.float32)
        out[self._wr_region] = (self._wr_depth * _smoothstep_np(compression)).astype(np.float32)
        return out

    # ----------------------------------------------------------------- cavity
    def _cavity_tables(self) -> None:
        """(Re)set the per-shape cavity offsets: C_0 of the head's neutral now, the C_k on first use."""
        if self.cavity is None:
            return
        skin = self.cavity.skin
        k = len(self.head.shape_deltas)
        self._cav_skin = skin
        self._cav_neutral = self._smoothing_offset(self.head.neutral[skin][None])[0].reshape(-1)
        self._cav_shapes = np.zeros((k, 3 * len(skin)), np.float32)
        self._cav_ready = np.zeros(k, bool)
        self._cav_deltas = self.head.shape_deltas
        self._cav_sum = np.empty(3 * len(skin), np.float32)
        self._cav_tmp = np.empty(3 * len(skin), np.float32)

    def _smoothing_offset(self, values: np.ndarray) -> np.ndarray:
        """Return (m, S, 3) float32 `(S^n - I) x` for (m, S, 3) skin values x (float32, as the posed skin was smoothed;
        the m shapes' 3m columns share each pass over the sparse matrix)."""
        m, s = values.shape[0], values.shape[1]
        x = np.ascontiguousarray(np.asarray(values, np.float32).transpose(1, 0, 2).reshape(s, 3 * m))
        matrix = self.cavity.matrix
        y = x
        for _ in range(self.cavity.settings()[1]):
            y = matrix @ y
        return (y - x).reshape(s, m, 3).transpose(1, 0, 2).astype(np.float32)

    def _cavity_offset(self, weights: np.ndarray) -> np.ndarray:
        """Return (S, 3) float32 `S^n v - v` of the unposed head posed by (K,) weights."""
        active = weights != 0
        missing = np.flatnonzero(active & ~self._cav_ready)
        if len(missing):
            self._cav_shapes[missing] = self._smoothing_offset(self._cav_deltas[missing][:, self._cav_skin]).reshape(len(missing), -1)
            self._cav_ready[missing] = True
        # Element-wise over the active shapes, not a BLAS product: OpenBLAS's threads, once woken, spin on the
        # cores llvmpipe rasterises on (measured: the draw 20-40% slower under load with a (K, 3S) sgemv a frame).
        out, tmp = self._cav_sum, self._cav_tmp
        np.copyto(out, self._cav_neutral)
        for k in np.flatnonzero(active):
            np.multiply(self._cav_shapes[k], weights[k], out=tmp)
            out += tmp
        return out.reshape(-1, 3)

    # ------------------------------------------------------------------ frame
    def normals(self, vertices: np.ndarray, out: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Return `out` (V, 3) float32 filled with the unit area-weighted normals of (V, 3) float32 `vertices`."""
        p, e, t, tmp = self._corners, self._edges, self._tri, self._tmp
        np.take(vertices.reshape(-1), self._corner_index, out=p.reshape(-1))
        np.subtract(p[1], p[0], out=e[0])
        np.subtract(p[2], p[0], out=e[1])
        (x1, y1, z1), (x2, y2, z2) = e
        np.multiply(y1, z2, out=t[0]), np.multiply(z1, y2, out=tmp), np.subtract(t[0], tmp, out=t[0])
        np.multiply(z1, x2, out=t[1]), np.multiply(x1, z2, out=tmp), np.subtract(t[1], tmp, out=t[1])
        np.multiply(x1, y2, out=t[2]), np.multiply(y1, x2, out=tmp), np.subtract(t[2], tmp, out=t[2])
        for c in range(3):
            out[:, c] = self._incidence @ t[c]
        np.sqrt(np.einsum("ij,ij->i", out, out), out=length)
        np.maximum(length, 1e-12, out=length)
        out /= length[:, None]
        return out

    def pose(self, weights: np.ndarray, head_pose: np.ndarray | None = None) -> np.ndarray:
        """Return (V, 3) float32 vertices posed by (K,) `weights` and an optional (6,) `head_pose`: `head.pose`'s
        formula (to float32 rounding, ~1e-5 cm), summed over the non-zero weights element-wise, in the next ring
        slot's position buffer (`attributes` then uses that slot). No BLAS call: OpenBLAS's threads, once woken,
        spin on the cores llvmpipe rasterises on."""
        buf = self._ring[self._slot]
        out, tmp = buf["verts"], buf["scratch"]
        head = self.head
        np.copyto(out, head.neutral)
        w = head.shape_weights(np.asarray(weights, np.float32))
        deltas = head.shape_deltas
        for k in np.flatnonzero(w):
            np.multiply(deltas[k], w[k], out=tmp)
            out += tmp
        if head_pose is not None:
            hp = np.asarray(head_pose, np.float64)
            rot = rotation_matrix(hp[0], hp[1], hp[2]).astype(np.float32).reshape(3, 3)
            out -= head.pivot
            np.copyto(tmp, out)
            for j in range(3):
                col = out[:, j]
                np.multiply(tmp[:, 0], rot[j, 0], out=col)
                col += tmp[:, 1] * rot[j, 1]
                col += tmp[:, 2] * rot[j, 2]
            out += head.pivot + hp[3:6].astype(np.float32)
        return out

    def attributes(self, vertices: np.ndarray, weights: np.ndarray,
                   head_pose: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Return (positions, unit normals, wrinkle amplitude (V,) or empty, cornea normals or empty, cavity factors
        (V,) or empty) of (V, 3) float32 `vertices` posed from (K,) `weights` and the optional (6,) `head_pose`.

        The arrays are this poser's ring buffers: valid until `RING - 1` more frames have been posed."""
        from renderers.shading import cornea_normals

        buf = self._ring[self._slot]
        self._slot = (self._slot + 1) % RING
        empty = np.zeros(0, np.float32)
        wrinkle = self._wrinkle(vertices, buf["wrinkle"]) if self.wrinkles is not None else empty
        eyes = cornea_normals(self.corneas, vertices) if self.corneas else empty
        normals = self.normals(vertices, buf["normals"], buf["length"])
        cavity = self.cavity_factors(weights, head_pose, normals, buf["cavity"]) if self.cavity is not None else empty
        return vertices, normals, wrinkle, eyes, cavity

    def cavity_factors(self, weights: np.ndarray, head_pose: np.ndarray | None, normals: np.ndarray,
                       out: np.ndarray) -> np.ndarray:
        """Return `out` (V,) float32 holding the cavity albedo factors (1 off the skin) of a frame posed by
        (K,) `weights` and an optional (6,) `head_pose`, whose unit vertex normals are `normals`."""
        strength, _, depth_cm = self.cavity.settings()
        offset = self._cavity_offset(self.head.shape_weights(np.asarray(weights, np.float32)))
        if head_pose is not None:
            hp = np.asarray(head_pose, np.float64)
            rot = rotation_matrix(hp[0], hp[1], hp[2]).astype(np.float32).reshape(3, 3)
            # R @ each offset, element-wise (no BLAS call, as above).
            offset = offset[:, 0:1] * rot[:, 0] + offset[:, 1:2] * rot[:, 1] + offset[:, 2:3] * rot[:, 2]
        depth = np.einsum("ij,ij->i", offset, normals[self._cav_skin])
        out[self._cav_skin] = 1.0 - strength * np.clip(depth / depth_cm, 0.0, 1.0)
        return out


def held_frames(weights: np.ndarray, head_pose: np.ndarray | None = None) -> np.ndarray:
    """Return a (T,) bool mask: True where a frame's weights (and head pose) equal the frame before's exactly.

    Such a frame shows what the one before showed (a renderer's image is a function of these alone), so a renderer
    copies it instead of posing and drawing it again: a held emotion costs one frame, however long it is held.
    """
    w = np.asarray(weights)
    same = np.zeros(len(w), bool)
    if len(w) > 1:
        same[1:] = (w[1:] == w[:-1]).all(axis=1)
        if head_pose is not None:
            hp = np.asarray(head_pose)
            same[1:] &= (hp[1:] == hp[:-1]).all(axis=1)
    return same
