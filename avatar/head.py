"""BlendshapeHead: a neutral mesh plus ARKit-named deltas; `pose(weights)` returns posed vertices.

The default head is ICT-FaceKit light (MIT, USC ICT), shipped in avatar/assets/ict_facekit.
`blend()` is the plain array function; `BlendshapeHead` holds the data and caches per-device copies.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

import numpy as np

from avatar.arrays import is_torch
from avatar.blend import blend
from avatar.constants import ICT_PARTS  # noqa: F401 - re-exported: renderers and tests import it from here
from avatar.errors import AvatarInputError, ShapeError
from avatar.rig import ARKIT_NAMES, try_normalize_name
from avatar.rotations import apply_head_pose_torch, rotation_matrix

if TYPE_CHECKING:
    import torch

ASSET_DIR = Path(__file__).parent / "assets" / "ict_facekit"
ICT_PATH = ASSET_DIR / "ict_facekit.npz"


# The generic ICT head's bounding box (cm). A user's head is scaled and centred onto it on import, since
# cameras and head-pose translations are in these units (a constant, so reading a head never loads ICT).
ICT_BOX_CM: tuple[tuple[float, float, float], tuple[float, float, float]] = (
    (-12.416199684143066, -19.308399200439453, -9.232159614562988),
    (12.416199684143066, 14.50469970703125, 13.088199615478516),
)
# What makes a head "the ICT head": its vertex count and a checksum of its triangle list (topology, not
# shape, so every identity and any re-import of the same mesh is recognised; a name string is not used).
ICT_TOPOLOGY: tuple[int, int] = (26719, 3932831446)  # (vertices, crc32 of the sorted triangles)

# Named points on the generic head (indices into `landmarks68`, Multi-PIE convention, 0-based).
LANDMARK68_NAMES: dict[str, int] = {
    "chin": 8, "brow_left_outer": 26, "brow_left_inner": 22, "brow_right_inner": 21, "brow_right_outer": 17,
    "nose_tip": 30, "mouth_corner_left": 54, "mouth_corner_right": 48,
    "upper_lip_top": 51, "lower_lip_bottom": 57, "upper_lip_inner": 62, "lower_lip_inner": 66,
    "eye_left_top": 44, "eye_left_bottom": 46, "eye_right_top": 38, "eye_right_bottom": 40,
}


@dataclass
class BlendshapeHead:
    """A blendshape head: neutral vertices, triangles, per-part materials and ARKit deltas.

    Attributes:
        neutral: (V, 3) float32 rest vertices (the chosen identity applied).
        faces: (F, 3) int32 triangles.
        deltas: (52, V, 3) float32 offsets in ARKit order; shapes the head lacks are zero.
        present: (52,) bool, which ARKit shapes the head really has.
        face_material: (F,) int16 index into `materials` (all 0 when the head has one material).
        materials: material names.
        vertex_uv: (V, 2) float32 texture coordinate per vertex, or None.
        landmarks68: (68,) int32 vertex indices of the 68-point landmarks, or None.
        rigid_vertices: indices of vertices that move rigidly with the skull, or None.
        identity_basis: (M, V, 3) float32 identity modes (coefficients ~ N(0, 1)), or None. May be given as a
            zero-argument callable returning them: they are then read on first use (the shipped head's 100 modes
            are 60% of its file and a default render never needs them).
        pivot: (3,) float32 centre of rotation for head pose (upper neck).
        name: where the head came from.
        generic_neutral: (V, 3) float32 neutral before the identity was applied.
        vertex_colors: (V, 3) float32 sRGB albedo per vertex from the file (COLOR_0 or material colours), or None.
        combos: combination (corrective) shapes, as tuples of two or more ARKit indices: combo c moves the mesh by
            `min(weights[i] for i in combos[c]) * combo_deltas[c]`, so it acts only when all its shapes are posed,
            and a pose scaled by an intensity scales it alike (the shipped head's brow raisers + brow lowerer,
            `avatar.brow_combo`). The 52 ARKit weights stay the interface.
        combo_deltas: (C, V, 3) float32 offsets of the combos (None: no combos).
    """

    neutral: np.ndarray
    faces: np.ndarray
    deltas: np.ndarray
    present: np.ndarray
    face_material: np.ndarray
    materials: tuple[str, ...] = ("M_Face",)
    vertex_uv: np.ndarray | None = None
    landmarks68: np.ndarray | None = None
    rigid_vertices: np.ndarray | None = None
    identity_basis: np.ndarray | None = field(default=None, repr=False, compare=False)
    pivot: np.ndarray | None = None
    name: str = "custom"
    generic_neutral: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    combos: tuple[tuple[int, ...], ...] = ()
    combo_deltas: np.ndarray | None = None
    _device_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.neutral = np.ascontiguousarray(self.neutral, dtype=np.float32)
        v = self.neutral.shape[0]
        if self.neutral.ndim != 2 or self.neutral.shape[1] != 3:
            raise ShapeError(f"neutral vertices must have shape (V, 3), got {tuple(self.neutral.shape)}")
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        if self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ShapeError(f"faces must be triangles (F, 3), got {tuple(self.faces.shape)}")
        if self.faces.size and (self.faces.min() < 0 or self.faces.max() >= v):
            raise AvatarInputError(f"corrupt mesh: face indices run outside 0..{v - 1}; re-export the head")
        self.deltas = np.ascontiguousarray(self.deltas, dtype=np.float32)
        if self.deltas.shape != (len(ARKIT_NAMES), v, 3):
            raise ShapeError(f"deltas must have shape (52, {v}, 3), got {tuple(self.deltas.shape)}")
        if self.pivot is None:
            lo, hi = self.neutral.min(0), self.neutral.max(0)
            self.pivot = np.array([(lo[0] + hi[0]) / 2, lo[1] + 0.25 * (hi[1] - lo[1]), (lo[2] + hi[2]) / 2], np.float32)
        if self.generic_neutral is None:
            self.generic_neutral = self.neutral
        self.combos = tuple(tuple(int(k) for k in c) for c in self.combos)
        if any(len(c) < 2 or not all(0 <= k < len(ARKIT_NAMES) for k in c) for c in self.combos):
            raise ShapeError(f"combos are tuples of two or more ARKit indices 0..{len(ARKIT_NAMES) - 1}, got {self.combos}")
        if self.combos or self.combo_deltas is not None:
            self.combo_deltas = np.ascontiguousarray(self.combo_deltas, dtype=np.float32)
            if self.combo_deltas.shape != (len(self.combos), v, 3):
                raise ShapeError(f"combo_deltas must have shape ({len(self.combos)}, {v}, 3), got {tuple(self.combo_deltas.shape)}")
        if self.vertex_colors is not None:
            self.vertex_colors = np.ascontiguousarray(self.vertex_colors, dtype=np.float32)
            if self.vertex_colors.shape != (v, 3):
                raise ShapeError(f"vertex_colors must have shape ({v}, 3), got {tuple(self.vertex_colors.shape)}")

    # ------------------------------------------------------------- properties
    @property
    def num_vertices(self) -> int:
        return int(self.neutral.shape[0])

    @cached_property
    def topology(self) -> tuple[int, int]:
        """Return (vertex count, crc32 of the sorted triangle list): equal for heads that share a mesh layout."""
        return topology_key(self.num_vertices, self.faces)

    @property
    def is_ict(self) -> bool:
        """Return True when this head has ICT-FaceKit's mesh layout (any identity), so its parts can be painted."""
        return self.topology == ICT_TOPOLOGY and self.landmarks68 is not None

    @property
    def missing_shapes(self) -> list[str]:
        """Return the ARKit names this head has no shape for (ICT: tongueOut)."""
        return [n for n, p in zip(ARKIT_NAMES, self.present) if not p]

    @property
    def shape_deltas(self) -> np.ndarray:
        """Return the (52 + C, V, 3) float32 offsets every posing path blends: the ARKit deltas, then the combos'
        (the deltas themselves when the head has no combos). Blended with `shape_weights`."""
        if not self.combos:
            return self.deltas
        cached = self.__dict__.get("_shape_deltas")
        if cached is None or cached[0] is not self.deltas or cached[1] is not self.combo_deltas:
            cached = (self.deltas, self.combo_deltas, np.concatenate([self.deltas, self.combo_deltas]))
            self.__dict__["_shape_deltas"] = cached
        return cached[2]

    def shape_weights(self, weights: Any) -> Any:
        """Return (..., 52 + C) weights for `shape_deltas` from (..., 52) ARKit weights (numpy or torch): the ARKit
        weights, then each combo's smallest weight (the weights themselves when the head has no combos)."""
        if not self.combos:
            return weights
        if is_torch(weights):
            import torch

            return torch.cat([weights, *(weights[..., list(c)].amin(-1, keepdim=True) for c in self.combos)], -1)
        w = np.asarray(weights, np.float32)
        return np.concatenate([w, *(w[..., list(c)].min(-1, keepdims=True) for c in self.combos)], -1)

    # ------------------------------------------------------------------ posing
    def pose(self, weights: Any, head_pose: Any = None) -> Any:
        """Return posed vertices for ARKit weights: (52,) -> (V, 3); (B, 52) -> (B, V, 3).

        numpy in, float32 numpy out; a torch tensor in gives a torch tensor on its device.
        `head_pose` (6,) or (B, 6) (pitch, yaw, roll radians; tx, ty, tz cm) rotates the
        head rigidly about `pivot` and translates it.
        """
        if is_torch(weights):
            return self._pose_torch(weights, head_pose)
        w = np.asarray(weights, dtype=np.float32)
        if w.shape[-1] != len(ARKIT_NAMES):
            raise ShapeError(f"weights must have 52 ARKit columns, got shape {tuple(w.shape)}")
        verts = blend(self.neutral, self.shape_deltas, self.shape_weights(w))
        if head_pose is not None:
            verts = self.apply_head_pose(verts, head_pose)
        return verts

    def apply_head_pose(self, vertices: np.ndarray, head_pose: Any) -> np.ndarray:
        """Return `vertices` (V, 3) or (B, V, 3) rotated about `pivot` and translated by `head_pose`."""
        hp = np.asarray(head_pose, dtype=np.float64)
        r = rotation_matrix(hp[..., 0], hp[..., 1], hp[..., 2]).astype(np.float32)
        t = hp[..., 3:6].astype(np.float32)
        centred = vertices - self.pivot
        if vertices.ndim == 2:
            return (centred @ r.reshape(3, 3).T + self.pivot + t.reshape(3)).astype(np.float32)
        return (np.einsum("bvc,bdc->bvd", centred, r.reshape(-1, 3, 3)) + self.pivot + t.reshape(-1, 1, 3)).astype(np.float32)

    def _pose_torch(self, weights: torch.Tensor, head_pose: Any = None) -> torch.Tensor:
        import torch

        key = (str(weights.device), weights.dtype)
        if key not in self._device_cache:
            self._device_cache[key] = (
                torch.from_numpy(self.neutral).to(weights.device, weights.dtype),
                torch.from_numpy(self.shape_deltas).to(weights.device, weights.dtype),
            )
        neutral, deltas = self._device_cache[key]
        verts = blend(neutral, deltas, self.shape_weights(weights))
        if head_pose is not None:
            # Differentiable in the pose too (refinement and the differentiable renderer optimise it).
            hp = torch.as_tensor(head_pose).to(weights.device, weights.dtype)
            posed = apply_head_pose_torch(verts, hp, torch.from_numpy(self.pivot).to(weights.device, weights.dtype))
            verts = posed[0] if verts.ndim == 2 and hp.ndim == 1 else posed
        return verts

    def landmarks(self, vertices: Any | None = None) -> Any:
        """Return the (..., 68, 3) landmark positions of `vertices` (default: the neutral)."""
        if self.landmarks68 is None:
            raise AvatarInputError(f"head {self.name!r} has no 68-point landmark indices")
        verts = self.neutral if vertices is None else vertices
        return verts[..., self.landmarks68, :]

    def landmark(self, name: str, vertices: Any | None = None) -> Any:
        """Return the (..., 3) position of one named landmark (see LANDMARK68_NAMES)."""
        if name not in LANDMARK68_NAMES:
            raise AvatarInputError(f"unknown landmark {name!r}: choose from {', '.join(LANDMARK68_NAMES)}")
        return self.landmarks(vertices)[..., LANDMARK68_NAMES[name], :]

    # --------------------------------------------------------------- identity
    def with_identity(self, identity: int | Any | None) -> BlendshapeHead:
        """Return a copy whose neutral is shaped by an identity: a seed (int) or PCA coefficients.

        Seed 0 is the generic head. Coefficients are in standard deviations of the PCA modes.
        """
        if identity is None:
            return self
        if self.identity_basis is None:
            raise AvatarInputError(f"head {self.name!r} has no identity modes; identity must be None")
        m = self.identity_basis.shape[0]
        if isinstance(identity, (int, np.integer)):
            if identity < 0:
                raise AvatarInputError(f"identity seed must be >= 0, got {identity}")
            if identity == 0:
                coeffs = np.zeros(m, np.float32)
            else:
                rng = np.random.default_rng(int(identity))
                # Decaying spread: the leading modes carry the shape, the tail only noise.
                coeffs = np.clip(rng.standard_normal(m), -2.0, 2.0).astype(np.float32)
        else:
            coeffs = np.asarray(identity, dtype=np.float32).ravel()
            if coeffs.size > m:
                raise ShapeError(f"identity coefficients: at most {m}, got {coeffs.size}")
            coeffs = np.pad(coeffs, (0, m - coeffs.size))
        offset = np.tensordot(coeffs, self.identity_basis, axes=1)
        return BlendshapeHead(
            neutral=self.generic_neutral + offset, faces=self.faces, deltas=self.deltas, present=self.present,
            face_material=self.face_material, materials=self.materials, vertex_uv=self.vertex_uv,
            landmarks68=self.landmarks68, rigid_vertices=self.rigid_vertices, identity_basis=self.identity_basis,
            pivot=self.pivot, name=f"{self.name}#identity", generic_neutral=self.generic_neutral,
            vertex_colors=self.vertex_colors, combos=self.combos, combo_deltas=self.combo_deltas,
        )


def _get_identity_basis(head: BlendshapeHead) -> np.ndarray | None:
    """Return the head's (M, V, 3) float32 identity modes, reading them now when they were given as a loader."""
    basis = head.__dict__.get("_identity_basis")
    if callable(basis):
        basis = head.__dict__["_identity_basis"] = np.ascontiguousarray(basis(), dtype=np.float32)
    return basis


def _set_identity_basis(head: BlendshapeHead, value: np.ndarray | Callable[[], np.ndarray] | None) -> None:
    head.__dict__["_identity_basis"] = value


# A property over the dataclass field, so the constructor, `replace` and `with_identity` keep their signature
# while a loader passed as the value runs on first read.
BlendshapeHead.identity_basis = property(_get_identity_basis, _set_identity_basis,  # type: ignore[assignment]
                                         doc="(M, V, 3) float32 identity modes, or None (read on first use).")


def topology_key(num_vertices: int, faces: np.ndarray) -> tuple[int, int]:
    """Return (vertex count, crc32 of the triangles sorted by row): a fingerprint of a mesh layout."""
    tris = np.sort(np.asarray(faces, np.int64), axis=1)
    # Rows in lexicographic order, through one int64 key per row (a 1-D sort; the same order as a lexsort).
    n = max(int(num_vertices), int(tris.max()) + 1 if tris.size else 1)
    tris = tris[np.argsort((tris[:, 0] * n + tris[:, 1]) * n + tris[:, 2], kind="stable")]
    return int(num_vertices), zlib.crc32(np.ascontiguousarray(tris, dtype=np.int32).tobytes())


def _triangulate(quads: np.ndarray, *per_face: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return triangles from quads padded with -1, plus each per-face array split to match.

    Per-face arrays with 4 columns (per-corner indices) are split like the quads; 1-D ones repeat.
    """
    is_quad = quads[:, 3] >= 0

    def split(a: np.ndarray) -> np.ndarray:
        if a.ndim == 2 and a.shape[1] == 4:
            return np.concatenate([a[:, [0, 1, 2]], a[is_quad][:, [0, 2, 3]]])
        return np.concatenate([a, a[is_quad]])

    return (split(quads), *(split(a) for a in per_face))


@lru_cache(maxsize=4)
def _load_ict(path: str) -> BlendshapeHead:
    data = np.load(path)
    names = [str(n) for n in data["expression_names"]]
    ict_deltas = data["expression_deltas"]
    v = data["vertices"].shape[0]
    deltas = np.zeros((len(ARKIT_NAMES), v, 3), np.float32)
    present = np.zeros(len(ARKIT_NAMES), bool)
    for i, n in enumerate(names):
        base = n[:-2] if n.endswith(("_L", "_R")) else n
        # browInnerUp and cheekPuff are split per side in ICT; ARKit has one shape for both sides.
        canonical = base if base in ("browInnerUp", "cheekPuff") else try_normalize_name(n)
        if canonical is None:
            continue  # PupilDilate_L/R: no ARKit counterpart
        k = ARKIT_NAMES.index(canonical)
        deltas[k] += ict_deltas[i].astype(np.float32)
        present[k] = True
    faces, face_uvs, face_mat = _triangulate(data["faces"], data["face_uvs"], data["face_material"])
    vertex_uv = np.zeros((v, 2), np.float32)
    vertex_uv[faces.ravel()] = data["uvs"][face_uvs.ravel()]
    rigid = data["rigid_vertices"]
    neutral = data["vertices"].astype(np.float32)
    # Pivot for head pose: the upper neck, below the rigid skull vertices' centre.
    rc = neutral[rigid].mean(0)
    pivot = np.array([0.0, neutral[:, 1].min() + 0.45 * (rc[1] - neutral[:, 1].min()), rc[2] - 2.0], np.float32)
    return BlendshapeHead(
        neutral=neutral, faces=faces, deltas=deltas, present=present, face_material=face_mat.astype(np.int16),
        materials=tuple(str(m) for m in data["materials"]), vertex_uv=vertex_uv,
        landmarks68=data["landmarks68"].astype(np.int32), rigid_vertices=rigid.astype(np.int32),
        identity_basis=lambda: np.load(path)["identity_deltas"], pivot=pivot, name="ict-facekit",
    )


@lru_cache(maxsize=4)
def _ict_with_correctives(strength: float, combo: float) -> BlendshapeHead:
    from avatar.brow_combo import with_brow_combo
    from avatar.brow_lowerer import with_brow_lowerer

    head = _load_ict(str(ICT_PATH))
    head = with_brow_lowerer(head, strength) if strength != 0 else head
    return with_brow_combo(head, combo) if combo != 0 else head


def default_head(identity: int | Any | None = None, brow_lowerer: float | None = None,
                 brow_combo: float | None = None) -> BlendshapeHead:
    """Return the shipped ICT-FaceKit head (cached), optionally with an identity seed or coefficients.

    `brow_lowerer`: the strength of the corrective brow lowerer layered on ICT's browDown shapes
    (`avatar.brow_lowerer`); None = the shipped default `avatar.brow_lowerer.BROW_LOWERER`, 0 = ICT's own shapes.
    `brow_combo`: the strength of the inner-brow-raiser + brow-lowerer combination shape (`avatar.brow_combo`);
    None = the shipped default `avatar.brow_combo.BROW_COMBO`, 0 = none.
    """
    from avatar.brow_combo import BROW_COMBO, check_brow_combo
    from avatar.brow_lowerer import BROW_LOWERER, check_brow_lowerer

    strength = BROW_LOWERER if brow_lowerer is None else float(check_brow_lowerer(brow_lowerer))
    combo = BROW_COMBO if brow_combo is None else float(check_brow_combo(brow_combo))
    head = _ict_with_correctives(strength, combo) if (strength, combo) != (0, 0) else _load_ict(str(ICT_PATH))
    return head.with_identity(identity) if identity not in (None, 0) else head
