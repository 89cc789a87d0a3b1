"""Prints render throughput, anti-aliasing quality, time to first frame and sequence -> MP4 against pyrender, in one run.

Everything that is compared is measured in the same run, interleaved, because the machine may be shared:

- Anti-aliasing quality: PSNR (and SSIM with scikit-image) of each mode against a 16x supersampled reference of
  the same frames (rendered at 4x the size per side without anti-aliasing, 4x4 box-filtered), for no
  anti-aliasing, GL 4x MSAA and 2x2 supersampling, 3 views x 4 expressions.
- Renderer frames/s (GLRenderer.iter_frames: pose, draw, read back) per anti-aliasing mode, numpy vs compute-shader posing.
- Time to first frame in a fresh `python -c` process (imports + head + GL context + shaders + one frame).
- Sequence -> MP4 as a whole process: `python -m avatar render --sequence seq.npz --size N -o seq.mp4`, against a
  plain trimesh + pyrender loop over the same weights at the same size (4x MSAA, smooth normals), and pyrender's
  loop writing the same MP4 with imageio-ffmpeg; the ratios are ours / pyrender.

    python benchmarks/bench_render.py [--frames 150] [--size 512] [--no-pyrender] [--baseline DIR] [--smoke]

--smoke: a few frames at 128x128, to check that the script runs (tests/test_speed_paths.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _machine import machine

ROOT = Path(__file__).resolve().parents[1]
FIRST_FRAME_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
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


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Return the PSNR in dB of two images on a 0..255 scale (renderers.differentiable.psnr, the project's one)."""
    from renderers.differentiable import psnr as psnr_of

    return psnr_of(a, b, peak=255.0)


def box_down(img: np.ndarray, k: int) -> np.ndarray:
    """Return (H/k, W/k, C) float64: each k x k block of `img` averaged."""
    h, w, c = img.shape
    return img.reshape(h // k, k, w // k, k, c).astype(np.float64).mean((1, 3))


def aa_quality(size: int, poses: dict[str, np.ndarray], views: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Return {mode: {"psnr_min", "psnr_mean", "ssim_mean"}} of each anti-aliasing mode against the 16x reference."""
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        structural_similarity = None
    modes = {"none": dict(samples=0), "msaa4": dict(samples=4, antialias="msaa"),
             "supersample2x2": dict(samples=4, antialias="supersample")}
    scores: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    weights = np.stack(list(poses.values()))
    for view in views:
        with GLRenderer(options=RendererOptions(width=4 * size, height=4 * size, samples=0, camera=view)) as r:
            ref = [box_down(img, 4) for img in r.iter_frames(weights)]
        for mode, kw in modes.items():
            with GLRenderer(options=RendererOptions(width=size, height=size, camera=view, **kw)) as r:
                for img, want in zip(r.iter_frames(weights), ref):
                    s = (structural_similarity(img.astype(np.float64), want, channel_axis=2, data_range=255.0)
                         if structural_similarity is not None else float("nan"))
                    scores[mode].append((psnr(img, want), s))
    return {m: {"psnr_min": min(p for p, _ in v), "psnr_mean": float(np.mean([p for p, _ in v])),
                "ssim_mean": float(np.mean([s for _, s in v]))} for m, v in scores.items()}


def bench_modes(weights: np.ndarray, size: int, repeats: int) -> tuple[dict[str, float], str]:
    """Return ({mode: best frames/s of GLRenderer.iter_frames}, GL renderer string), modes interleaved per repeat."""
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    modes = {"msaa4, numpy pose, two-sided": dict(antialias="msaa", gpu_pose=False, backface_culling=False),
             "supersample 2x2, numpy pose, two-sided": dict(antialias="supersample", gpu_pose=False, backface_culling=False),
             "supersample 2x2, numpy pose (default: culled)": dict(antialias="supersample", gpu_pose=False),
             "supersample 2x2, compute-shader pose": dict(antialias="supersample", gpu_pose=True),
             "no anti-aliasing, numpy pose, two-sided": dict(samples=0, gpu_pose=False, backface_culling=False),
             "no anti-aliasing, numpy pose (culled)": dict(samples=0, gpu_pose=False)}
    renderers = {m: GLRenderer(options=RendererOptions(width=size, height=size, **kw)) for m, kw in modes.items()}
    best = {m: 0.0 for m in modes}
    try:
        for r in renderers.values():
            list(r.iter_frames(weights[:2]))
        for _ in range(repeats):
            for m, r in renderers.items():
                t0 = time.perf_counter()
                n = sum(1 for _ in r.iter_frames(weights))
                best[m] = max(best[m], n / (time.perf_counter() - t0))
        name = next(iter(renderers.values())).gl_renderer
    finally:
        for r in renderers.values():
            r.close()
    return best, name


def checkout_env(root: Path) -> dict[str, str]:
    """Return the environment that makes a fresh `python` import the checkout at `root` (this one or a baseline)."""
    return {**os.environ, "PYTHONPATH": str(root)}


def first_frame_seconds(size: int, root: Path = ROOT) -> float:
    """Return the time to the first frame in a fresh interpreter (imports, head, context, shaders, one frame)."""
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME_SNIPPET.format(size=size)], cwd=root, capture_output=True,
                         text=True, check=True, env=checkout_env(root))
    return float(out.stdout.strip().splitlines()[-1])


def whole_process_ours(seq_path: Path, size: int, out: Path, root: Path = ROOT) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds of the process and its children) of `python -m avatar render --sequence ...
    -o out.mp4` run from the checkout `root` (a fresh process, start to exit)."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "avatar", "render", "--sequence", str(seq_path), "--size", str(size),
                    "-o", str(out), "--no-progress"], cwd=root, check=True, capture_output=True, env=checkout_env(root))
    wall = time.perf_counter() - t0
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


PYRENDER_PROCESS = """
import os, sys, time
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
sys.path.insert(0, {bench!r})
from bench_render import pyrender_frames
import numpy as np, imageio.v2 as imageio
w = np.load({weights!r})
with imageio.get_writer({out!r}, fps=30, codec="libx264", quality=None, ffmpeg_params=["-crf", "18", "-preset", "medium"],
                        macro_block_size=1) as vid:
    for img in pyrender_frames(w, {size}):
        vid.append_data(img)
"""


def pyrender_frames(weights: np.ndarray, size: int):
    """Yield (size, size, 3) uint8 frames of the head posed by each row of `weights`, rendered with trimesh + pyrender."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    import pyrender
    import trimesh

    from renderers.drawn_faces import drawn_faces
    from avatar.head import default_head
    from renderers.cameras import Camera

    head = default_head()
    faces = drawn_faces(head)
    cam = Camera.preset("front")
    scene = pyrender.Scene(bg_color=[0.92, 0.92, 0.94, 1.0], ambient_light=[0.2, 0.2, 0.2])
    cam_pose = np.linalg.inv(cam.view_matrix())
    scene.add(pyrender.PerspectiveCamera(yfov=np.radians(cam.fov_y), znear=cam.near, zfar=cam.far), pose=cam_pose)
    scene.add(pyrender.DirectionalLight(intensity=3.0), pose=cam_pose)
    renderer = pyrender.OffscreenRenderer(size, size)  # pyrender draws with 4x MSAA
    node = None
    try:
        for w in weights:
            verts = head.pose(w)
            mesh = pyrender.Mesh.from_trimesh(trimesh.Trimesh(verts, faces, process=False), smooth=True)
            if node is not None:
                scene.remove_node(node)
            node = scene.add(mesh)
            color, _ = renderer.render(scene)
            yield color
    finally:
        renderer.delete()


def bench_pyrender(weights: np.ndarray, size: int) -> float:
    """Return frames/s of the pyrender loop (warmed up by one frame, start-up excluded)."""
    it = pyrender_frames(np.concatenate([weights[:1], weights]), size)
    next(it)
    t0 = time.perf_counter()
    n = sum(1 for _ in it)
    return n / (time.perf_counter() - t0)


def whole_process_pyrender(weights_path: Path, size: int, out: Path) -> float:
    """Return the wall seconds of a fresh process that renders the weights with pyrender and writes the MP4."""
    code = PYRENDER_PROCESS.format(bench=str(Path(__file__).parent), weights=str(weights_path), out=str(out), size=size)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pyrender", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--smoke", action="store_true", help="a few frames at 128x128: checks that the script runs")
    ap.add_argument("--video-only", action="store_true",
                    help="skip the anti-aliasing quality and renderer modes: first frame and sequence -> MP4 vs pyrender only")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an earlier checkout (e.g. `git archive <commit> | tar -x -C DIR`): its whole process and first "
                         "frame are timed interleaved with this one's")
    args = ap.parse_args()
    if args.smoke:
        args.frames, args.size, args.repeats = 6, 128, 1
    from avatar.emotion import emotion_to_arkit
    from avatar.sequence import ExpressionSequence

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    poses = {"neutral": np.zeros(52, np.float32), **{e: emotion_to_arkit(e, 1.0).astype(np.float32) for e in ("happy", "surprise", "anger")}}
    views = ("front",) if args.smoke else ("front", "three-quarter", "profile")
    if args.smoke:
        poses = dict(list(poses.items())[:2])
    w = sequence(args.frames)
    if not args.video_only:
        quality = aa_quality(args.size, poses, views)
        print(f"\nanti-aliasing vs a 16x supersampled reference ({args.size}x{args.size}, {len(views)} views x {len(poses)} expressions):")
        print("| mode | PSNR min | PSNR mean | SSIM mean |\n|---|---|---|---|")
        for mode, q in quality.items():
            print(f"| {mode} | {q['psnr_min']:.2f} dB | {q['psnr_mean']:.2f} dB | {q['ssim_mean']:.5f} |")
        fps, gl = bench_modes(w[:min(len(w), 60)], args.size, args.repeats)
        print(f"\nGL renderer: {gl}")
        print(f"GLRenderer.iter_frames at {args.size}x{args.size} (best of {args.repeats}, interleaved):")
        for mode, f in fps.items():
            print(f"  {mode}: {f:.1f} frames/s")
    roots = {"this checkout": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    firsts: dict[str, list[float]] = {k: [] for k in roots}
    for _ in range(1 if args.smoke else 3):
        for k, root in roots.items():
            firsts[k].append(first_frame_seconds(args.size, root))
    for k, v in firsts.items():
        print(f"\ntime to first frame, {k} (fresh process, from the first import to the frame in memory; best of {len(v)}): "
              f"{min(v):.3f} s (load {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        seq_path, w_path = Path(tmp) / "seq.npz", Path(tmp) / "w.npy"
        ExpressionSequence(w, fps=30).save(seq_path)
        np.save(w_path, w)
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in roots}
        for _ in range(1 if args.smoke else 2):
            for k, root in roots.items():
                runs[k].append(whole_process_ours(seq_path, args.size, Path(tmp) / "ours.mp4", root))
        ours = [wall for wall, _ in runs["this checkout"]]
        ours_fps = args.frames / min(ours)
        for k, v in runs.items():
            wall, cpu = min(v)
            print(f"\nsequence -> MP4, whole process, {k} (emoavatar render --sequence, {args.frames} frames at "
                  f"{args.size}x{args.size}): {wall:.2f} s, {args.frames / wall:.1f} frames/s, CPU {cpu:.2f} s "
                  f"(load {os.getloadavg()[0]:.1f})")
        if args.baseline:
            base_wall, base_cpu = min(runs["baseline"])
            print(f"this checkout vs baseline: {base_wall / min(ours):.2f}x in wall time, {base_cpu / min(runs['this checkout'])[1]:.2f}x less CPU")
        if not args.pyrender:
            return
        try:
            import pyrender  # noqa: F401
        except ImportError:
            print("pyrender not installed: pip install emoavatar[bench]")
            return
        loop = bench_pyrender(w, args.size)
        whole = whole_process_pyrender(w_path, args.size, Path(tmp) / "pyrender.mp4")
        print(f"trimesh + pyrender loop (same weights and size, 4x MSAA, smooth normals, render only): {loop:.1f} frames/s")
        print(f"trimesh + pyrender whole process writing the same MP4: {whole:.2f} s, {args.frames / whole:.1f} frames/s")
        print(f"ratio ours (whole process) / pyrender loop: {ours_fps / loop:.2f}x")
        if args.baseline:
            print(f"ratio baseline (whole process) / pyrender loop: {args.frames / min(runs['baseline'])[0] / loop:.2f}x")
        print(f"ratio ours (whole process) / pyrender (whole process): {whole / min(ours):.2f}x")


if __name__ == "__main__":
    main()
