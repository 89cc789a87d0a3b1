"""Returns per-vertex cavity shading: skin in folds and hollows darkened, in numpy (GLRenderer) and torch (differentiable).

Neither renderer traces occlusion, so a flat-lit head shows no darkness in the eye sockets, the nasolabial folds,
under a lowered brow or at the mouth corners, which is most of what a photograph shows of an expression's shape
(and what face classifiers trained on grey 48-64 px photos see). Cavity shading approximates ambient occlusion
from the posed mesh alone, so it follows the expression and works for any identity or head:

    s       = S^iterations v                 S: the uniform Laplacian average over each skin vertex's neighbours
    depth   = (s - v) . n                    how far the vertex lies below its smoothed surface, along its normal
    shade   = 1 - strength * clamp(depth / depth_cm, 0, 1)

and the sRGB albedo of skin vertices is multiplied by `shade` before it is linearised (eyes, teeth and mouth keep
theirs). Smoothing only mixes vertices with their neighbours and `S` rows sum to one, so `depth` does not change
with the head's pose or position. `iterations`, `strength` and `depth_cm` are the `Appearance`'s
`cavity_iterations`, `cavity_strength` and `cavity_depth_cm` (defaults in `avatar.appearance`, chosen on the
selection identities and judges and kept because a held-out judge read better, docs/legibility.md); a
`CavityField` carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.appearance import CAVITY_DEPTH_CM, CAVITY_ITERATIONS, CAVITY_STRENGTH, Appearance
from avatar.head import BlendshapeHead

if TYPE_CHECKING:
    import torch

SKIN_MATERIALS = ("M_Face", "M_BackHead")
"""The ICT head's skin; heads without these materials treat every triangle as skin."""


@dataclass(frozen=True)
class CavityField:
    """A head's skin adjacency for cavity shading (topology only: any identity or pose of the head can use it) and
    the shading's settings.

    skin: (S,) int64 vertex indices of the skin. indptr (S + 1,) / indices (N,) int64 / weights (N,) float32: the
    CSR averaging matrix over skin-local indices (each row: 1 / degree on the vertex's neighbours).
    strength, iterations, depth_cm: the `Appearance`'s cavity_strength, cavity_iterations, cavity_depth_cm.
    """

    num_vertices: int
    skin: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    strength: float = CAVITY_STRENGTH
    iterations: int = CAVITY_ITERATIONS
    depth_cm: float = CAVITY_DEPTH_CM

    def settings(self) -> tuple[float, int, float]:
        """Return (strength, iterations, depth_cm)."""
        return self.strength, self.iterations, self.depth_cm

    @cached_property
    def matrix(self) -> Any:
        """Return the averaging matrix as a scipy CSR matrix (built on first use; scipy imports in ~0.2 s)."""
        import scipy.sparse

        n = len(self.skin)
        return scipy.sparse.csr_matrix((self.weights, self.indices, self.indptr), shape=(n, n))


def cavity_field(head: BlendshapeHead, appearance: Appearance | None = None) -> CavityField:
    """Return the CavityField of a head: its skin triangles' unique edges, as a neighbour-averaging matrix, with the
    cavity settings of `appearance` (default: `Appearance()`'s)."""
    app = appearance or Appearance()
    faces = np.asarray(head.faces, np.int64)
    skin_ids = [i for i, m in enumerate(head.materials) if m in SKIN_MATERIALS]
    if skin_ids:
        faces = faces[np.isin(np.asarray(head.face_material), skin_ids)]
    skin = np.unique(faces)
    local = np.full(head.num_vertices, -1, np.int64)
    local[skin] = np.arange(len(skin))
    f = local[faces]
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    edges = np.sort(edges, 1)
    # Unique (a, b) pairs as one int64 key each: the same sorted pairs as np.unique(axis=0), ~10x less CPU (this runs
    # at every renderer's set-up).
    keys = np.unique(edges[:, 0] * len(skin) + edges[:, 1])
    edges = np.stack([keys // len(skin), keys % len(skin)], 1)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    degree = np.bincount(rows, minlength=len(skin))
    indptr = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    weights = (1.0 / np.maximum(degree, 1))[rows].astype(np.float32)
    return CavityField(head.num_vertices, skin.astype(np.int64), indptr, cols.astype(np.int64), weights,
                       strength=app.cavity_strength, iterations=int(app.cavity_iterations), depth_cm=app.cavity_depth_cm)


def _shade_of_depth(depth: Any, strength: float, depth_cm: float) -> Any:
    """Return the albedo factor for depths below the smoothed surface (numpy or torch)."""
    occlusion = (depth / depth_cm).clip(0.0, 1.0)
    return 1.0 - strength * occlusion


def cavity_shade(field: CavityField, vertices: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Return the (V,) float32 sRGB albedo factor (1 off the skin) of (V, 3) posed vertices and their unit normals."""
    matrix = field.matrix
    v = np.asarray(vertices, np.float32)[field.skin]
    s = v
    for _ in range(field.iterations):
        s = matrix @ s
    depth = np.einsum("ij,ij->i", s - v, np.asarray(normals, np.float32)[field.skin])
    shade = np.ones(field.num_vertices, np.float32)
    shade[field.skin] = _shade_of_depth(depth, field.strength, field.depth_cm)
    return shade



def cavity_matrix_torch(field: CavityField, device: Any = "cpu", dtype: Any = None) -> torch.Tensor:
    """Return the field's averaging matrix as a torch sparse CSR tensor (S, S) on `device`; autograd flows to the dense
    operand of `torch.sparse.mm` (CSR: ~15x faster than COO forward and ~2.5x with backward on the CPU)."""
    import warnings

    import torch

    n = len(field.skin)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product and its gradient are tested here
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(field.indptr), torch.from_numpy(field.indices),
                                       torch.from_numpy(field.weights), (n, n), check_invariants=True).to(
            device=device, dtype=dtype or torch.float32)


def cavity_shade_torch(matrix: torch.Tensor, skin: torch.Tensor, vertices: torch.Tensor, normals: torch.Tensor,
                       settings: tuple[float, int, float] = (CAVITY_STRENGTH, CAVITY_ITERATIONS, CAVITY_DEPTH_CM)) -> torch.Tensor:
    """Return (B, V) sRGB albedo factors of (B, V, 3) vertices and unit normals; `matrix` from `cavity_matrix_torch`,
    `skin` the field's (S,) vertex indices as a tensor, `settings` its (strength, iterations, depth_cm).
    Differentiable in the vertices (and normals)."""
    import torch

    b = vertices.shape[0]
    v = vertices[:, skin]  # (B, S, 3)
    flat = v.permute(1, 0, 2).reshape(len(skin), b * 3)
    strength, iterations, depth_cm = settings
    s = flat
    for _ in range(iterations):
        s = torch.sparse.mm(matrix, s)
    s = s.reshape(len(skin), b, 3).permute(1, 0, 2)
    depth = ((s - v) * normals[:, skin]).sum(-1)
    shade = vertices.new_ones(vertices.shape[:2])
    return shade.index_copy(1, skin, _shade_of_depth(depth, strength, depth_cm))


def cavity_compute_shader(group: int, strength: float = CAVITY_STRENGTH, depth_cm: float = CAVITY_DEPTH_CM) -> str:
    """Return the GLSL 430 compute shader of `cavity_shade` on the GL device, one skin vertex per thread, in three
    stages chosen by `u_stage`: 0 gathers the skin's posed positions, 1 averages them over neighbours once (run
    the field's `iterations` times, ping-ponging two buffers), 2 writes the albedo factor per vertex. Sums run over each
    CSR row in order, as scipy's do, so the factors agree with numpy to float32 rounding."""
    from renderers.shading import _glsl

    return f"""
#version 430
layout(local_size_x = {group}) in;
layout(std430, binding = 0) readonly buffer Src {{ float src[]; }};
layout(std430, binding = 1) writeonly buffer Dst {{ float dst[]; }};
layout(std430, binding = 2) readonly buffer Ints {{ int ints[]; }};      // indptr (S + 1), indices (N), skin (S)
layout(std430, binding = 3) readonly buffer Weights {{ float weights[]; }};
layout(std430, binding = 4) readonly buffer Posed {{ float posed[]; }};
layout(std430, binding = 5) readonly buffer Normals {{ float normals[]; }};
layout(std430, binding = 6) buffer Shade {{ float shade[]; }};
uniform int u_skin;
uniform int u_stage;
uniform int u_indices_at;
uniform int u_skin_at;
void main() {{
    int i = int(gl_GlobalInvocationID.x);
    if (i >= u_skin) return;
    int v = ints[u_skin_at + i];
    if (u_stage == 0) {{
        dst[3 * i] = posed[3 * v]; dst[3 * i + 1] = posed[3 * v + 1]; dst[3 * i + 2] = posed[3 * v + 2];
        return;
    }}
    if (u_stage == 1) {{
        vec3 s = vec3(0.0);
        for (int k = ints[i]; k < ints[i + 1]; ++k) {{
            int j = ints[u_indices_at + k];
            s += weights[k] * vec3(src[3 * j], src[3 * j + 1], src[3 * j + 2]);
        }}
        dst[3 * i] = s.x; dst[3 * i + 1] = s.y; dst[3 * i + 2] = s.z;
        return;
    }}
    vec3 d = vec3(src[3 * i], src[3 * i + 1], src[3 * i + 2]) - vec3(posed[3 * v], posed[3 * v + 1], posed[3 * v + 2]);
    float depth = dot(d, vec3(normals[3 * v], normals[3 * v + 1], normals[3 * v + 2]));
    shade[v] = 1.0 - {_glsl(strength)} * clamp(depth / {_glsl(depth_cm)}, 0.0, 1.0);
}}
"""


class GPUCavity:
    """Runs `cavity_compute_shader` into a GLRenderer's (V,) cavity buffer from its posed position and normal buffers."""

    def __init__(self, ctx: Any, field: CavityField) -> None:
        from renderers.shading import POSE_GROUP

        self.ctx, self.field, self.group = ctx, field, POSE_GROUP
        self.prog = ctx.compute_shader(cavity_compute_shader(POSE_GROUP, field.strength, field.depth_cm))
        s = len(field.skin)
        ints = np.concatenate([field.indptr, field.indices, field.skin]).astype(np.int32)
        self.ints = ctx.buffer(ints.tobytes())
        self.weights = ctx.buffer(field.weights.astype(np.float32).tobytes())
        self.ping = [ctx.buffer(reserve=s * 12), ctx.buffer(reserve=s * 12)]
        self.prog["u_skin"].value = s
        self.prog["u_indices_at"].value = len(field.indptr)
        self.prog["u_skin_at"].value = len(field.indptr) + len(field.indices)

    def run(self, posed: Any, normals: Any, shade: Any) -> None:
        """Write the albedo factors of the skin vertices into `shade` from the `posed` and `normals` buffers."""
        groups = (len(self.field.skin) + self.group - 1) // self.group
        self.ints.bind_to_storage_buffer(2)
        self.weights.bind_to_storage_buffer(3)
        posed.bind_to_storage_buffer(4)
        normals.bind_to_storage_buffer(5)
        shade.bind_to_storage_buffer(6)
        src, dst = self.ping
        for stage in [0] + [1] * self.field.iterations + [2]:
            self.prog["u_stage"].value = stage
            src.bind_to_storage_buffer(0)
            dst.bind_to_storage_buffer(1)
            self.prog.run(groups)
            self.ctx.memory_barrier()
            if stage != 2:
                src, dst = dst, src  # this stage's output is the next one's input

    def release(self) -> None:
        """Free the program and its buffers."""
        for obj in (self.prog, self.ints, self.weights, *self.ping):
            obj.release()
