"""Reads a user's head: glTF/GLB whose morph targets carry ARKit names, or an OBJ plus one OBJ per shape.

glTF: a small reader of our own (trimesh does not read morph targets): JSON + buffers (GLB chunk,
data URIs or files beside it), accessors with byteStride and sparse storage; the first mesh that has
morph targets is used, its primitives merged. Target names come from `mesh.extras.targetNames` (or
a primitive's `extras.targetNames`) in any spelling `avatar.rig.normalize_name` accepts.

OBJ: `head.obj` is the neutral; the shapes are `<name>.obj` files (same vertex order) in the folder
`head_shapes/` beside it, or given as `shapes_dir`.

Node transforms are ignored; every head is scaled and moved so its bounding box matches the ICT
head's (height ~34 cm, centred the same way), which the renderer's cameras are framed for.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, FileFormatError
from avatar.rig import ARKIT_NAMES, try_normalize_name

_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
# The core a head must have to show speech and emotion; the rest may be absent with allow_missing.
CORE_SHAPES = ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight", "mouthSmileLeft", "mouthSmileRight", "browInnerUp")
# Shapes a head may lack without allow_missing: many ARKit heads (ICT-FaceKit too) have no tongue shape.
OPTIONAL_SHAPES = ("tongueOut",)


def read_gltf(path: str | os.PathLike) -> tuple[dict[str, Any], list[bytes]]:
    """Return (glTF JSON, buffers) of a .glb or .gltf file."""
    p = Path(path)
    raw = p.read_bytes()
    if raw[:4] == b"glTF":
        if len(raw) < 20:
            raise FileFormatError(f"{str(p)!r} is a truncated GLB file")
        _, _, total = struct.unpack_from("<4sII", raw, 0)
        off, doc, bin_chunk = 12, None, b""
        while off + 8 <= min(total, len(raw)):
            length, kind = struct.unpack_from("<I4s", raw, off)
            chunk = raw[off + 8: off + 8 + length]
            if kind == b"JSON":
                doc = json.loads(chunk.decode())
            elif kind == b"BIN\0":
                bin_chunk = chunk
            off += 8 + length
        if doc is None:
            raise FileFormatError(f"{str(p)!r} has no JSON chunk: not a valid GLB")
    else:
        try:
            doc = json.loads(raw.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise FileFormatError(f"{str(p)!r} is neither GLB nor glTF JSON") from None
        bin_chunk = b""
    buffers = []
    for i, buf in enumerate(doc.get("buffers", [])):
        uri = buf.get("uri")
        if uri is None:
            buffers.append(bin_chunk)
        elif uri.startswith("data:"):
            buffers.append(base64.b64decode(uri.split(",", 1)[1]))
        else:
            side = (p.parent / uri).resolve()
            if p.parent.resolve() not in side.parents:  # never read outside the model's folder
                raise FileFormatError(f"{str(p)!r}: buffer {i} points outside its folder ({uri!r})")
            buffers.append(side.read_bytes())
    return doc, buffers


def read_accessor(doc: dict[str, Any], buffers: list[bytes], index: int) -> np.ndarray:
    """Return accessor `index` as a (count, width) or (count,) numpy array (sparse values applied)."""
    acc = doc["accessors"][index]
    dtype = np.dtype(_COMPONENTS[acc["componentType"]])
    width, count = _WIDTH[acc["type"]], acc["count"]
    out = np.zeros((count, width), dtype)
    if "bufferView" in acc:
        out = _read_view(doc, buffers, acc["bufferView"], acc.get("byteOffset", 0), dtype, width, count)
    if "sparse" in acc:
        sp = acc["sparse"]
        idx_dtype = np.dtype(_COMPONENTS[sp["indices"]["componentType"]])
        idx = _read_view(doc, buffers, sp["indices"]["bufferView"], sp["indices"].get("byteOffset", 0), idx_dtype, 1, sp["count"])[:, 0]
        vals = _read_view(doc, buffers, sp["values"]["bufferView"], sp["values"].get("byteOffset", 0), dtype, width, sp["count"])
        out = out.copy()
        out[idx.astype(np.int64)] = vals
    return out[:, 0] if width == 1 else out


def _read_view(doc: dict[str, Any], buffers: list[bytes], view_index: int, offset: int, dtype: np.dtype, width: int, count: int) -> np.ndarray:
    view = doc["bufferViews"][view_index]
    data = buffers[view.get("buffer", 0)]
    start = view.get("byteOffset", 0) + offset
    item = dtype.itemsize * width
    stride = view.get("byteStride") or item
    end = start + stride * (count - 1) + item if count else start
    if end > len(data):
        raise FileFormatError(f"glTF accessor runs past the end of its buffer ({end} > {len(data)} bytes): the file is corrupt")
    if stride == item:
        return np.frombuffer(data, dtype, count * width, start).reshape(count, width).copy()
    rows = [np.frombuffer(data, dtype, width, start + i * stride) for i in range(count)]
    return np.stack(rows) if rows else np.zeros((0, width), dtype)


def _gltf_head(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    doc, buffers = read_gltf(path)
    meshes = doc.get("meshes", [])
    if not meshes:
        raise AvatarInputError(f"head file {str(path)!r} has no mesh")
    mesh = next((m for m in meshes if any(p.get("targets") for p in m["primitives"])), meshes[0])
    names = (mesh.get("extras") or {}).get("targetNames")
    verts, faces, shapes = [], [], {}
    offset = 0
    seen: dict[int, int] = {}  # POSITION accessor -> vertex offset (primitives often share one)
    for prim in mesh["primitives"]:
        if prim.get("mode", 4) != 4:
            continue  # points/lines carry no surface
        pos_acc = prim["attributes"]["POSITION"]
        if pos_acc in seen:
            base = seen[pos_acc]
        else:
            v = read_accessor(doc, buffers, pos_acc).astype(np.float32)
            base = seen[pos_acc] = offset
            verts.append(v)
            pnames = names or (prim.get("extras") or {}).get("targetNames") or []
            for t, target in enumerate(prim.get("targets", [])):
                if "POSITION" not in target or t >= len(pnames):
                    continue
                shapes.setdefault(pnames[t], []).append((base, read_accessor(doc, buffers, target["POSITION"]).astype(np.float32)))
            offset += len(v)
        n = len(verts[list(seen).index(pos_acc)]) if pos_acc in seen else 0
        idx = read_accessor(doc, buffers, prim["indices"]).astype(np.int64) if "indices" in prim else np.arange(n)
        faces.append(idx.reshape(-1, 3) + base)
    if not verts:
        raise AvatarInputError(f"head file {str(path)!r} has no triangle primitives")
    neutral = np.concatenate(verts)
    deltas = {}
    for name, parts in shapes.items():
        d = np.zeros_like(neutral)
        for base, part in parts:
            d[base: base + len(part)] = part
        deltas[name] = d
    return neutral, np.concatenate(faces), deltas


def _obj_head(path: Path, shapes_dir: Path | None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    import trimesh

    def load(p: Path) -> Any:
        try:
            return trimesh.load(p, process=False, force="mesh")
        except Exception as e:  # trimesh raises many types for broken files
            raise FileFormatError(f"cannot read OBJ {str(p)!r}: {e}") from None

    base = load(path)
    neutral = np.asarray(base.vertices, np.float32)
    folder = shapes_dir or path.with_name(path.stem + "_shapes")
    deltas = {}
    if folder.is_dir():
        for f in sorted(folder.glob("*.obj")):
            v = np.asarray(load(f).vertices, np.float32)
            if v.shape != neutral.shape:
                raise AvatarInputError(f"corrupt head: shape {f.name} has {len(v)} vertices, the neutral {len(neutral)}; "
                                       "export every shape with the same topology")
            deltas[f.stem] = v - neutral
    return neutral, np.asarray(base.faces, np.int64), deltas


def read_head_file(path: str | os.PathLike, allow_missing: bool = False, shapes_dir: str | os.PathLike | None = None) -> Any:
    """Return a BlendshapeHead from a glTF/GLB/OBJ head whose shapes carry ARKit names.

    Every ARKit shape but tongueOut is required; a missing one raises `AvatarInputError` listing
    them, unless `allow_missing` (then only CORE_SHAPES are required and absent ones stay zero).
    """
    from avatar.head import BlendshapeHead, default_head

    p = Path(path)
    if not p.is_file():
        raise AvatarInputError(f"head file {str(p)!r} not found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".glb", ".gltf"):
            neutral, faces, named = _gltf_head(p)
        elif suffix == ".obj":
            neutral, faces, named = _obj_head(p, Path(shapes_dir) if shapes_dir else None)
        else:
            raise AvatarInputError(f"head file {str(p)!r}: use a .glb, .gltf or .obj file")
    except (KeyError, IndexError, ValueError, struct.error) as e:
        if isinstance(e, AvatarInputError):
            raise
        raise FileFormatError(f"corrupt head file {str(p)!r} ({type(e).__name__}: {e}); re-export it") from None
    if faces.size and (faces.min() < 0 or faces.max() >= len(neutral)):
        raise AvatarInputError(f"corrupt mesh in {str(p)!r}: face indices run outside 0..{len(neutral) - 1}; re-export the head")
    deltas = np.zeros((len(ARKIT_NAMES), len(neutral), 3), np.float32)
    present = np.zeros(len(ARKIT_NAMES), bool)
    for name, d in named.items():
        k = try_normalize_name(name)
        if k is None:
            continue
        deltas[ARKIT_NAMES.index(k)] += d
        present[ARKIT_NAMES.index(k)] = True
    missing = [n for n, ok in zip(ARKIT_NAMES, present) if not ok]
    needed = CORE_SHAPES if allow_missing else [n for n in ARKIT_NAMES if n not in OPTIONAL_SHAPES]
    required = [n for n in needed if n in missing]
    if required:
        shown = ", ".join(required[:8]) + (", ..." if len(required) > 8 else "")
        raise AvatarInputError(f"head {p.name!r} lacks {len(required)} ARKit morph targets ({shown}); "
                               "add them, or pass allow_missing=True to render without them")
    # Scale and centre onto the ICT head's box, which the cameras frame.
    ref = default_head().neutral
    lo, hi = neutral.min(0), neutral.max(0)
    rlo, rhi = ref.min(0), ref.max(0)
    scale = float((rhi[1] - rlo[1]) / max(hi[1] - lo[1], 1e-9))
    neutral = (neutral - (lo + hi) / 2) * scale + (rlo + rhi) / 2
    return BlendshapeHead(neutral=neutral, faces=faces.astype(np.int32), deltas=deltas * scale, present=present,
                          face_material=np.zeros(len(faces), np.int16), name=p.name)
