"""Prints GLRenderer's frame time with each skin element of issue 19 part 1 on and off (pores, regional highlight,
subsurface warmth, ambient occlusion, shadows at two map sizes), interleaved so every setting sees the same load.

Each round renders the same 24-frame clip (neutral -> happy -> surprise, with a little head motion) through
`iter_frames` once per setting, in a rotated order; the table gives the median over rounds of the wall time per frame,
its process CPU time (llvmpipe's threads included) and the load average while it ran. "base" has the five switches off (the default until issue 19 part 1):
it renders what main did at 17c7cde, bit for bit (scripts/validate_skin_detail.py).

    python benchmarks/bench_skin.py [--size 512] [--rounds 5] [--gpu-pose] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from _machine import machine

SKIN_SWITCHES = ("skin_detail", "skin_regions", "subsurface", "ambient_occlusion", "shadows")


def settings() -> dict[str, tuple[dict[str, bool], int]]:
    """Return {name: (Appearance switches, shadow map size)}."""
    off = {s: False for s in SKIN_SWITCHES}
    out = {"base (all off)": (off, 1024)}
    for s in SKIN_SWITCHES:
        out[f"+ {s}"] = ({**off, s: True}, 1024)
    out["+ shadows, 512 map"] = ({**off, "shadows": True}, 512)
    out["default (all but shadows)"] = ({**{s: True for s in SKIN_SWITCHES}, "shadows": False}, 1024)
    out["all five"] = ({s: True for s in SKIN_SWITCHES}, 1024)
    return out


def clip(frames: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Return (T, 52) weights and (T, 6) head pose: neutral to happy to surprise, turning a little."""
    import avatar

    happy = np.asarray(avatar.pose(emotion="happy"), np.float32).reshape(52)
    surprise = np.asarray(avatar.pose(emotion="surprise"), np.float32).reshape(52)
    t = np.linspace(0, 1, frames, dtype=np.float32)[:, None]
    w = np.where(t < 0.5, 2 * t * happy, (2 - 2 * t) * happy + (2 * t - 1) * surprise).astype(np.float32)
    pose = np.zeros((frames, 6))
    pose[:, 1] = 0.15 * np.sin(np.linspace(0, np.pi, frames))
    return w, pose


def main() -> None:
    """Time every setting, interleaved, and print the table."""
    from avatar.appearance import Appearance
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--gpu-pose", action="store_true", help="pose in compute shaders (the GPU path)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    weights, head_pose = clip()
    renderers = {}
    for name, (flags, size) in settings().items():
        opts = RendererOptions(width=args.size, height=args.size, camera="three-quarter", appearance=Appearance(**flags),
                               shadow_map_size=size, gpu_pose=True if args.gpu_pose else None)
        renderers[name] = GLRenderer(options=opts)
        for _ in renderers[name].iter_frames(weights[:2], head_pose[:2]):  # warm: programs compiled, tables built
            pass
    names = list(renderers)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    loads = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in renderers[name].iter_frames(weights, head_pose):
                pass
            wall[name].append((time.perf_counter() - t0) / len(weights) * 1e3)
            cpu[name].append((time.process_time() - c0) / len(weights) * 1e3)
        loads.append(os.getloadavg()[0])
    gl_name = renderers[names[0]].gl_renderer
    for r in renderers.values():
        r.close()
    base = float(np.median(wall[names[0]]))
    print(f"{args.size} px, {len(weights)} frames x {args.rounds} rounds, interleaved; {gl_name}; load {min(loads):.1f}-{max(loads):.1f}; {machine()}")
    print(f"{'setting':24s} {'wall ms/frame':>14s} {'vs base':>8s} {'CPU ms/frame':>13s}")
    rows = {}
    for n in names:
        m, c = float(np.median(wall[n])), float(np.median(cpu[n]))
        rows[n] = {"wall_ms": round(m, 2), "cpu_ms": round(c, 2), "vs_base": round(m / base, 3), "wall_all": wall[n]}
        print(f"{n:24s} {m:14.1f} {m / base:7.2f}x {c:13.1f}")
    if args.json:
        from avatar.io.atomic import atomic_path

        with atomic_path(args.json) as tmp:  # a reader never sees half a file
            tmp.write_text(json.dumps({"size": args.size, "rounds": args.rounds, "gl": gl_name, "loads": loads,
                                       "machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
