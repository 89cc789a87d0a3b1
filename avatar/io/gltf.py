"""Writes an animated head as glTF 2.0 (.glb binary, or .gltf with an embedded buffer) that Blender and three.js open.

Layout:
- one mesh, one primitive per material part (sharing one POSITION/NORMAL accessor pair), each with a
  plain PBR material (skin, teeth, gums, sclera, iris, lashes; ICT's overlay parts half-transparent);
- morph targets: the head's ARKit shapes (those it has; ICT lacks tongueOut), named in
  `mesh.extras.targetNames` (the convention Blender and three.js read), stored as sparse accessors
  (only vertices a shape moves), which keeps the default head at ~6 MB instead of ~16 MB dense;
- nodes: a pivot node (the head-pose pivot, animated rotation/translation when the sequence has a head
  pose) holding the mesh node (offset by -pivot), so rotations turn the head about the upper neck;
- one animation: LINEAR samplers over the sequence's frame times for the mesh node's `weights`
  (and the pivot's rotation/translation).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import OutputPathError
from avatar.io.atomic import atomic_path
from avatar.rig import ARKIT_NAMES

FLOAT, UINT32 = 5126, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963

# Base colours (linear RGBA) of ICT's material parts; other heads get skin everywhere.
MATERIAL_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "M_Face": (0.68, 0.42, 0.30, 1.0), "M_BackHead": (0.68, 0.42, 0.30, 1.0), "M_GumsTongue": (0.45, 0.10, 0.10, 1.0),
    "M_Teeth": (0.80, 0.76, 0.66, 1.0), "M_ScleraLeft": (0.85, 0.80, 0.76, 1.0), "M_ScleraRight": (0.85, 0.80, 0.76, 1.0),
    "M_IrisLeft": (0.10, 0.05, 0.02, 1.0), "M_IrisRight": (0.10, 0.05, 0.02, 1.0), "M_EyeLashes": (0.02, 0.015, 0.01, 1.0),
    "M_LacrimalFluid": (0.9, 0.9, 0.9, 0.0), "M_EyeBlend": (0.68, 0.42, 0.30, 0.0), "M_EyeOcclusion": (0.0, 0.0, 0.0, 0.0),
}
DEFAULT_COLOUR = (0.68, 0.42, 0.30, 1.0)


class _Builder:
    """Accumulates binary data, bufferViews and accessors for one glTF buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        while len(self.blob) % 4:  # every bufferView starts 4-byte aligned
            self.blob.append(0)
        v: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.blob += data
        self.views.append(v)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = None, minmax: bool = False) -> int:
        arr = np.ascontiguousarray(array)
        comp = UINT32 if arr.dtype == np.uint32 else FLOAT
        arr = arr.astype(np.uint32 if comp == UINT32 else np.float32)
        acc: dict[str, Any] = {"bufferView": self.view(arr.tobytes(), target), "componentType": comp,
                               "count": int(arr.shape[0]), "type": kind}
        if minmax:
            flat = arr.reshape(arr.shape[0], -1)
            acc["min"] = [float(x) for x in flat.min(0)]
            acc["max"] = [float(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def sparse_vec3(self, dense: np.ndarray, tol: float = 2e-4) -> int:
        """Add a (V, 3) accessor stored sparsely: only rows moving more than `tol` cm (below the float16 source data's rounding error)."""
        idx = np.nonzero(np.abs(dense).max(1) > tol)[0].astype(np.uint32)
        vals = dense[idx].astype(np.float32)
        acc: dict[str, Any] = {"componentType": FLOAT, "count": int(dense.shape[0]), "type": "VEC3",
                               "min": [float(x) for x in (np.minimum(vals.min(0), 0) if len(vals) else np.zeros(3))],
                               "max": [float(x) for x in (np.maximum(vals.max(0), 0) if len(vals) else np.zeros(3))]}
        if len(idx):
            acc["sparse"] = {"count": int(len(idx)),
                             "indices": {"bufferView": self.view(idx.tobytes()), "componentType": UINT32},
                             "values": {"bufferView": self.view(vals.tobytes())}}
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _quaternions(head_pose: np.ndarray) -> np.ndarray:
    """Return (T, 4) xyzw quaternions of R = Ry(yaw) Rx(pitch) Rz(roll) (avatar.head.rotation_matrix)."""
    def q(axis: int, angle: np.ndarray) -> np.ndarray:
        out = np.zeros((len(angle), 4))
        out[:, axis] = np.sin(angle / 2)
        out[:, 3] = np.cos(angle / 2)
        return out

    def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ax, ay, az, aw = a.T
        bx, by, bz, bw = b.T
        return np.stack([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                         aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz], 1)

    p, y, r = (head_pose[:, i].astype(np.float64) for i in range(3))
    return mul(mul(q(1, y), q(0, p)), q(2, r)).astype(np.float32)


def build_gltf(seq: Any, head: Any = None) -> tuple[dict[str, Any], bytes]:
    """Return (glTF JSON document, binary buffer) of `head` animated by `seq` (an ExpressionSequence)."""
    from avatar.head import default_head, vertex_normals

    head = head or default_head()
    b = _Builder()
    neutral = head.neutral.astype(np.float32)
    pos = b.accessor(neutral, "VEC3", ARRAY_BUFFER, minmax=True)
    nrm = b.accessor(vertex_normals(neutral, head.faces), "VEC3", ARRAY_BUFFER)
    present = [k for k in range(len(ARKIT_NAMES)) if head.present[k]]
    targets = [{"POSITION": b.sparse_vec3(head.deltas[k])} for k in present]
    materials, primitives = [], []
    for m, name in enumerate(head.materials):
        tris = head.faces[head.face_material == m]
        if not len(tris):
            continue
        colour = MATERIAL_COLOURS.get(name, DEFAULT_COLOUR)
        mat: dict[str, Any] = {"name": name, "pbrMetallicRoughness": {"baseColorFactor": list(colour), "metallicFactor": 0.0,
                                                                      "roughnessFactor": 0.6}, "doubleSided": True}
        if colour[3] < 1.0:
            mat["alphaMode"] = "BLEND"
        materials.append(mat)
        primitives.append({"attributes": {"POSITION": pos, "NORMAL": nrm},
                           "indices": b.accessor(tris.reshape(-1).astype(np.uint32), "SCALAR", ELEMENT_ARRAY_BUFFER),
                           "material": len(materials) - 1, "targets": targets})
    names = [ARKIT_NAMES[k] for k in present]
    pivot = [float(x) for x in head.pivot]
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "emoavatar"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "head_pivot", "translation": pivot, "children": [1]},
                  {"name": "head", "mesh": 0, "translation": [-x for x in pivot]}],
        "meshes": [{"name": head.name, "primitives": primitives, "weights": [0.0] * len(present),
                    "extras": {"targetNames": names}}],
        "materials": materials,
    }
    if len(seq):
        times = (np.arange(len(seq)) / seq.fps).astype(np.float32)
        t_acc = b.accessor(times, "SCALAR", minmax=True)
        w_acc = b.accessor(seq.weights[:, present].reshape(-1), "SCALAR")
        samplers = [{"input": t_acc, "output": w_acc, "interpolation": "LINEAR"}]
        channels = [{"sampler": 0, "target": {"node": 1, "path": "weights"}}]
        if seq.head_pose is not None:
            samplers.append({"input": t_acc, "output": b.accessor(_quaternions(seq.head_pose), "VEC4"), "interpolation": "LINEAR"})
            channels.append({"sampler": 1, "target": {"node": 0, "path": "rotation"}})
            samplers.append({"input": t_acc, "output": b.accessor(seq.head_pose[:, 3:6] + np.asarray(pivot, np.float32), "VEC3"),
                             "interpolation": "LINEAR"})
            channels.append({"sampler": 2, "target": {"node": 0, "path": "translation"}})
        doc["animations"] = [{"name": "expression", "samplers": samplers, "channels": channels}]
    doc["bufferViews"] = b.views
    doc["accessors"] = b.accessors
    doc["buffers"] = [{"byteLength": len(b.blob)}]
    return doc, bytes(b.blob)


def export_gltf(seq: Any, path: str | os.PathLike, head: Any = None) -> Path:
    """Write `seq` on `head` (default: the ICT head) as .glb or .gltf (atomically); return the path."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise OutputPathError(f"glTF export needs a .glb or .gltf file name, got {str(path)!r}")
    doc, blob = build_gltf(seq, head)
    with atomic_path(path) as tmp:
        if suffix == ".gltf":
            doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
            Path(tmp).write_text(json.dumps(doc))
        else:
            Path(tmp).write_bytes(pack_glb(doc, blob))
    return Path(path)


def pack_glb(doc: dict[str, Any], blob: bytes) -> bytes:
    """Return the GLB container bytes: header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    bin_ = blob + b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(js) + 8 + len(bin_)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(js), b"JSON") + js
            + struct.pack("<I4s", len(bin_), b"BIN\0") + bin_)


