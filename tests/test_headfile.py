"""Loading a user's head: glTF/GLB and OBJ readers, ARKit name spellings, missing shapes listed, corrupt files refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.errors import AvatarInputError, FileFormatError
from avatar.io.headfile import load_head
from avatar.io.gltf import ARRAY_BUFFER, _Buffer, pack_glb
from avatar.io.headfile import arkit_name, read_head_file, read_obj
from avatar.rig import ARKIT_NAMES

JAW = ARKIT_NAMES.index("jawOpen")


@pytest.fixture(scope="module")
def ball() -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=2)
    return np.asarray(s.vertices, np.float32), np.asarray(s.faces, np.int64)


def _mesh(b: _Buffer, verts: np.ndarray, faces: np.ndarray, targets: dict[str, np.ndarray],
          names_in: str = "mesh") -> dict[str, Any]:
    """Return a glTF mesh dict whose data is packed into `b`: one primitive, dense morph targets."""
    prim: dict[str, Any] = {"attributes": {"POSITION": b.accessor(verts, "VEC3", ARRAY_BUFFER, minmax=True)},
                            "indices": b.accessor(faces.reshape(-1).astype(np.uint32), "SCALAR")}
    if targets:
        prim["targets"] = [{"POSITION": b.accessor(d, "VEC3", minmax=True)} for d in targets.values()]
    mesh: dict[str, Any] = {"primitives": [prim]}
    if targets and names_in == "mesh":
        mesh["extras"] = {"targetNames": list(targets)}
    elif targets and names_in == "primitive":
        prim["extras"] = {"targetNames": list(targets)}
    return mesh


def _write(path: Path, b: _Buffer, meshes: list[dict[str, Any]], nodes: list[dict[str, Any]] | None = None) -> Path:
    """Write a .glb or .gltf of `meshes` (one root node each unless `nodes` is given)."""
    nodes = nodes if nodes is not None else [{"mesh": i} for i in range(len(meshes))]
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [i for i, n in enumerate(nodes) if not n.get("_child")]}],
           "nodes": [{k: v for k, v in n.items() if k != "_child"} for n in nodes], "meshes": meshes,
           "bufferViews": b.views, "accessors": b.accessors, "buffers": [{"byteLength": len(b.blob)}]}
    if path.suffix == ".glb":
        path.write_bytes(pack_glb(doc, bytes(b.blob)))
    else:
        doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(bytes(b.blob)).decode()
        path.write_text(json.dumps(doc))
    return path


def _full_targets(verts: np.ndarray) -> dict[str, np.ndarray]:
    """Return 51 ARKit targets (all but tongueOut), each moving vertex k along y by 0.01 * (k + 1)."""
    out = {}
    for k, name in enumerate(ARKIT_NAMES[:-1]):
        d = np.zeros_like(verts)
        d[k % len(verts), 1] = 0.01 * (k + 1)
        out[name] = d
    return out


# -------------------------------------------------------------------- glTF
def test_gltf_head_with_every_shape(tmp_path: Path, ball: tuple[np.ndarray, np.ndarray]) -> None:
    verts, faces = ball
    b = _Buffer()
    path = _write(tmp_path / "ball.glb", b, [_mesh(b, verts, faces, _full_targets(verts))])
    head = read_head_file(path, normalize=False)
    assert head.missing_shapes == ["tongueOut"] and np.allclose(head.neutral, verts)
    assert head.deltas[JAW][JAW % len(verts), 1] == pytest.approx(0.01 * (JAW + 1))
    fitted = load_head(path)  # normalised onto the default head's box
    assert np.ptp(fitted.neutral[:, 1]) == pytest.approx(np.ptp(load_head().neutral[:, 1]), rel=1e-5)


def test_user_head_keeps_its_own_brow_shapes(tmp_path: Path, ball: tuple[np.ndarray, np.ndarray], monkeypatch: Any) -> None:
    """The corrective brow lowerer is the shipped head's: a user's head keeps its own browDown unless asked."""
    import avatar.brow_lowerer as bl

    monkeypatch.setattr(bl, "BROW_LOWERER", 1.0)  # whatever the shipped default is
    verts, faces = ball
    b = _Buffer()
    path = _write(tmp_path / "ball.glb", b, [_mesh(b, verts, faces, _full_targets(verts))])
    assert np.array_equal(load_head(path).deltas, read_head_file(path).deltas)
    with pytest.raises(AvatarInputError, match="landmarks"):  # asked for, on a head without the 68 landmarks
        load_head(path, brow_lowerer=1.0)
    down = ARKIT_NAMES.index("browDownLeft")
    shipped, plain = load_head(), load_head(brow_lowerer=0)
    assert not np.array_equal(shipped.deltas[down], plain.deltas[down])
    assert np.array_equal(np.delete(shipped.deltas, [down, down + 1], 0), np.delete(plain.deltas, [down, down + 1], 0))


def test_name_spellings_and_split_sides(tmp_path: Path, ball: tuple[np.ndarray, np.ndarray]) -> None:
    verts, faces = ball
    rng = np.random.default_rng(0)
    targets = {n: rng.normal(0, 0.01, verts.shape).astype(np.float32)
               for n in ("blendShape1.JawOpen", "browDown_L", "browInnerUp_L", "browInnerUp_R", "EyeBlinkRight", "Key 1")}
    for where in ("mesh", "primitive"):
        b = _Buffer()
        path = _write(tmp_path / f"{where}.gltf", b, [_mesh(b, verts, faces, targets, names_in=where)])
        head = read_head_file(path, allow_missing=True, normalize=False)
        present = {n for n, p in zip(ARKIT_NAMES, head.present) if p}
        assert present == {"jawOpen", "browDownLeft", "browInnerUp", "eyeBlinkRight"}
        np.testing.assert_allclose(head.deltas[ARKIT_NAMES.index("browInnerUp")],
                                   targets["browInnerUp_L"] + targets["browInnerUp_R"], atol=1e-6)
    assert arkit_name("mouthSmile_R") == "mouthSmileRight" and arkit_name("eyeBlink_L") == "eyeBlinkLeft"
    assert arkit_name("cheekPuff_L") == "cheekPuff" and arkit_name("PupilDilate_L") is None


def test_missing_shapes_are_all_listed(tmp_path: Path, ball: tuple[np.ndarray, np.ndarray]) -> None:
    verts, faces = ball
    targets = _full_targets(verts)
    del targets["jawOpen"], targets["mouthClose"]
    targets["Smile"] = np.zeros_like(verts)
    b = _Buffer()
    path = _write(tmp_path / "partial.glb", b, [_mesh(b, verts, faces, targets)])
    with pytest.raises(AvatarInputError, match=r"lacks 2 of the ARKit morph targets.*: jawOpen, mouthClose; "
                                               r"its unrecognised shape names: 'Smile'; .*allow_missing=True") as e:
        load_head(path)
    assert "\n" not in str(e.value)
    head = load_head(path, allow_missing=True)
    assert head.missing_shapes == ["jawOpen", "mouthClose", "tongueOut"] and not head.deltas[JAW].any()


def test_a_head_without_arkit_shapes(tmp_path: Path) -> None:
    import trimesh

    path = tmp_path / "plain.glb"
    trimesh.creation.icosphere().export(path)
    with pytest.raises(AvatarInputError, match=r"lacks 51 of the ARKit morph targets.*: browDownLeft, browDownRight, .*noseSneerRight;"):
        load_head(path)
    with pytest.raises(AvatarInputError, match="has no ARKit-named morph targets"):
        load_head(path, allow_missing=True)


def test_reader_handles_strides_sparse_normalized_strips_and_nodes(tmp_path: Path) -> None:
    # A quad as a triangle strip, positions interleaved with UVs (byteStride 20), a sparse jawOpen
    # on a base bufferView, normalized uint8 UVs, under a node that scales by 2 and turns 90 degrees about y.
    pos = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32)
    uv8 = np.array([[0, 0], [255, 0], [0, 255], [255, 255]], np.uint8)
    inter = b"".join(p.tobytes() + u.tobytes() + b"\0\0\0\0\0\0" for p, u in zip(pos, uv8))  # 12 + 2 + 6 pad = 20
    base = np.zeros((4, 3), np.float32)
    base[0] = [0, 0, 0.5]
    b = _Buffer()
    v_inter = b.view(inter, ARRAY_BUFFER)
    b.views[v_inter]["byteStride"] = 20
    v_base, v_idx, v_val = b.view(base.tobytes()), b.view(np.uint16([3]).tobytes()), b.view(np.float32([[0, 0.25, 0]]).tobytes())
    b.accessors += [
        {"bufferView": v_inter, "componentType": 5126, "count": 4, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0]},
        {"bufferView": v_inter, "byteOffset": 12, "componentType": 5121, "normalized": True, "count": 4, "type": "VEC2"},
        {"bufferView": v_base, "componentType": 5126, "count": 4, "type": "VEC3", "min": [0, 0, 0], "max": [0, 0.25, 0.5],
         "sparse": {"count": 1, "indices": {"bufferView": v_idx, "componentType": 5123}, "values": {"bufferView": v_val}}},
    ]
    mesh = {"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "mode": 5, "targets": [{"POSITION": 2}],
                            "indices": b.accessor(np.uint16([0, 1, 2, 3]), "SCALAR")}],
            "extras": {"targetNames": ["jawOpen"]}}
    s = np.sqrt(0.5)
    nodes = [{"children": [1], "scale": [2, 2, 2]}, {"_child": True, "mesh": 0, "rotation": [0, s, 0, s], "translation": [0, 0, 3]}]
    head = read_head_file(_write(tmp_path / "quad.gltf", b, [mesh], nodes), allow_missing=True, normalize=False)
    turn = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], np.float64)  # 90 degrees about y
    np.testing.assert_allclose(head.neutral, 2 * (pos @ turn.T + [0, 0, 3]), atol=1e-6)
    np.testing.assert_allclose(head.deltas[JAW], 2 * (np.array([[0, 0, .5], [0, 0, 0], [0, 0, 0], [0, .25, 0]]) @ turn.T), atol=1e-6)
    assert head.faces.tolist() == [[0, 1, 2], [2, 1, 3]]  # strip triangles keep one winding
    np.testing.assert_allclose(head.vertex_uv, [[0, 1], [1, 1], [0, 0], [1, 0]], atol=1e-6)  # flipped to bottom-left


def test_static_parts_inside_the_head_are_kept(tmp_path: Path, ball: tuple[np.ndarray, np.ndarray]) -> None:
    verts, faces = ball
    b = _Buffer()
    face = _mesh(b, verts, faces, _full_targets(verts))
    eye = _mesh(b, verts * 0.2, faces, {})
    body = _mesh(b, verts * 3 - [0, 4, 0], faces, {})
    nodes = [{"mesh": 0}, {"mesh": 1, "translation": [0.4, 0.2, 0.6]}, {"mesh": 2}]
    head = read_head_file(_write(tmp_path / "avatar.glb", b, [face, eye, body], nodes), normalize=False)
    assert head.num_vertices == 2 * len(verts) and len(head.faces) == 2 * len(faces)
    np.testing.assert_allclose(head.neutral[len(verts):], verts * 0.2 + [0.4, 0.2, 0.6], atol=1e-6)
    assert not head.deltas[:, len(verts):].any()


@pytest.mark.parametrize("break_it, needle", [
    (lambda d: d["accessors"][1].update(count=4), "not a multiple of 3"),
    (lambda d: d["meshes"][0]["primitives"][0].update(indices=2), "indices run outside"),
    (lambda d: d["accessors"][0].update(count=9999), "runs past the end"),
    (lambda d: d["accessors"][3].update(count=4), "has 4 vertices, its mesh 42"),
    (lambda d: d.update(extensionsRequired=["KHR_draco_mesh_compression"]), "re-export without mesh compression"),
    (lambda d: d["buffers"][0].update(uri="../secret.bin"), "outside its folder"),
    (lambda d: d["meshes"][0]["primitives"][0].pop("attributes"), "corrupt head file"),
    (lambda d: d.update(asset={"version": "1.0"}), "only glTF 2.0"),
])
def test_corrupt_gltf(tmp_path: Path, break_it: Any, needle: str) -> None:
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=1)
    verts, faces = np.asarray(s.vertices, np.float32), np.asarray(s.faces)
    b = _Buffer()
    mesh = _mesh(b, verts, faces, {"jawOpen": np.ones_like(verts)})
    b.accessor(np.uint32([0, 1, 500]), "SCALAR")  # accessor 3: out-of-range triangle
    b.accessors[2], b.accessors[3] = b.accessors[3], b.accessors[2]  # so: 0 POSITION, 1 indices, 2 bad indices, 3 target
    mesh["primitives"][0]["targets"][0]["POSITION"] = 3
    path = _write(tmp_path / "bad.gltf", b, [mesh])
    doc = json.loads(path.read_text())
    break_it(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(AvatarInputError, match=needle) as e:
        read_head_file(path, allow_missing=True)
    assert "\n" not in str(e.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(AvatarInputError, match="not found"):
        load_head(tmp_path / "nope.glb")
    cases = {"trunc.glb": b"glTF\x02\x00\x00\x00", "short.glb": b"glTF\x02\x00\x00\x00\xff\x00\x00\x00" + b"\0" * 12,
             "junk.gltf": b"\x00\xff not json", "list.gltf": b"[1, 2, 3]"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FileFormatError) as e:
            load_head(tmp_path / name)
        assert name in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "x.fbx").write_text("x")
    with pytest.raises(AvatarInputError, match=r"use a \.glb, \.gltf, \.obj file"):
        load_head(tmp_path / "x.fbx")


# --------------------------------------------------------------------- OBJ
def _obj(path: Path, verts: np.ndarray, faces: list[list[int]], with_uv: bool = False) -> None:
    lines = ["# test head", "o head"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    if with_uv:
        lines += [f"vt {x:.6f} {y:.6f}" for x, y in verts[:, :2]] + ["vn 0 0 1"]
        lines += ["f " + " ".join(f"{i + 1}/{i + 1}/1" for i in f) for f in faces]
    else:
        lines += ["f " + " ".join(str(i + 1) for i in f) for f in faces]
    path.write_text("\n".join(lines) + "\n")


def test_obj_head_with_shape_folder(tmp_path: Path) -> None:
    # A 3x3 grid of quads, vertices deliberately out of spatial order: the file's order must be kept.
    rng = np.random.default_rng(0)
    grid = np.array([[x, y, 0.0] for y in range(4) for x in range(4)])
    order = rng.permutation(16)
    verts = grid[order]
    where = np.argsort(order)  # grid index -> file index
    quads = [[where[y * 4 + x], where[y * 4 + x + 1], where[(y + 1) * 4 + x + 1], where[(y + 1) * 4 + x]]
             for y in range(3) for x in range(3)]
    _obj(tmp_path / "grid.obj", verts, quads, with_uv=True)
    shapes = tmp_path / "grid_shapes"
    shapes.mkdir()
    for name in ARKIT_NAMES[:-1]:
        moved = verts.copy()
        if name == "jawOpen":
            moved[:, 1] -= 0.5
        spelled = {"jawOpen": "JawOpen", "mouthSmileLeft": "mouthSmile_L"}.get(name, name)
        _obj(shapes / f"{spelled}.obj", moved, quads)
    head = read_head_file(tmp_path / "grid.obj", normalize=False)
    assert head.missing_shapes == ["tongueOut"] and len(head.faces) == 18
    np.testing.assert_allclose(head.neutral, verts, atol=1e-6)
    np.testing.assert_allclose(head.deltas[JAW][:, 1], -0.5, atol=1e-6)
    np.testing.assert_allclose(head.vertex_uv, verts[:, :2], atol=1e-6)
    assert load_head(tmp_path / "grid.obj").num_vertices == 16


def test_obj_errors(tmp_path: Path) -> None:
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    _obj(tmp_path / "tri.obj", verts, [[0, 1, 2]])
    with pytest.raises(AvatarInputError, match=r"no ARKit-named shape OBJs \(in tri_shapes/"):
        load_head(tmp_path / "tri.obj", allow_missing=True)
    (tmp_path / "tri_shapes").mkdir()
    _obj(tmp_path / "tri_shapes" / "jawOpen.obj", verts[:2], [])
    with pytest.raises(AvatarInputError, match="shape jawOpen.obj has 2 vertices, the neutral 3"):
        load_head(tmp_path / "tri.obj", allow_missing=True)
    (tmp_path / "bad.obj").write_text("v 0 0 0\nv 1 0\nf 1 2 3\n")
    with pytest.raises(FileFormatError, match="line 2: malformed 'v'"):
        read_obj(tmp_path / "bad.obj")
    (tmp_path / "far.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(AvatarInputError, match="face indices run outside 1..3"):
        read_obj(tmp_path / "far.obj")
    with pytest.raises(AvatarInputError, match="shape folder .* not found"):
        read_head_file(tmp_path / "tri.obj", shapes_dir=tmp_path / "nowhere")
