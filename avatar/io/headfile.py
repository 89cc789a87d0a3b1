"""Reads a user's head: a glTF/GLB whose morph targets carry ARKit names, or an OBJ plus one OBJ per shape.

glTF/GLB (read by `avatar.io.gltf_reader`; trimesh does not read morph targets):
- target names come from `mesh.extras.targetNames`, else a primitive's `extras.targetNames`, in any
  spelling `avatar.rig.normalize_name` accepts (`jawOpen`, `JawOpen`, `blendShape1.jawOpen`,
  `mouthSmile_L`); side-split versions of one-sided ARKit shapes (ICT's `browInnerUp_L/_R`) are summed;
- the meshes used are those with at least one ARKit-named target, plus target-less meshes that lie
  inside their bounding box (eyes, teeth; a body or outfit in the same file is left out). A file with
  no ARKit targets at all uses every mesh (and then fails the shape check below);
- node transforms are applied (skinned meshes stay in bind space, as the spec says); primitives
  are merged, sharing vertices where they share a POSITION accessor; strips and fans triangulated;
  materials keep their names; TEXCOORD_0 becomes `vertex_uv` (flipped to a bottom-left origin);
- colour: COLOR_0 (linear, as the spec says) times the material's baseColorFactor, else the base colour
  alone, becomes `vertex_colors` (sRGB), so a head keeps its look (a GLB the toolkit exported included);
- what `avatar.io.gltf.export_gltf` stores in `mesh.extras.emoavatar` (pivot, landmark indices) is restored.

OBJ: `head.obj` is the neutral; the shapes are `<ARKit name>.obj` files (same vertices, same order)
in the folder `head_shapes/` beside it, or in `shapes_dir`. Our own parser keeps the file's vertex
order (trimesh may split vertices at UV seams); polygons are fan-triangulated.

Shapes: every ARKit shape but tongueOut (which many heads, ICT's included, lack) is required; a
missing one raises `AvatarInputError` listing them all. `allow_missing=True` accepts any head with at
least one ARKit shape (absent ones stay zero). Units: with `normalize` (default) the head is scaled
and moved onto the ICT head's box (about 34 cm tall), the cm space that cameras and head-pose
translation assume.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from avatar.appearance import linear_to_srgb
from avatar.errors import AvatarInputError, FileFormatError
from avatar.head import ICT_BOX_CM, BlendshapeHead, default_head
from avatar.io.gltf_reader import mesh_instances, read_accessor, read_gltf, triangles
from avatar.rig import ARKIT_NAMES, try_normalize_name

__all__ = ["load_head", "read_head_file", "read_gltf", "read_accessor", "read_obj", "OPTIONAL_SHAPES"]

# Shapes a head may lack without allow_missing: many ARKit heads (ICT-FaceKit too) have no tongue shape.
OPTIONAL_SHAPES: tuple[str, ...] = ("tongueOut",)
HEAD_SUFFIXES = (".glb", ".gltf", ".obj")
_SIDE = re.compile(r"[_.\-\s]?(l|r|left|right)$", re.IGNORECASE)


def arkit_name(name: str) -> str | None:
    """Return the ARKit shape a target name stands for, or None; `browInnerUp_L` gives browInnerUp (summed per side)."""
    k = try_normalize_name(name)
    if k is not None:
        return k
    base = _SIDE.sub("", str(name).strip())
    k = try_normalize_name(base) if base and base != name else None
    # Only one-sided ARKit shapes absorb a side: "eyeBlink_L" normalises above; "jawOpen_L" is half of jawOpen.
    return k if k is not None and not k.endswith(("Left", "Right")) else None


class _Parts:
    """Accumulates vertices, triangles, named deltas, materials and UVs from several meshes."""

    def __init__(self) -> None:
        self.verts: list[np.ndarray] = []
        self.faces: list[np.ndarray] = []
        self.face_mat: list[np.ndarray] = []
        self.uvs: list[np.ndarray | None] = []
        self.colours: list[np.ndarray] = []  # (n, 3) linear RGB per vertex
        self.deltas: list[tuple[str, int, np.ndarray]] = []  # (name, vertex offset, (n, 3))
        self.materials: list[str] = []
        self.count = 0

    def material(self, name: str) -> int:
        if name not in self.materials:
            self.materials.append(name)
        return self.materials.index(name)


def _target_names(mesh: dict[str, Any]) -> list[str]:
    names = (mesh.get("extras") or {}).get("targetNames")
    if not names:
        names = next(((p.get("extras") or {}).get("targetNames") for p in mesh.get("primitives", [])
                      if (p.get("extras") or {}).get("targetNames")), None)
    n = max((len(p.get("targets", [])) for p in mesh.get("primitives", [])), default=0)
    names = [str(x) for x in (names or [])]
    return names + [f"target_{i}" for i in range(len(names), n)]  # unnamed targets keep a placeholder


def _add_gltf_mesh(doc: dict[str, Any], buffers: list[bytes], mesh_index: int, world: np.ndarray, parts: _Parts) -> None:
    mesh = doc["meshes"][mesh_index]
    names = _target_names(mesh)
    linear = world[:3, :3]
    mats = doc.get("materials", [])
    shared: dict[int, tuple[int, int, int]] = {}  # POSITION accessor -> (vertex offset, count, index in parts.colours)
    for prim in mesh.get("primitives", []):
        mode = prim.get("mode", 4)
        if mode not in (4, 5, 6):
            continue  # points and lines carry no surface
        pos_acc = prim["attributes"]["POSITION"]
        if pos_acc not in shared:
            v = read_accessor(doc, buffers, pos_acc).astype(np.float64)
            if v.ndim != 2 or v.shape[1] != 3 or not np.all(np.isfinite(v)):
                raise FileFormatError(f"mesh {mesh.get('name', mesh_index)!r}: POSITION is not finite (V, 3) data")
            shared[pos_acc] = (parts.count, len(v), len(parts.verts))
            parts.verts.append(v @ linear.T + world[:3, 3])
            uv = read_accessor(doc, buffers, prim["attributes"]["TEXCOORD_0"]) if "TEXCOORD_0" in prim["attributes"] else None
            parts.uvs.append(None if uv is None else np.asarray(uv, np.float32) * np.float32([1, -1]) + np.float32([0, 1]))
            parts.colours.append(np.full((len(v), 3), np.nan))
            for t, target in enumerate(prim.get("targets", [])):
                if "POSITION" not in target:
                    continue
                d = read_accessor(doc, buffers, target["POSITION"]).astype(np.float64)
                if d.shape != v.shape:
                    raise AvatarInputError(f"corrupt head: morph target {names[t]!r} has {len(d)} vertices, its mesh "
                                           f"{len(v)}; re-export the head")
                parts.deltas.append((names[t], parts.count, d @ linear.T))
            parts.count += len(v)
        base, n, block_index = shared[pos_acc]
        idx = read_accessor(doc, buffers, prim["indices"]) if "indices" in prim else np.arange(n)
        tris = triangles(mode, idx)
        if tris.size and (tris.min() < 0 or tris.max() >= n):
            raise AvatarInputError(f"corrupt mesh: triangle indices run outside 0..{n - 1}; re-export the head")
        if np.linalg.det(linear) < 0:  # a mirroring transform flips winding; keep faces facing out
            tris = tris[:, [0, 2, 1]]
        m = prim.get("material")
        mat_name = (mats[m].get("name") or f"material_{m}") if m is not None and m < len(mats) else "default"
        # Colour the vertices this primitive draws (primitives may share one POSITION with other materials).
        used = np.unique(tris)
        parts.colours[block_index][used] = _vertex_colours(doc, buffers, prim, n)[used]
        parts.faces.append(tris + base)
        parts.face_mat.append(np.full(len(tris), parts.material(mat_name), np.int16))


def _base_colour(doc: dict[str, Any], prim: dict[str, Any]) -> np.ndarray | None:
    """Return the (3,) linear base colour a primitive's material states, or None (no material, or a texture)."""
    m = prim.get("material")
    mats = doc.get("materials", [])
    if m is None or m >= len(mats):
        return None
    pbr = mats[m].get("pbrMetallicRoughness") or {}
    if "baseColorFactor" not in pbr or "baseColorTexture" in pbr:
        return None  # a texture we do not sample, or the spec's default white: neither says the colour
    return np.asarray(pbr["baseColorFactor"][:3], np.float64)


def _vertex_colours(doc: dict[str, Any], buffers: list[bytes], prim: dict[str, Any], n: int) -> np.ndarray:
    """Return (n, 3) linear colours: COLOR_0 x the base colour, or the base colour alone; NaN when neither is stated."""
    base = _base_colour(doc, prim)
    if "COLOR_0" in prim["attributes"]:
        c = np.asarray(read_accessor(doc, buffers, prim["attributes"]["COLOR_0"]), np.float64)
        if c.ndim == 2 and c.shape[0] == n and c.shape[1] in (3, 4):
            return c[:, :3] * (1.0 if base is None else base)
    return np.full((n, 3), np.nan) if base is None else np.tile(base, (n, 1))


def _gltf_parts(path: Path) -> tuple[_Parts, dict[str, Any]]:
    doc, buffers = read_gltf(path)
    instances = mesh_instances(doc)
    meshes = doc.get("meshes", [])
    if not instances:
        raise AvatarInputError(f"head file {str(path)!r} has no mesh")

    def has_arkit(i: int) -> bool:
        return any(arkit_name(n) for n in _target_names(meshes[i]))

    rigged = [inst for inst in instances if has_arkit(inst.mesh)]
    keep = list(rigged) or list(instances)
    parts = _Parts()
    for inst in keep:
        _add_gltf_mesh(doc, buffers, inst.mesh, inst.world, parts)
    if rigged:
        # Eyes, teeth and lashes often have no targets; keep static meshes that sit inside the rigged box.
        lo, hi = np.concatenate(parts.verts).min(0), np.concatenate(parts.verts).max(0)
        margin = 0.05 * (hi - lo)
        for inst in instances:
            if any(inst is r for r in rigged):
                continue
            trial = _Parts()
            _add_gltf_mesh(doc, buffers, inst.mesh, inst.world, trial)
            if trial.verts and all(np.all(v >= lo - margin) and np.all(v <= hi + margin) for v in trial.verts):
                _add_gltf_mesh(doc, buffers, inst.mesh, inst.world, parts)
    # Our own export's extras; only meaningful when the file is that one mesh, placed as written.
    extras = ((meshes[keep[0].mesh].get("extras") or {}).get("emoavatar") or {}) if len(keep) == 1 else {}
    if "pivot" in extras:
        world = keep[0].world
        extras = {**extras, "pivot": np.asarray(extras["pivot"], np.float64) @ world[:3, :3].T + world[:3, 3]}
    return parts, extras


def read_obj(path: str | os.PathLike, vertices_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return (vertices (V, 3) float64, triangles (F, 3) int64, vertex_uv (V, 2) or None) of an OBJ, in file order.

    Raises FileFormatError naming the line of a malformed vertex or face.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise FileFormatError(f"cannot read OBJ {str(p)!r}: {e.strerror or e}") from None
    verts, uvs, faces, face_uv = [], [], [], []
    for line_no, line in enumerate(text.splitlines(), 1):
        kind, _, rest = line.strip().partition(" ")
        try:
            if kind == "v":
                verts.append([float(x) for x in rest.split()[:3]])
                if len(verts[-1]) != 3:
                    raise ValueError
            elif vertices_only:
                continue
            elif kind == "vt":
                uvs.append([float(x) for x in rest.split()[:2]])
            elif kind == "f":
                corners = [c.split("/") for c in rest.split()]
                if len(corners) < 3:
                    raise ValueError
                vi = [int(c[0]) for c in corners]
                ti = [int(c[1]) if len(c) > 1 and c[1] else 0 for c in corners]
                # Negative indices count back from the vertices read so far.
                vi = [i - 1 if i > 0 else len(verts) + i for i in vi]
                ti = [i - 1 if i > 0 else (len(uvs) + i if i < 0 else -1) for i in ti]
                for k in range(1, len(vi) - 1):
                    faces.append((vi[0], vi[k], vi[k + 1]))
                    face_uv.append((ti[0], ti[k], ti[k + 1]))
        except ValueError:
            raise FileFormatError(f"{str(p)!r} line {line_no}: malformed {kind!r} record {line.strip()[:60]!r}") from None
    if not verts:
        raise FileFormatError(f"{str(p)!r} has no vertices: not an OBJ mesh")
    v = np.asarray(verts, np.float64)
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise AvatarInputError(f"corrupt mesh in {str(p)!r}: face indices run outside 1..{len(v)}; re-export the head")
    vertex_uv = None
    fu = np.asarray(face_uv, np.int64).reshape(-1, 3)
    if f.size and uvs and fu.min() >= 0 and fu.max() < len(uvs):
        vertex_uv = np.zeros((len(v), 2), np.float32)
        vertex_uv[f.ravel()] = np.asarray(uvs, np.float32)[fu.ravel()]  # one UV per vertex: seams take the last
    return v, f, vertex_uv


def _obj_parts(path: Path, shapes_dir: Path | None) -> _Parts:
    v, f, uv = read_obj(path)
    parts = _Parts()
    parts.verts, parts.faces, parts.uvs, parts.count = [v], [f], [uv], len(v)
    parts.colours = [np.full((len(v), 3), np.nan)]
    parts.face_mat = [np.zeros(len(f), np.int16)]
    parts.materials = ["default"]
    folder = shapes_dir or path.with_name(path.stem + "_shapes")
    if shapes_dir is not None and not folder.is_dir():
        raise AvatarInputError(f"shape folder {str(folder)!r} not found: give the folder of one OBJ per ARKit shape")
    for shape in sorted(folder.glob("*.obj")) if folder.is_dir() else []:
        sv = read_obj(shape, vertices_only=True)[0]
        if sv.shape != v.shape:
            raise AvatarInputError(f"corrupt head: shape {shape.name} has {len(sv)} vertices, the neutral {len(v)}; "
                                   "export every shape with the same topology and vertex order")
        parts.deltas.append((shape.stem, 0, sv - v))
    return parts


def read_head_file(path: str | os.PathLike, allow_missing: bool = False, shapes_dir: str | os.PathLike | None = None,
                   normalize: bool = True) -> BlendshapeHead:
    """Return a BlendshapeHead from a glTF/GLB/OBJ head whose shapes carry ARKit names (rules in the module docstring).

    Raises AvatarInputError (one line) for a missing or unreadable file, a corrupt mesh, or missing
    ARKit shapes (all listed; `allow_missing=True` accepts any head with at least one).
    """
    p = Path(path)
    if not p.is_file():
        raise AvatarInputError(f"head file {str(p)!r} not found")
    suffix = p.suffix.lower()
    if suffix not in HEAD_SUFFIXES:
        raise AvatarInputError(f"head file {str(p)!r}: use a {', '.join(HEAD_SUFFIXES)} file with ARKit-named shapes")
    extras: dict[str, Any] = {}
    try:
        if suffix == ".obj":
            parts = _obj_parts(p, Path(shapes_dir) if shapes_dir else None)
        else:
            parts, extras = _gltf_parts(p)
    except AvatarInputError:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as e:  # a reference or field the spec requires is wrong
        raise FileFormatError(f"corrupt head file {str(p)!r} ({type(e).__name__}: {e}); re-export it") from None
    if not parts.faces or not sum(len(f) for f in parts.faces):
        raise AvatarInputError(f"head file {str(p)!r} has no triangles")
    neutral = np.concatenate(parts.verts)
    deltas = np.zeros((len(ARKIT_NAMES), len(neutral), 3), np.float64)
    present = np.zeros(len(ARKIT_NAMES), bool)
    unknown: list[str] = []
    combos: dict[tuple[int, ...], np.ndarray] = {}
    for name, base, d in parts.deltas:
        names = [arkit_name(n) for n in name.split("*")] if "*" in name else None
        if names and None not in names:  # a combination shape "a*b(*c)" (written by avatar.io.gltf)
            key = tuple(ARKIT_NAMES.index(n) for n in names)
            combos.setdefault(key, np.zeros((len(neutral), 3), np.float64))[base: base + len(d)] += d
            continue
        k = arkit_name(name)
        if k is None:
            unknown.append(name)
            continue
        deltas[ARKIT_NAMES.index(k), base: base + len(d)] += d
        present[ARKIT_NAMES.index(k)] = True
    _check_shapes(p, present, unknown, allow_missing, suffix)
    pivot = extras.get("pivot")
    if normalize:
        # Scale and centre onto the ICT head's box (cm), which cameras and head-pose translation assume.
        lo, hi = neutral.min(0), neutral.max(0)
        rlo, rhi = np.asarray(ICT_BOX_CM[0]), np.asarray(ICT_BOX_CM[1])
        scale = (rhi[1] - rlo[1]) / max(hi[1] - lo[1], 1e-12)
        centre, rcentre = (lo + hi) / 2, (rlo + rhi) / 2
        neutral = (neutral - centre) * scale + rcentre
        deltas *= scale
        combos = {k: c * scale for k, c in combos.items()}
        pivot = None if pivot is None else (np.asarray(pivot) - centre) * scale + rcentre
    uv = np.concatenate(parts.uvs) if all(u is not None for u in parts.uvs) else None
    colours = np.concatenate(parts.colours)
    known = ~np.isnan(colours).any(axis=1)
    # A file that states no colour keeps None (the renderer paints skin); uncoloured vertices of a coloured
    # file take the median colour, so an unpainted part does not render black.
    vertex_colors = None
    if known.any():
        vertex_colors = linear_to_srgb(np.where(known[:, None], colours, np.median(colours[known], axis=0)))
    landmarks = extras.get("landmarks68")
    rigid = extras.get("rigid_vertices")
    valid = (lambda ix: ix is not None and len(ix) and 0 <= min(ix) and max(ix) < len(neutral))  # noqa: E731
    return BlendshapeHead(
        neutral=neutral.astype(np.float32), faces=np.concatenate(parts.faces).astype(np.int32),
        deltas=deltas.astype(np.float32), present=present, face_material=np.concatenate(parts.face_mat),
        materials=tuple(parts.materials), vertex_uv=uv,
        landmarks68=np.asarray(landmarks, np.int32) if valid(landmarks) and len(landmarks) == 68 else None,
        rigid_vertices=np.asarray(rigid, np.int32) if valid(rigid) else None,
        pivot=None if pivot is None else np.asarray(pivot, np.float32), name=p.name, vertex_colors=vertex_colors,
        combos=tuple(combos), combo_deltas=np.asarray(list(combos.values()), np.float32) if combos else None,
    )


def load_head(path: str | os.PathLike | None = None, identity: int | Any | None = None, allow_missing: bool = False,
              brow_lowerer: float | None = None, brow_combo: float | None = None) -> BlendshapeHead:
    """Return a head: the default (path None), or a user's glTF/GLB/OBJ whose morph targets carry ARKit names.

    `brow_lowerer` is the strength of the corrective brow lowerer (`avatar.brow_lowerer`): None keeps each head's
    default (the shipped head's `BROW_LOWERER`; a user's head keeps its own shapes), a number applies that strength
    (to a user's head too, when it has 68 landmarks); `brow_combo`, the strength of the AU1+4 combination shape
    (`avatar.brow_combo`), likewise. Raises `AvatarInputError` listing the missing ARKit shapes when the file lacks
    some.
    """
    if path is None or str(path) in ("", "default", "ict", "ict-facekit"):
        return default_head(identity, brow_lowerer=brow_lowerer, brow_combo=brow_combo)
    head = read_head_file(path, allow_missing=allow_missing)
    if brow_lowerer:
        from avatar.brow_lowerer import with_brow_lowerer

        head = with_brow_lowerer(head, brow_lowerer)
    if brow_combo:
        from avatar.brow_combo import with_brow_combo

        head = with_brow_combo(head, brow_combo)
    return head.with_identity(identity)


def _check_shapes(p: Path, present: np.ndarray, unknown: list[str], allow_missing: bool, suffix: str) -> None:
    """Raise AvatarInputError listing the missing ARKit shapes (see read_head_file's rules)."""
    missing = [n for n, ok in zip(ARKIT_NAMES, present) if not ok]
    required = [n for n in missing if n not in OPTIONAL_SHAPES]
    if (not allow_missing and not required) or present.any() and allow_missing:
        return
    found = (f"; its unrecognised shape names: {', '.join(repr(u) for u in unknown[:8])}"
             f"{', ...' if len(unknown) > 8 else ''}") if unknown else ""
    where = ("morph targets (mesh.extras.targetNames)" if suffix != ".obj"
             else f"shape OBJs (in {p.stem}_shapes/ beside it)")
    if allow_missing:
        raise AvatarInputError(f"head {p.name!r} has no ARKit-named {where}{found}: name them as ARKit shapes, e.g. jawOpen")
    raise AvatarInputError(f"head {p.name!r} lacks {len(required)} of the ARKit {where}: {', '.join(required)}{found}; "
                           "add them, or pass allow_missing=True to load it without them")
