"""Prints frames/s on a GPU machine (NVIDIA EGL + CUDA torch) at batch sizes 1 to 256, in well under five minutes.

Four rows, each at batch sizes 1, 16, 64 and 256 (`--batches`), `--size` square frames (default 256):

- render: GLRenderer (on a GPU: MSAA 4x and compute-shader posing, a frame uploads 52 weights) drawing the batch
  and handing it to torch on the device (`GLRenderer.to_torch`, one upload per batch).
- pose: `BlendshapeHead.pose` of (B, 52) torch weights on the device -> (B, 26719, 3).
- loop: render -> recognize (FER2013, the default judge, crops at the renderer's face boxes on the device) -> score
  (EmotionScorer.update), the in-loop path; the issue's target is >= 1,000 frames/s at 256x256.
- differentiable: DifferentiableRenderer forward, and forward + backward to the weights.
- refine step: one step of AU-space refinement by finite differences (fear: 8 AU parameters, so 17 poses per view
  rendered forward and read by both FER2013 critics), the recipe of the shipped prototype table; views/s.

Each cell runs for about `--seconds` after one warm-up call (CUDA synchronised before the clock stops); a cell
that runs out of memory prints "oom" and the script moves on. The GL renderer string and torch device are printed
so the figures say what they were measured on. Runs on a CPU too (slowly), which is what `--smoke` does.

    python benchmarks/bench_gpu.py [--device auto] [--size 256] [--batches 1,16,64,256] [--seconds 2] [--json out.json]

--smoke: CPU, 64x64, batches 1 and 2, one call per cell (tests/test_speed_paths.py runs it).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _machine import machine


def timed(fn: Callable[[], int], seconds: float, sync: Callable[[], None]) -> float:
    """Return items/s of `fn` (which returns how many items it did): one warm-up call, then calls for ~`seconds`."""
    fn()
    sync()
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < seconds:
        n += fn()
        sync()
    return n / (time.perf_counter() - t0)


def cell(fn: Callable[[], int], seconds: float, sync: Callable[[], None]) -> str:
    """Return frames/s of `fn` formatted for the table, or 'oom' when the device ran out of memory."""
    import torch

    try:
        return f"{timed(fn, seconds, sync):.0f}"
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return "oom"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batches", default="1,16,64,256")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    ap.add_argument("--smoke", action="store_true", help="CPU, 64x64, batches 1 and 2, one call per cell")
    args = ap.parse_args()
    if args.smoke:
        args.device, args.size, args.batches, args.seconds = "cpu", 64, "1,2", 0.0
    import torch

    from avatar.app.judges import make_recognizer
    from avatar.device import resolve_device
    from avatar.emotion import EMOTIONS
    from avatar.head import default_head
    from recognizers.scoring import EmotionScorer
    from renderers.differentiable import DifferentiableRenderer
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batches = [int(b) for b in args.batches.split(",")]
    rng = np.random.default_rng(0)
    top = max(batches)
    weights = (rng.random((top, 52)) * 0.6).astype(np.float32)
    labels = [EMOTIONS[i % len(EMOTIONS)] for i in range(top)]
    head = default_head()
    t_start = time.perf_counter()
    rows: dict[str, dict[int, str]] = {"render": {}, "pose": {}, "loop": {}, "differentiable forward": {},
                                       "differentiable forward+backward": {}, "refine step (views)": {}}
    opts = RendererOptions(width=args.size, height=args.size)
    with GLRenderer(head, opts) as gl:
        print(f"machine: {machine()}")
        print(f"GL renderer: {gl.gl_renderer}; anti-aliasing {gl.antialias} ({opts.samples} samples); "
              f"compute-shader pose: {gl.gpu_pose}; torch device: {device}")
        judge = make_recognizer("fer2013", device, detect_faces=False)
        wt = torch.from_numpy(weights).to(device)
        for b in batches:
            def render(b: int = b) -> int:
                frames = gl.render(weights[:b])
                gl.to_torch(frames, device)
                return b

            def pose(b: int = b) -> int:
                head.pose(wt[:b])
                return b

            def loop(b: int = b) -> int:
                frames = gl.render(weights[:b])
                x = gl.to_torch(frames, device)
                scorer = EmotionScorer(device=device, judge=judge)
                scorer.update(judge(x, boxes=gl.face_boxes(weights[:b])), labels[:b])
                return b

            rows["render"][b] = cell(render, args.seconds, sync)
            rows["pose"][b] = cell(pose, args.seconds, sync)
            rows["loop"][b] = cell(loop, args.seconds, sync)
    with DifferentiableRenderer(head, RendererOptions(width=args.size, height=args.size), device=device,
                                rasterizer="auto" if device.type == "cuda" else "gl") as diff:
        for b in batches:
            def forward(b: int = b) -> int:
                with torch.no_grad():
                    diff(wt[:b])
                return b

            def backward(b: int = b) -> int:
                w = wt[:b].clone().requires_grad_(True)
                diff(w).mean().backward()
                return b

            rows["differentiable forward"][b] = cell(forward, args.seconds, sync)
            rows["differentiable forward+backward"][b] = cell(backward, args.seconds, sync)
        raster = diff.rasterizer_name
    from avatar.app.refine import DifferentiableRender, make_critic
    from generators.refinement import RefinementOptions, refine_expression

    critics = {c: make_critic(c, device) for c in ("fer2013", "face-classification")}
    with DifferentiableRender(size=args.size, device=device) as render_views:
        for b in batches:
            def refine_step(b: int = b) -> int:
                opts = RefinementOptions(steps=1, batch_size=b, space="au", eval_batch=0)
                refine_expression("fear", 1.0, render_views, critics, options=opts, device=device)
                return b

            rows["refine step (views)"][b] = cell(refine_step, args.seconds, sync)
    print(f"\nframes/s at {args.size}x{args.size} (differentiable rasterizer: {raster}); total {time.perf_counter() - t_start:.0f} s")
    print("| | " + " | ".join(f"batch {b}" for b in batches) + " |")
    print("|---|" + "---|" * len(batches))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells[b] for b in batches) + " |")
    if args.json:
        out: dict[str, Any] = {"machine": machine(), "size": args.size, "device": str(device), "rows": rows}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
