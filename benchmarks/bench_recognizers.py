"""Prints recognizer throughput (images/s) at batch 1 and 256, and the in-loop fidelity rate (render -> recognize -> score).

    python benchmarks/bench_recognizers.py [--device cpu|cuda] [--seconds 3]

Inputs are 256x256 renders of the head with known face boxes (the in-loop path: crops are taken on
the device, no detector). FER2013 is the ported mini-Xception; expression-net is ours.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _machine import machine


def throughput(rec, x, boxes, seconds: float) -> float:
    import torch

    rec(x, boxes=boxes)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n == 0:
        r = rec(x, boxes=boxes)
        if x.is_cuda:
            torch.cuda.synchronize()
        n += len(r)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    import avatar
    from avatar.app.judges import RECOGNIZERS, make_recognizer
    from avatar.emotion import EMOTIONS
    from avatar.app.fidelity import FidelityConfig, run_fidelity
    from avatar.app.facade import get_renderer

    print(f"machine: {machine()}")
    r = get_renderer(width=256, height=256)
    weights = np.stack([avatar.pose(emotion=e) for e in EMOTIONS])
    frames = r.render(np.tile(weights, (32, 1)))  # 256 frames
    boxes = r.face_boxes(np.tile(weights, (32, 1)))
    x256 = r.to_torch(frames, args.device)
    for name in RECOGNIZERS:
        rec = make_recognizer(name, args.device, detect_faces=False)
        b1 = throughput(rec, x256[:1], boxes[:1], args.seconds)
        b256 = throughput(rec, x256, boxes, args.seconds)
        print(f"{name:15s} on {args.device}: batch 1 {b1:8.1f} img/s   batch 256 {b256:8.1f} img/s   ({b256 / b1:.1f}x)")
    cfg = FidelityConfig(identities=(0, 7), views=("front",), intensities=(0.5, 1.0), device=args.device)
    report = run_fidelity(cfg)
    print(f"in-loop fidelity (render 256^2 -> both recognizers -> scorers): {report.frames_per_second:.1f} frames/s "
          f"over {report.frames} frames; render alone {report.frames / report.render_seconds:.1f} frames/s")


if __name__ == "__main__":
    main()
