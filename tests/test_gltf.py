"""glTF export: valid GLB/glTF with ARKit-named morph targets and an animation, read back by our reader and trimesh."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from avatar.head import default_head
from avatar.io.headfile import read_accessor, read_gltf, read_head_file
from avatar.rig import ARKIT_NAMES
from avatar.sequence import ExpressionSequence


@pytest.fixture(scope="module")
def seq() -> ExpressionSequence:
    rng = np.random.default_rng(0)
    hp = np.zeros((24, 6), np.float32)
    hp[:, 1] = np.linspace(0, 0.5, 24)
    return ExpressionSequence(rng.uniform(0, 1, (24, 52)).astype(np.float32), fps=24, head_pose=hp)


def test_glb_structure(tmp_path: Path, seq: ExpressionSequence) -> None:
    path = tmp_path / "anim.glb"
    seq.save(path)
    raw = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", raw)
    assert magic == b"glTF" and version == 2 and length == len(raw) and length % 4 == 0
    doc, buffers = read_gltf(path)
    assert doc["asset"]["version"] == "2.0"
    for view in doc["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= len(buffers[0])
    mesh = doc["meshes"][0]
    names = mesh["extras"]["targetNames"]
    assert names == [n for n in ARKIT_NAMES if n != "tongueOut"]
    assert all(len(p["targets"]) == len(names) for p in mesh["primitives"])
    pos = doc["accessors"][mesh["primitives"][0]["attributes"]["POSITION"]]
    head = default_head()
    np.testing.assert_allclose(pos["min"], head.neutral.min(0), atol=1e-5)
    anim = doc["animations"][0]
    paths = {c["target"]["path"] for c in anim["channels"]}
    assert paths == {"weights", "rotation", "translation"}
    w_sampler = anim["samplers"][0]
    times = read_accessor(doc, buffers, w_sampler["input"])
    values = read_accessor(doc, buffers, w_sampler["output"])
    assert len(times) == 24 and abs(times[-1] - 23 / 24) < 1e-6
    assert values.shape == (24 * len(names),)
    np.testing.assert_allclose(values.reshape(24, -1), seq.weights[:, [ARKIT_NAMES.index(n) for n in names]])
    assert path.stat().st_size < 12_000_000  # sparse morph targets keep it small


def test_round_trip_through_our_reader(tmp_path: Path, seq: ExpressionSequence) -> None:
    head = default_head()
    for suffix in (".glb", ".gltf"):
        path = tmp_path / f"head{suffix}"
        seq.save(path)
        back = read_head_file(path)
        assert back.num_vertices == head.num_vertices and back.missing_shapes == ["tongueOut"]
        w = np.random.default_rng(1).uniform(0, 1, 52).astype(np.float32)
        w[ARKIT_NAMES.index("tongueOut")] = 0
        # Offsets below 2e-4 cm (under the float16 source's rounding) are not stored: <0.05 mm overall.
        np.testing.assert_allclose(back.pose(w), head.pose(w), atol=5e-3)


def test_trimesh_opens_it(tmp_path: Path, seq: ExpressionSequence) -> None:
    import trimesh

    path = tmp_path / "anim.glb"
    seq.save(path)
    scene = trimesh.load(path)
    total = sum(len(g.faces) for g in scene.geometry.values())
    assert total == len(default_head().faces)


def test_static_pose_has_no_animation(tmp_path: Path) -> None:
    path = tmp_path / "empty.gltf"
    ExpressionSequence(np.zeros((0, 52), np.float32)).save(path)
    doc = json.loads(path.read_text())
    assert "animations" not in doc and doc["buffers"][0]["uri"].startswith("data:")
