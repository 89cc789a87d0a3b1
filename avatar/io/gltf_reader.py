"""Returns the parts of a glTF 2.0 file a blendshape head needs: JSON, buffers, accessors, mesh instances.

Our own small reader, because trimesh does not read morph targets. Handles GLB and .gltf (data URIs,
or buffer files beside it), accessors with byteStride, normalized integers and sparse storage,
node hierarchies (matrix or TRS), and triangle strips and fans. Compressed files
(Draco, meshopt, quantization) are refused with a one-line hint.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import FileFormatError

_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
TRIANGLES, TRIANGLE_STRIP, TRIANGLE_FAN = 4, 5, 6


def read_gltf(path: str | os.PathLike) -> tuple[dict[str, Any], list[bytes]]:
    """Return (glTF JSON, buffers) of a .glb or .gltf file; raise FileFormatError when it is not one."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise FileFormatError(f"cannot read {str(p)!r}: {e.strerror or e}") from None
    bin_chunk = b""
    if raw[:4] == b"glTF":
        if len(raw) < 20:
            raise FileFormatError(f"{str(p)!r} is a truncated GLB file ({len(raw)} bytes): re-export it")
        _, version, total = struct.unpack_from("<4sII", raw, 0)
        if version != 2:
            raise FileFormatError(f"{str(p)!r} is GLB version {version}; only glTF 2.0 is supported")
        if total > len(raw):
            raise FileFormatError(f"{str(p)!r} is truncated ({len(raw)} of {total} bytes): re-export it")
        off, doc = 12, None
        while off + 8 <= total:
            length, kind = struct.unpack_from("<I4s", raw, off)
            chunk = raw[off + 8: off + 8 + length]
            if kind == b"JSON" and doc is None:
                doc = _json(chunk, p)
            elif kind == b"BIN\0" and not bin_chunk:
                bin_chunk = chunk
            off += 8 + length
        if doc is None:
            raise FileFormatError(f"{str(p)!r} has no JSON chunk: not a valid GLB")
    else:
        doc = _json(raw, p)
    version = str((doc.get("asset") or {}).get("version", ""))
    if not version.startswith("2."):
        raise FileFormatError(f"{str(p)!r} is glTF {version or '(no asset.version)'}; only glTF 2.0 is supported")
    unsupported = set(doc.get("extensionsRequired", [])) & {
        "KHR_draco_mesh_compression", "EXT_meshopt_compression", "KHR_mesh_quantization"}
    if unsupported:
        raise FileFormatError(f"{str(p)!r} needs {', '.join(sorted(unsupported))}, which emoavatar does not read: "
                              "re-export without mesh compression")
    buffers = []
    for i, buf in enumerate(doc.get("buffers", [])):
        uri = buf.get("uri")
        if uri is None:
            data = bin_chunk
        elif uri.startswith("data:"):
            try:
                data = base64.b64decode(uri.split(",", 1)[1], validate=True)
            except (IndexError, ValueError):
                raise FileFormatError(f"{str(p)!r}: buffer {i} has a malformed data URI") from None
        else:
            side = (p.parent / urllib.parse.unquote(uri)).resolve()
            if p.parent.resolve() not in side.parents:  # never read outside the model's folder
                raise FileFormatError(f"{str(p)!r}: buffer {i} points outside its folder ({uri!r})")
            try:
                data = side.read_bytes()
            except OSError:
                raise FileFormatError(f"{str(p)!r}: buffer file {uri!r} is missing; keep it beside the .gltf") from None
        if len(data) < int(buf.get("byteLength", 0)):
            raise FileFormatError(f"{str(p)!r}: buffer {i} has {len(data)} bytes, the file says {buf.get('byteLength')}")
        buffers.append(data)
    return doc, buffers


def _json(data: bytes, p: Path) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileFormatError(f"{str(p)!r} is neither GLB nor glTF JSON") from None
    if not isinstance(doc, dict):
        raise FileFormatError(f"{str(p)!r} is JSON but not a glTF document")
    return doc


def read_accessor(doc: dict[str, Any], buffers: list[bytes], index: int) -> np.ndarray:
    """Return accessor `index` as (count,) or (count, width) numpy data, sparse values applied.

    Normalized integers come back as float32 in [0, 1] / [-1, 1]; other data in its stored type.
    Raises FileFormatError when the accessor runs outside its buffer.
    """
    acc = doc["accessors"][index]
    dtype = np.dtype(_COMPONENTS[acc["componentType"]])
    width, count = _WIDTH[acc["type"]], int(acc["count"])
    if "bufferView" in acc:
        out = _read_view(doc, buffers, acc["bufferView"], acc.get("byteOffset", 0), dtype, width, count)
    else:
        out = np.zeros((count, width), dtype)  # the spec's default when only sparse values are stored
    if "sparse" in acc:
        sp = acc["sparse"]
        idx_type = np.dtype(_COMPONENTS[sp["indices"]["componentType"]])
        idx = _read_view(doc, buffers, sp["indices"]["bufferView"], sp["indices"].get("byteOffset", 0), idx_type, 1, sp["count"])[:, 0]
        if len(idx) and int(idx.max()) >= count:
            raise FileFormatError(f"glTF accessor {index}: sparse index {int(idx.max())} is past its {count} elements")
        vals = _read_view(doc, buffers, sp["values"]["bufferView"], sp["values"].get("byteOffset", 0), dtype, width, sp["count"])
        out[idx.astype(np.int64)] = vals
    if acc.get("normalized") and dtype.kind in "iu":
        out = np.maximum(out.astype(np.float32) / np.iinfo(dtype).max, -1.0).astype(np.float32)
    return out[:, 0] if width == 1 else out


def _read_view(doc: dict[str, Any], buffers: list[bytes], view_index: int, offset: int, dtype: np.dtype,
               width: int, count: int) -> np.ndarray:
    """Return a writable (count, width) copy of elements laid out in a bufferView (honouring byteStride)."""
    view = doc["bufferViews"][view_index]
    data = buffers[view.get("buffer", 0)]
    start = view.get("byteOffset", 0) + offset
    item = dtype.itemsize * width
    stride = view.get("byteStride") or item
    end = start + stride * (count - 1) + item if count else start
    if end > len(data) or end > view.get("byteOffset", 0) + view["byteLength"]:
        raise FileFormatError(f"glTF accessor data runs past the end of its bufferView ({end} bytes): the file is corrupt")
    if not count:
        return np.zeros((0, width), dtype)
    arr = np.ndarray((count, width), dtype, buffer=data, offset=start, strides=(stride, dtype.itemsize))
    return np.array(arr)  # copy: strided views and read-only buffers must not escape


def _node_matrix(node: dict[str, Any]) -> np.ndarray:
    """Return the node's local 4x4 transform (column-major `matrix`, or T * R * S)."""
    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T
    x, y, z, w = node.get("rotation", (0.0, 0.0, 0.0, 1.0))
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    m = np.eye(4)
    m[:3, :3] = rot * np.asarray(node.get("scale", (1.0, 1.0, 1.0)), np.float64)
    m[:3, 3] = node.get("translation", (0.0, 0.0, 0.0))
    return m


@dataclass(frozen=True)
class MeshInstance:
    """A mesh placed in the scene: `mesh` index, `world` 4x4 transform, and whether a skin deforms it."""

    mesh: int
    world: np.ndarray
    skinned: bool


def mesh_instances(doc: dict[str, Any]) -> list[MeshInstance]:
    """Return every mesh of the default scene with its world transform (all meshes if there is no scene).

    A skinned mesh's node transform is ignored, as the spec says; its vertices stay in bind space.
    """
    nodes = doc.get("nodes", [])
    scenes = doc.get("scenes", [])
    if not scenes:
        return [MeshInstance(i, np.eye(4), False) for i in range(len(doc.get("meshes", [])))]
    roots = scenes[doc.get("scene", 0)].get("nodes", [])
    out: list[MeshInstance] = []
    stack = [(int(r), np.eye(4)) for r in reversed(roots)]
    visited: set[int] = set()
    while stack:
        i, parent = stack.pop()
        if i in visited:  # a malformed file with a cycle must not loop forever
            raise FileFormatError(f"glTF node {i} is its own ancestor: the node hierarchy is corrupt")
        visited.add(i)
        node = nodes[i]
        world = parent @ _node_matrix(node)
        if "mesh" in node:
            skinned = "skin" in node
            out.append(MeshInstance(int(node["mesh"]), np.eye(4) if skinned else world, skinned))
        stack.extend((int(c), world) for c in reversed(node.get("children", [])))
    return out


def triangles(mode: int, indices: np.ndarray) -> np.ndarray:
    """Return (F, 3) triangles of a primitive's index list in `mode` (4 list, 5 strip, 6 fan); other modes give none."""
    idx = np.asarray(indices, np.int64)
    if mode == TRIANGLES:
        if len(idx) % 3:
            raise FileFormatError(f"a triangle list has {len(idx)} indices, not a multiple of 3: the file is corrupt")
        return idx.reshape(-1, 3)
    if len(idx) < 3 or mode not in (TRIANGLE_STRIP, TRIANGLE_FAN):
        return np.zeros((0, 3), np.int64)
    i = np.arange(len(idx) - 2)
    if mode == TRIANGLE_FAN:
        return np.stack([np.full_like(i, idx[0]), idx[i + 1], idx[i + 2]], 1)
    # Strips alternate winding; swap every odd triangle's first two corners to keep them facing one way.
    odd = i % 2 == 1
    a = np.where(odd, idx[i + 1], idx[i])
    b = np.where(odd, idx[i], idx[i + 1])
    return np.stack([a, b, idx[i + 2]], 1)
