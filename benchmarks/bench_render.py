"""Prints render throughput at 512x512 for a 300-frame sequence, time to first frame, and pyrender at equal settings.

Each frame is the whole job: pose the head (26,719 vertices), recompute smooth normals, upload,
draw with 4x MSAA, read back to a uint8 array. pyrender (what most Python users reach for) renders
the same posed meshes at the same size with MSAA and smooth normals in the same run; the ratio is ours/pyrender.

    python benchmarks/bench_render.py [--frames 300] [--size 512] [--no-pyrender]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from _machine import machine

FIRST_FRAME_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from renderers.gl import GLRenderer, RendererOptions
r = GLRenderer(options=RendererOptions(width={size}, height={size}))
img = r.render(np.zeros(52, np.float32))
print(time.perf_counter() - t0)
"""


def sequence(frames: int) -> np.ndarray:
    """Return a (T, 52) talking-and-emoting test sequence (deterministic)."""
    t = np.arange(frames) / 30.0
    w = np.zeros((frames, 52), np.float32)
    from avatar.rig import index_of

    w[:, index_of("jawOpen")] = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    w[:, index_of("mouthSmileLeft")] = w[:, index_of("mouthSmileRight")] = 0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t)
    w[:, index_of("eyeBlinkLeft")] = w[:, index_of("eyeBlinkRight")] = (np.sin(2 * np.pi * 0.5 * t) > 0.95)
    w[:, index_of("browInnerUp")] = 0.5 + 0.5 * np.cos(2 * np.pi * 0.2 * t)
    return np.clip(w, 0, 1)


def bench_ours(weights: np.ndarray, size: int) -> tuple[float, str]:
    from renderers.gl import GLRenderer, RendererOptions

    with GLRenderer(options=RendererOptions(width=size, height=size, samples=4)) as r:
        r.render(weights[0])
        t0 = time.perf_counter()
        n = 0
        for img in r.iter_frames(weights):
            n += 1
        return n / (time.perf_counter() - t0), r.gl_renderer


def bench_pyrender(weights: np.ndarray, size: int) -> float:
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    import pyrender
    import trimesh

    from avatar.head import default_head
    from avatar.appearance import drawn_faces
    from renderers.cameras import Camera

    head = default_head()
    faces = drawn_faces(head)
    cam = Camera.preset("front")
    scene = pyrender.Scene(bg_color=[0.92, 0.92, 0.94, 1.0], ambient_light=[0.2, 0.2, 0.2])
    cam_pose = np.linalg.inv(cam.view_matrix())
    scene.add(pyrender.PerspectiveCamera(yfov=np.radians(cam.fov_y), znear=cam.near, zfar=cam.far), pose=cam_pose)
    scene.add(pyrender.DirectionalLight(intensity=3.0), pose=cam_pose)
    renderer = pyrender.OffscreenRenderer(size, size)
    node = None

    def frame(w: np.ndarray) -> np.ndarray:
        nonlocal node
        verts = head.pose(w)
        mesh = pyrender.Mesh.from_trimesh(trimesh.Trimesh(verts, faces, process=False), smooth=True)
        if node is not None:
            scene.remove_node(node)
        node = scene.add(mesh)
        color, _ = renderer.render(scene)
        return color

    frame(weights[0])
    t0 = time.perf_counter()
    for w in weights:
        frame(w)
    fps = len(weights) / (time.perf_counter() - t0)
    renderer.delete()
    return fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pyrender", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    first = float(subprocess.run([sys.executable, "-c", FIRST_FRAME_SNIPPET.format(size=args.size)], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
    w = sequence(args.frames)
    ours, gl = bench_ours(w, args.size)
    print(f"machine: {machine()}")
    print(f"GL renderer: {gl}")
    print(f"time to first frame (fresh process: imports + context + asset load + 1 frame): {first:.2f} s")
    print(f"emoavatar GLRenderer: {args.frames} frames at {args.size}x{args.size}, 4x MSAA: {ours:.1f} frames/s")
    if args.pyrender:
        try:
            pr = bench_pyrender(w, args.size)
        except ImportError:
            print("pyrender not installed: pip install emoavatar[bench]")
            return
        print(f"trimesh + pyrender (same meshes, size, smooth normals): {pr:.1f} frames/s")
        print(f"ratio emoavatar / pyrender: {ours / pr:.2f}x")


if __name__ == "__main__":
    main()
