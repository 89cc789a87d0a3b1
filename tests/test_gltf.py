"""glTF export: spec-valid GLB/glTF with ARKit-named morph targets and an animation, read back three ways."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.errors import AvatarInputError, OutputPathError
from avatar.head import BlendshapeHead, default_head, rotation_matrix
from avatar.io.gltf import build_gltf, export_gltf, head_pose_quaternions
from avatar.io.headfile import read_accessor, read_gltf, read_head_file
from avatar.rig import ARKIT_NAMES
from avatar.sequence import ExpressionSequence

COMPONENT_SIZE = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


@pytest.fixture(scope="module")
def seq() -> ExpressionSequence:
    rng = np.random.default_rng(0)
    hp = np.zeros((24, 6), np.float32)
    hp[:, 0] = np.linspace(-0.2, 0.3, 24)
    hp[:, 1] = np.linspace(0, 0.5, 24)
    hp[:, 2] = 0.1
    hp[:, 3:] = [1.0, -2.0, 0.5]
    return ExpressionSequence(rng.uniform(0, 1, (24, 52)).astype(np.float32), fps=24, head_pose=hp)


@pytest.fixture(scope="module")
def glb(tmp_path_factory: pytest.TempPathFactory, seq: ExpressionSequence) -> Path:
    path = tmp_path_factory.mktemp("gltf") / "anim.glb"
    seq.save(path)
    return path


def check_gltf(doc: dict[str, Any], buffers: list[bytes]) -> None:
    """Assert the glTF 2.0 rules an exporter can break (a subset of the Khronos validator's checks)."""
    assert doc["asset"]["version"] == "2.0"
    for i, buf in enumerate(doc["buffers"]):
        assert 0 <= len(buffers[i]) - buf["byteLength"] <= 3
    for view in doc["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= doc["buffers"][view["buffer"]]["byteLength"]
    for i, acc in enumerate(doc["accessors"]):
        size = COMPONENT_SIZE[acc["componentType"]] * WIDTH[acc["type"]]
        if "bufferView" in acc:
            view = doc["bufferViews"][acc["bufferView"]]
            assert (view["byteOffset"] + acc.get("byteOffset", 0)) % COMPONENT_SIZE[acc["componentType"]] == 0
            assert acc.get("byteOffset", 0) + size * acc["count"] <= view["byteLength"]
        if "sparse" in acc:
            sp = acc["sparse"]
            assert 1 <= sp["count"] <= acc["count"]
            for part in ("indices", "values"):
                assert "target" not in doc["bufferViews"][sp[part]["bufferView"]]
        if "min" in acc:  # declared bounds must be the data's exact bounds
            data = read_accessor(doc, buffers, i).reshape(acc["count"], -1)
            assert acc["min"] == [float(x) for x in data.min(0)] and acc["max"] == [float(x) for x in data.max(0)], i
    mesh_nodes = {n["mesh"]: k for k, n in enumerate(doc["nodes"]) if "mesh" in n}
    for m, mesh in enumerate(doc["meshes"]):
        n_targets = {len(p.get("targets", [])) for p in mesh["primitives"]}
        assert len(n_targets) == 1  # every primitive carries the same targets
        k = n_targets.pop()
        assert len(mesh.get("weights", [])) == k and len(mesh["extras"]["targetNames"]) == k
        for prim in mesh["primitives"]:
            pos = doc["accessors"][prim["attributes"]["POSITION"]]
            assert "min" in pos and "max" in pos
            assert all(doc["accessors"][a]["count"] == pos["count"] for a in prim["attributes"].values())
            for target in prim.get("targets", []):
                acc = doc["accessors"][target["POSITION"]]
                assert acc["count"] == pos["count"] and "min" in acc and "max" in acc
            idx = read_accessor(doc, buffers, prim["indices"])
            assert len(idx) % 3 == 0 and idx.max() < pos["count"]
            if doc["accessors"][prim["indices"]]["componentType"] == 5123:
                assert idx.max() < 65535
            if "NORMAL" in prim["attributes"]:
                norms = np.linalg.norm(read_accessor(doc, buffers, prim["attributes"]["NORMAL"]), axis=1)
                np.testing.assert_allclose(norms, 1.0, atol=5e-4)
        assert m in mesh_nodes
    for anim in doc.get("animations", []):
        for ch in anim["channels"]:
            sampler = anim["samplers"][ch["sampler"]]
            t_acc = doc["accessors"][sampler["input"]]
            assert "min" in t_acc and "max" in t_acc and sampler["interpolation"] in ("LINEAR", "STEP")
            times = read_accessor(doc, buffers, sampler["input"])
            assert np.all(np.diff(times) > 0) and times[0] >= 0
            out = doc["accessors"][sampler["output"]]
            node = doc["nodes"][ch["target"]["node"]]
            if ch["target"]["path"] == "weights":
                k = len(doc["meshes"][node["mesh"]]["weights"])
                assert out["count"] == t_acc["count"] * k and out["type"] == "SCALAR"
            else:
                assert out["count"] == t_acc["count"]
                assert out["type"] == {"rotation": "VEC4", "translation": "VEC3", "scale": "VEC3"}[ch["target"]["path"]]
            if ch["target"]["path"] == "rotation":
                np.testing.assert_allclose(np.linalg.norm(read_accessor(doc, buffers, sampler["output"]), axis=1), 1, atol=1e-6)
    for node in doc["nodes"]:
        assert all(0 <= c < len(doc["nodes"]) for c in node.get("children", []))


def test_glb_container_and_spec_rules(glb: Path) -> None:
    raw = glb.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", raw)
    assert magic == b"glTF" and version == 2 and length == len(raw) and length % 4 == 0
    json_len, json_kind = struct.unpack_from("<I4s", raw, 12)
    assert json_kind == b"JSON" and json_len % 4 == 0
    bin_len, bin_kind = struct.unpack_from("<I4s", raw, 20 + json_len)
    assert bin_kind == b"BIN\0" and bin_len % 4 == 0 and 28 + json_len + bin_len == length
    doc, buffers = read_gltf(glb)
    check_gltf(doc, buffers)


def test_targets_animation_and_neutral(glb: Path, seq: ExpressionSequence) -> None:
    doc, buffers = read_gltf(glb)
    head = default_head()
    mesh = doc["meshes"][0]
    names = mesh["extras"]["targetNames"]
    assert names == [n for n, p in zip(ARKIT_NAMES, head.present) if p] == [n for n in ARKIT_NAMES if n != "tongueOut"]
    prim = mesh["primitives"][0]
    assert np.array_equal(read_accessor(doc, buffers, prim["attributes"]["POSITION"]), head.neutral)
    k = ARKIT_NAMES.index("jawOpen")
    jaw = read_accessor(doc, buffers, prim["targets"][names.index("jawOpen")]["POSITION"])
    assert np.array_equal(jaw, head.deltas[k])  # exact by default (min_delta=0)
    anim = doc["animations"][0]
    paths = {c["target"]["path"]: anim["samplers"][c["sampler"]] for c in anim["channels"]}
    assert set(paths) == {"weights", "rotation", "translation"}
    times = read_accessor(doc, buffers, paths["weights"]["input"])
    values = read_accessor(doc, buffers, paths["weights"]["output"])
    assert len(times) == 24 and abs(times[-1] - 23 / 24) < 1e-6
    assert np.array_equal(values.reshape(24, -1), seq.weights[:, [ARKIT_NAMES.index(n) for n in names]])
    assert glb.stat().st_size < 12_000_000


def test_scene_graph_reproduces_head_pose(glb: Path, seq: ExpressionSequence) -> None:
    """Evaluate the node hierarchy at a frame by hand: it must equal BlendshapeHead.pose(weights, head_pose) in metres."""
    doc, buffers = read_gltf(glb)
    head = default_head()
    anim = doc["animations"][0]
    ch = {c["target"]["path"]: read_accessor(doc, buffers, anim["samplers"][c["sampler"]]["output"]) for c in anim["channels"]}
    root, pivot_node, mesh_node = doc["nodes"]
    assert root["children"] == [1] and pivot_node["children"] == [2] and mesh_node["mesh"] == 0
    t = 17
    x, y, z, w = ch["rotation"][t].astype(np.float64)
    rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    local = head.pose(seq.weights[t]).astype(np.float64) + mesh_node["translation"]
    world = (local @ rot.T + ch["translation"][t]) * root["scale"][0]
    np.testing.assert_allclose(world, head.pose(seq.weights[t], seq.head_pose[t]) * 0.01, atol=2e-6)


def test_quaternions_match_rotation_matrix() -> None:
    hp = np.random.default_rng(2).uniform(-1.5, 1.5, (50, 6))
    q = head_pose_quaternions(hp).astype(np.float64)
    x, y, z, w = q.T
    m = np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                  np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                  np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)
    np.testing.assert_allclose(m, rotation_matrix(hp[:, 0], hp[:, 1], hp[:, 2]), atol=1e-6)
    assert np.all(np.sum(q[1:] * q[:-1], 1) >= 0)  # one hemisphere: interpolation takes the short way


@pytest.mark.slow
def test_round_trip_through_our_reader(tmp_path: Path, seq: ExpressionSequence) -> None:
    head = default_head()
    w = np.random.default_rng(1).uniform(0, 1, (4, 52)).astype(np.float32)
    for suffix in (".glb", ".gltf"):
        path = tmp_path / f"head{suffix}"
        seq.save(path)
        back = read_head_file(path)
        assert back.num_vertices == head.num_vertices and back.missing_shapes == ["tongueOut"]
        assert back.materials == head.materials  # faces come back grouped by material, each with its own
        def tagged(h: BlendshapeHead) -> np.ndarray:
            rows = np.concatenate([h.faces, np.asarray(h.face_material)[:, None]], 1)
            return rows[np.lexsort(rows.T[::-1])]
        assert np.array_equal(tagged(back), tagged(head))
        np.testing.assert_allclose(back.pose(w), head.pose(w), atol=1e-4)
        np.testing.assert_allclose(back.pose(w[0], seq.head_pose[5]), head.pose(w[0], seq.head_pose[5]), atol=1e-4)
        assert np.array_equal(back.landmarks68, head.landmarks68)
        np.testing.assert_allclose(back.vertex_uv, head.vertex_uv, atol=1e-6)


@pytest.mark.slow
def test_trimesh_opens_it(glb: Path) -> None:
    import trimesh

    head = default_head()
    scene = trimesh.load(glb)
    total = sum(len(g.faces) for g in scene.geometry.values())
    assert total == len(head.faces)
    lo, hi = scene.bounds  # node transforms applied: the head in metres
    np.testing.assert_allclose(lo, head.neutral.min(0) * 0.01, atol=1e-6)
    np.testing.assert_allclose(hi, head.neutral.max(0) * 0.01, atol=1e-6)


def test_pygltflib_reads_it(glb: Path, seq: ExpressionSequence) -> None:
    pygltflib = pytest.importorskip("pygltflib")
    gltf = pygltflib.GLTF2().load(str(glb))
    blob = gltf.binary_blob()
    mesh = gltf.meshes[0]
    names = mesh.extras["targetNames"]
    assert names == [n for n in ARKIT_NAMES if n != "tongueOut"] and len(mesh.primitives[0].targets) == len(names)
    pos = gltf.accessors[mesh.primitives[0].attributes.POSITION]
    view = gltf.bufferViews[pos.bufferView]
    neutral = np.frombuffer(blob, np.float32, pos.count * 3, view.byteOffset + (pos.byteOffset or 0)).reshape(-1, 3)
    assert np.array_equal(neutral, default_head().neutral)
    sampler = gltf.animations[0].samplers[gltf.animations[0].channels[0].sampler]
    assert gltf.accessors[sampler.input].count == len(seq)
    assert gltf.accessors[sampler.output].count == len(seq) * len(names)


def test_options_and_small_heads(tmp_path: Path) -> None:
    import trimesh

    ball = trimesh.creation.icosphere(subdivisions=1)
    v = len(ball.vertices)
    deltas = np.zeros((52, v, 3), np.float32)
    deltas[ARKIT_NAMES.index("jawOpen"), :5, 1] = -1.0
    present = np.zeros(52, bool)
    present[[ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("eyeBlinkLeft")]] = True  # eyeBlinkLeft: all zero
    head = BlendshapeHead(neutral=ball.vertices, faces=ball.faces, deltas=deltas, present=present,
                          face_material=np.zeros(len(ball.faces), np.int16), materials=("skin",))
    seq = ExpressionSequence(np.random.default_rng(0).uniform(0, 1, (3, 52)).astype(np.float32), fps=10)
    doc, blob = build_gltf(seq, head, interpolation="STEP", materials=False, unit_scale=1.0)
    check_gltf(doc, [blob])
    assert doc["meshes"][0]["extras"]["targetNames"] == ["eyeBlinkLeft", "jawOpen"]
    assert "materials" not in doc and "material" not in doc["meshes"][0]["primitives"][0]
    assert doc["animations"][0]["samplers"][0]["interpolation"] == "STEP" and len(doc["animations"][0]["channels"]) == 1
    blink = doc["accessors"][doc["meshes"][0]["primitives"][0]["targets"][0]["POSITION"]]
    assert "sparse" not in blink and "bufferView" not in blink  # an all-zero target stores nothing
    still = json.loads(json.dumps(build_gltf(None, head)[0]))
    assert "animations" not in still
    path = export_gltf(ExpressionSequence(np.zeros((0, 52), np.float32)), tmp_path / "empty.gltf", head)
    doc = json.loads(path.read_text())
    assert "animations" not in doc and doc["buffers"][0]["uri"].startswith("data:application/octet-stream;base64,")
    with pytest.raises(AvatarInputError, match="interpolation"):
        build_gltf(seq, head, interpolation="CUBIC")
    with pytest.raises(OutputPathError, match=r"\.glb or \.gltf"):
        export_gltf(seq, tmp_path / "x.obj", head)


@pytest.mark.slow
def test_min_delta_trades_exactness_for_size(tmp_path: Path) -> None:
    head = default_head()
    seq = ExpressionSequence(np.zeros((60, 52), np.float32), fps=30)
    exact, small = tmp_path / "exact.glb", tmp_path / "small.glb"
    export_gltf(seq, exact)
    export_gltf(seq, small, min_delta=2e-4)
    assert small.stat().st_size < 0.7 * exact.stat().st_size
    w = np.random.default_rng(5).uniform(0, 1, 52).astype(np.float32)
    np.testing.assert_allclose(read_head_file(small).pose(w), head.pose(w), atol=5e-3)  # under 0.05 mm
