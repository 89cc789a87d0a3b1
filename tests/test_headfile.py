"""Loading a user's head: missing ARKit shapes are listed, corrupt meshes refused, OBJ folders read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError
from avatar.head import load_head
from avatar.rig import ARKIT_NAMES


def _obj(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    lines = [f"v {x} {y} {z}" for x, y, z in verts] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def test_obj_head_with_shape_folder(tmp_path: Path) -> None:
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2)
    verts, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    _obj(tmp_path / "ball.obj", verts, faces)
    shapes = tmp_path / "ball_shapes"
    shapes.mkdir()
    for name in ARKIT_NAMES[:-1]:
        moved = verts.copy()
        moved[:, 1] += 0.1 if name == "jawOpen" else 0.0
        _obj(shapes / f"{name}.obj", moved, faces)
    head = load_head(tmp_path / "ball.obj")
    assert head.missing_shapes == ["tongueOut"]
    w = np.zeros(52, np.float32)
    w[ARKIT_NAMES.index("jawOpen")] = 1
    assert head.pose(w)[:, 1].mean() > head.neutral[:, 1].mean()  # jawOpen moves this toy head up


def test_missing_shapes_are_listed(tmp_path: Path) -> None:
    import trimesh

    path = tmp_path / "plain.glb"
    trimesh.creation.icosphere().export(path)
    with pytest.raises(AvatarInputError, match=r"lacks 51 ARKit morph targets \(browDownLeft"):
        load_head(path)
    with pytest.raises(AvatarInputError, match="jawOpen"):
        load_head(path, allow_missing=True)


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(AvatarInputError, match="not found"):
        load_head(tmp_path / "nope.glb")
    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"glTF\x02\x00\x00\x00")
    with pytest.raises(AvatarInputError):
        load_head(bad)
    (tmp_path / "x.fbx").write_text("x")
    with pytest.raises(AvatarInputError, match="use a .glb"):
        load_head(tmp_path / "x.fbx")
