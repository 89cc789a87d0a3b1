"""Prints what the mouth interior, eye detail and teeth shade (issue 19) cost: per frame at 512 px and at renderer set-up.

The first two are painted into the albedo once (`avatar.appearance.paint_head`, `renderers.options.renderer_albedo`), so
a frame should cost the same with them on or off; set-up pays for the painting. The teeth shade follows the lips per
frame (`renderers.teeth`: ten lip vertices and three uniforms on the host, a few operations per tooth vertex). Settings are interleaved (off, on, off,
on, ...) in one process because the machine may be shared; `--baseline DIR` also times another checkout (e.g. the
commit before) in a subprocess, interleaved with this tree's.

    python benchmarks/bench_face_detail.py [--size 512] [--frames 20] [--repeats 5] [--baseline /tmp/base]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def measure(size: int, frames: int, switches: dict[str, bool]) -> dict[str, float]:
    """Return {"setup_s", "frame_ms", "paint_ms"} for a GLRenderer at `size` with these Appearance switches (CPU time)."""
    import avatar
    from avatar.appearance import Appearance, paint_head
    from avatar.head import default_head
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    look = Appearance(**switches)
    head = default_head()
    t = time.process_time()
    paint_head(head, look)
    paint = time.process_time() - t
    w = np.stack([avatar.pose("happy", i) for i in np.linspace(0.2, 1.0, frames)]).astype(np.float32)
    t = time.process_time()
    r = GLRenderer(head, RendererOptions(width=size, height=size, appearance=look))
    setup = time.process_time() - t
    r.render(w[0])  # first frame compiles and uploads
    t = time.process_time()
    for x in w:
        r.render(x)
    per = (time.process_time() - t) / frames
    r.close()
    return {"setup_s": setup, "frame_ms": 1000 * per, "paint_ms": 1000 * paint}


def main() -> None:
    """Time off/on in this tree (and the baseline tree, when given), interleaved; print medians and best."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", default=None, help="another checkout to time in a subprocess (its defaults)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one measurement, as JSON
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.size, args.frames, json.loads(args.one))))
        return
    settings = {"off": {"mouth_interior": False, "eye_detail": False, "teeth_shade": False},
                "mouth_interior": {"mouth_interior": True, "eye_detail": False},
                "eye_detail": {"eye_detail": True, "mouth_interior": False},
                "teeth_shade (per frame)": {"teeth_shade": True, "mouth_interior": False}, "defaults": {}}
    runs: dict[str, list[dict[str, float]]] = {}

    def one(tree: Path, switches: dict[str, bool]) -> dict[str, float]:
        env = dict(os.environ, PYTHONPATH=str(tree))
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--size", str(args.size), "--frames",
                              str(args.frames), "--one", json.dumps(switches)], env=env, capture_output=True, text=True,
                             check=True, cwd=str(tree))
        return json.loads(out.stdout.strip().splitlines()[-1])

    for _ in range(args.repeats):
        if args.baseline:
            runs.setdefault("baseline (its defaults)", []).append(one(Path(args.baseline), {}))
        for name, sw in settings.items():
            runs.setdefault(name, []).append(one(ROOT, sw))
    print(f"{args.size} px, {args.frames} frames, {args.repeats} interleaved runs (CPU time; median / best)")
    for name, rs in runs.items():
        f = [r["frame_ms"] for r in rs]
        s = [r["setup_s"] for r in rs]
        p = [r["paint_ms"] for r in rs]
        print(f"  {name:24s} frame {np.median(f):6.1f} / {min(f):6.1f} ms   set-up {np.median(s):5.2f} / {min(s):5.2f} s"
              f"   paint_head {np.median(p):6.1f} ms")


if __name__ == "__main__":
    main()
