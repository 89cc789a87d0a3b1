"""Writes an animated head as glTF 2.0 (.glb binary, or .gltf with an embedded base64 buffer) for Blender and three.js.

Layout (all in one buffer, every bufferView 4-byte aligned, nothing outside glTF 2.0 core):
- nodes: `emoavatar_root` (scale `unit_scale`, default 0.01: heads are in cm, glTF in metres)
  -> `head_pivot` (translation = the head's pivot; animated rotation/translation for head pose)
  -> `head` (the mesh, translation = -pivot), so head rotations turn about the upper neck exactly
  as `BlendshapeHead.pose(weights, head_pose)` does;
- one mesh, one primitive per material part (all sharing one POSITION/NORMAL/TEXCOORD_0/COLOR_0 set
  and one target list), each with a plain white PBR material (ICT's overlay parts transparent), or one
  primitive with no material (`materials=False`). The colours are the renderer's own albedo
  (`avatar.appearance.paint_head` with `appearance`), written as linear COLOR_0, so the file shows what
  `avatar.render` shows and re-imports with its colours (`avatar.io.headfile` reads COLOR_0 back);
- morph targets: the head's present ARKit shapes in ARKit order (ICT lacks tongueOut), named in
  `mesh.extras.targetNames` (the convention Blender and three.js read), then the head's combination
  shapes (`BlendshapeHead.combos`, named "a*b(*c)", animated with the smallest of their weights); default
  `weights` zeros.
  POSITION deltas are sparse accessors (only the vertices a shape moves; dense when that is
  smaller): exact, 10 MB for the ICT head instead of 16 MB dense. `min_delta` (cm) drops smaller
  offsets for a smaller file (2e-4 cm: about 6 MB);
- one animation "expression": a LINEAR (or STEP) sampler over the frame times (seconds, float32)
  for the mesh node's `weights` (T x K values), and, when the sequence has a head pose, rotation
  (quaternions) and translation samplers on the pivot node;
- `mesh.extras.emoavatar` keeps what glTF has no slot for (pivot, landmark and rigid-vertex
  indices), so `avatar.io.headfile.read_head_file` restores them.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.errors import AvatarInputError, OutputPathError
from avatar.io.atomic import atomic_path
from avatar.rig import ARKIT_NAMES

if TYPE_CHECKING:
    from avatar.appearance import Appearance
    from avatar.head import BlendshapeHead
    from avatar.protocols import SequenceLike

FLOAT, UINT16, UINT32 = 5126, 5123, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
INTERPOLATIONS = ("LINEAR", "STEP")



class _Buffer:
    """Returns indices of bufferViews and accessors as it packs arrays into one binary buffer."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def view(self, data: bytes, target: int | None = None) -> int:
        """Return the index of a new bufferView holding `data`, started on a 4-byte boundary."""
        self.blob += b"\0" * (-len(self.blob) % 4)
        v: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.blob += data
        self.views.append(v)
        return len(self.views) - 1

    def accessor(self, array: np.ndarray, kind: str, target: int | None = None, minmax: bool = False) -> int:
        """Return the index of an accessor over `array` (float32, uint16 or uint32), rows = elements."""
        arr = np.ascontiguousarray(array)
        comp = {np.dtype(np.uint16): UINT16, np.dtype(np.uint32): UINT32}.get(arr.dtype, FLOAT)
        if comp == FLOAT:
            arr = arr.astype(np.float32)
        acc: dict[str, Any] = {"bufferView": self.view(arr.tobytes(), target), "componentType": comp,
                               "count": int(arr.shape[0]), "type": kind}
        if minmax:
            acc.update(_minmax(arr.reshape(arr.shape[0], -1)))
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def morph_positions(self, deltas: np.ndarray, min_delta: float) -> int:
        """Return the index of a (V, 3) morph-target accessor: sparse (moved vertices only) unless dense is smaller."""
        moved = np.abs(deltas).max(1) > min_delta
        idx = np.nonzero(moved)[0].astype(np.uint32)
        vals = np.where(moved[:, None], deltas, 0).astype(np.float32)
        if len(idx) * 16 >= deltas.size * 4:  # a sparse entry costs 4 (index) + 12 bytes
            return self.accessor(vals, "VEC3", ARRAY_BUFFER, minmax=True)
        acc: dict[str, Any] = {"componentType": FLOAT, "count": int(len(deltas)), "type": "VEC3", **_minmax(vals)}
        if len(idx):  # sparse.count must be >= 1; an all-zero target is a bare accessor (zeros by spec)
            acc["sparse"] = {"count": int(len(idx)),
                             "indices": {"bufferView": self.view(idx.tobytes()), "componentType": UINT32},
                             "values": {"bufferView": self.view(vals[idx].tobytes())}}
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _minmax(a: np.ndarray) -> dict[str, list[float]]:
    """Return glTF min/max per component; float32 values print exactly as Python floats."""
    if not len(a):
        return {"min": [0.0] * a.shape[1], "max": [0.0] * a.shape[1]}
    return {"min": [float(x) for x in a.min(0)], "max": [float(x) for x in a.max(0)]}


def head_pose_quaternions(head_pose: np.ndarray) -> np.ndarray:
    """Return (T, 4) xyzw unit quaternions of R = Ry(yaw) Rx(pitch) Rz(roll), as `avatar.rotations.rotation_matrix`.

    Signs are chosen so consecutive quaternions lie in one hemisphere (smooth interpolation).
    """
    def axis_angle(axis: int, angle: np.ndarray) -> np.ndarray:
        out = np.zeros((len(angle), 4))
        out[:, axis] = np.sin(angle / 2)
        out[:, 3] = np.cos(angle / 2)
        return out

    def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # Hamilton product, xyzw
        ax, ay, az, aw = a.T
        bx, by, bz, bw = b.T
        return np.stack([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                         aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz], 1)

    p, y, r = (np.asarray(head_pose)[:, i].astype(np.float64) for i in range(3))
    q = mul(mul(axis_angle(1, y), axis_angle(0, p)), axis_angle(2, r))
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def build_gltf(seq: SequenceLike | None, head: BlendshapeHead | None = None, *, interpolation: str = "LINEAR",
               min_delta: float = 0.0, unit_scale: float = 0.01, materials: bool = True,
               appearance: Appearance | None = None) -> tuple[dict[str, Any], bytes]:
    """Return (glTF JSON document, binary buffer) of `head` (default: ICT) animated by `seq` (None: no animation).

    See the module docstring for the layout and the options.
    """
    from avatar.appearance import HIDDEN_MATERIALS, paint_head, srgb_to_linear
    from avatar.blend import vertex_normals
    from avatar.head import default_head

    if interpolation not in INTERPOLATIONS:
        raise AvatarInputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")
    if not (min_delta >= 0 and unit_scale > 0):
        raise AvatarInputError(f"min_delta must be >= 0 and unit_scale > 0, got {min_delta!r} and {unit_scale!r}")
    head = default_head() if head is None else head
    b = _Buffer()
    neutral = np.asarray(head.neutral, np.float32)
    attributes = {"POSITION": b.accessor(neutral, "VEC3", ARRAY_BUFFER, minmax=True),
                  "NORMAL": b.accessor(vertex_normals(neutral, head.faces), "VEC3", ARRAY_BUFFER)}
    if head.vertex_uv is not None:
        # glTF puts the texture origin top-left; OBJ/OpenGL (and vertex_uv) bottom-left.
        uv = np.asarray(head.vertex_uv, np.float32) * np.float32([1, -1]) + np.float32([0, 1])
        attributes["TEXCOORD_0"] = b.accessor(uv, "VEC2", ARRAY_BUFFER)
    attributes["COLOR_0"] = b.accessor(srgb_to_linear(paint_head(head, appearance)), "VEC3", ARRAY_BUFFER)
    present = [k for k in range(len(ARKIT_NAMES)) if head.present[k]]
    targets = [{"POSITION": b.morph_positions(head.deltas[k], min_delta)} for k in present]
    # Combination shapes (`BlendshapeHead.combos`) as further targets, named "a*b(*c)"; the animation drives each by
    # the smallest of its weights (a player that sets weights by hand sets that too).
    targets += [{"POSITION": b.morph_positions(d, min_delta)} for d in (head.combo_deltas if head.combos else [])]
    target_names = [ARKIT_NAMES[k] for k in present] + ["*".join(ARKIT_NAMES[k] for k in c) for c in head.combos]
    index_type = np.uint16 if head.num_vertices < 65535 else np.uint32  # 65535 is reserved (primitive restart)
    parts = list(enumerate(head.materials)) if materials else [(None, "")]
    mats, primitives = [], []
    for m, name in parts:
        tris = head.faces if m is None else head.faces[np.asarray(head.face_material) == m]
        if not len(tris):
            continue
        prim: dict[str, Any] = {"attributes": attributes, "indices": b.accessor(tris.reshape(-1).astype(index_type), "SCALAR",
                                                                                ELEMENT_ARRAY_BUFFER, minmax=True)}
        if m is not None:
            hidden = name in HIDDEN_MATERIALS
            mat: dict[str, Any] = {"name": name, "doubleSided": True, "pbrMetallicRoughness": {
                "baseColorFactor": [1.0, 1.0, 1.0, 0.0 if hidden else 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.6}}
            if hidden:
                mat["alphaMode"] = "BLEND"
            mats.append(mat)
            prim["material"] = len(mats) - 1
        if targets:
            prim["targets"] = targets
        primitives.append(prim)
    pivot = [float(x) for x in np.asarray(head.pivot, np.float32)]
    extras: dict[str, Any] = {"targetNames": target_names, "emoavatar": {"pivot": pivot}}
    for key in ("landmarks68", "rigid_vertices"):
        if getattr(head, key, None) is not None:
            extras["emoavatar"][key] = [int(i) for i in getattr(head, key)]
    mesh: dict[str, Any] = {"name": head.name, "primitives": primitives, "extras": extras}
    if targets:
        mesh["weights"] = [0.0] * len(targets)
    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": "emoavatar"},
        "scene": 0, "scenes": [{"name": "emoavatar", "nodes": [0]}],
        "nodes": [{"name": "emoavatar_root", "scale": [float(unit_scale)] * 3, "children": [1]},
                  {"name": "head_pivot", "translation": pivot, "children": [2]},
                  {"name": "head", "mesh": 0, "translation": [-x for x in pivot]}],
        "meshes": [mesh],
    }
    if mats:
        doc["materials"] = mats
    if seq is not None and len(seq):
        animation = _animation(b, seq, present, pivot, interpolation, head)
        if animation["channels"]:
            doc["animations"] = [animation]
    doc["bufferViews"] = b.views
    doc["accessors"] = b.accessors
    doc["buffers"] = [{"byteLength": len(b.blob)}]
    return doc, bytes(b.blob)


def _animation(b: _Buffer, seq: SequenceLike, present: list[int], pivot: list[float], interpolation: str,
               head: BlendshapeHead) -> dict[str, Any]:
    """Return the animation: weights on the mesh node; rotation and translation on the pivot when posed."""
    times = (np.arange(len(seq), dtype=np.float64) / seq.fps).astype(np.float32)
    t_acc = b.accessor(times, "SCALAR", minmax=True)
    samplers: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []

    def add(output: int, node: int, path: str) -> None:
        samplers.append({"input": t_acc, "output": output, "interpolation": interpolation})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    if present:
        w = np.asarray(seq.weights, np.float32)
        combos = head.shape_weights(w)[:, len(ARKIT_NAMES):]  # (T, C): each combo's smallest weight
        add(b.accessor(np.concatenate([w[:, present], combos], 1).reshape(-1), "SCALAR"), 2, "weights")
    if seq.head_pose is not None:
        add(b.accessor(head_pose_quaternions(seq.head_pose), "VEC4"), 1, "rotation")
        add(b.accessor(seq.head_pose[:, 3:6].astype(np.float32) + np.float32(pivot), "VEC3"), 1, "translation")
    return {"name": "expression", "samplers": samplers, "channels": channels}


def export_gltf(seq: SequenceLike | None, path: str | os.PathLike, head: BlendshapeHead | None = None, *,
                interpolation: str = "LINEAR", min_delta: float = 0.0, unit_scale: float = 0.01,
                materials: bool = True, appearance: Appearance | None = None) -> Path:
    """Write `seq` on `head` (default: the ICT head) as .glb or .gltf (atomically) and return the path.

    Args:
        seq: the animation, or None for the head alone.
        interpolation: "LINEAR" or "STEP" between frames.
        min_delta: morph offsets at most this long (cm) are not stored (0: exact).
        unit_scale: the root node's scale (0.01: the head's cm as glTF's metres).
        materials: one primitive per material part (False: one primitive, no material).
        appearance: skin and eye colours of the ICT head's painted albedo (default `Appearance()`).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise OutputPathError(f"glTF export needs a .glb or .gltf file name, got {str(path)!r}")
    doc, blob = build_gltf(seq, head, interpolation=interpolation, min_delta=min_delta, unit_scale=unit_scale,
                           materials=materials, appearance=appearance)
    with atomic_path(path) as tmp:
        if suffix == ".gltf":
            doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(blob).decode("ascii")
            tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        else:
            tmp.write_bytes(pack_glb(doc, blob))
    return Path(path)


def pack_glb(doc: dict[str, Any], blob: bytes) -> bytes:
    """Return GLB container bytes: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    bin_ = blob + b"\0" * (-len(blob) % 4)
    total = 12 + 8 + len(js) + (8 + len(bin_) if bin_ else 0)
    out = struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(js), b"JSON") + js
    if bin_:
        out += struct.pack("<I4s", len(bin_), b"BIN\0") + bin_
    return out
