"""Prints GLRenderer's frame time with hair, raised brows and clothing each on and off (issue 19), interleaved.

Each setting has its own renderer (512 x 512 by default, the library's default options otherwise); rounds go through
the settings in turn, so a change of machine load hits every setting alike. A frame is one `render(weights)` of an
animated expression (a sweep through the 8 emotions), wall time and process CPU time; the median per setting is
printed with the load average before and after.

    python benchmarks/bench_hair.py [--size 512] [--frames 20] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from _machine import machine

OFF = dict(hair=False, brow_shell=False, clothing=False)
SETTINGS: dict[str, dict[str, object]] = {
    "none (as before issue 19)": OFF,
    "hair (short)": {**OFF, "hair": True},
    "brow shell": {**OFF, "brow_shell": True},
    "clothing": {**OFF, "clothing": True},
    "defaults (short hair + brows + clothing)": {},
    "long hair + brows + clothing": {"hair_style": "long"},
}


def main() -> None:
    """Measure and print the table."""
    from avatar.appearance import Appearance
    from avatar.emotion import EMOTIONS, emotion_to_arkit
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    poses = [np.zeros(52, np.float32) if e == "neutral" else emotion_to_arkit(e, 1.0) for e in EMOTIONS]
    weights = np.stack([poses[i % len(poses)] * (0.5 + 0.5 * np.sin(i)) for i in range(args.frames)]).astype(np.float32)
    renderers = {name: GLRenderer(options=RendererOptions(width=args.size, height=args.size, appearance=Appearance(**flags)))
                 for name, flags in SETTINGS.items()}
    load_before = os.getloadavg()
    wall: dict[str, list[float]] = {n: [] for n in SETTINGS}
    cpu: dict[str, list[float]] = {n: [] for n in SETTINGS}
    for r in renderers.values():
        r.render(weights[0])  # warm-up: shader compilation, first uploads
    for _ in range(args.rounds):
        for name, r in renderers.items():
            for w in weights:
                t0, c0 = time.perf_counter(), time.process_time()
                r.render(w)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    load_after = os.getloadavg()
    gl_name = next(iter(renderers.values())).gl_renderer
    for r in renderers.values():
        r.close()
    base = float(np.median(wall[next(iter(SETTINGS))]))
    print(f"{machine()}; GL {gl_name}; {args.size} px; load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print("\n| setting | wall ms / frame (median) | CPU ms / frame | vs none |")
    print("|---|---|---|---|")
    result = {}
    for name in SETTINGS:
        w_ms, c_ms = 1000 * float(np.median(wall[name])), 1000 * float(np.median(cpu[name]))
        result[name] = {"wall_ms": round(w_ms, 2), "cpu_ms": round(c_ms, 2)}
        print(f"| {name} | {w_ms:.1f} | {c_ms:.1f} | {w_ms / (1000 * base):.2f}x |")
    if args.json:
        from avatar.io.atomic import atomic_path

        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"machine": machine(), "gl": gl_name, "size": args.size,
                                       "load": [load_before[0], load_after[0]], "settings": result}, indent=1))


if __name__ == "__main__":
    main()
