"""Prints pose throughput of the full ICT head (26,719 vertices): frames/s, numpy and torch, batch 1 and 64.

    python benchmarks/bench_pose.py [--device cpu|cuda] [--seconds 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _machine import machine


def rate(fn, batch: int, seconds: float) -> float:
    fn()  # warm-up (and device caches)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    import torch

    from avatar.head import default_head

    head = default_head()
    rng = np.random.default_rng(0)
    print(f"machine: {machine()}")
    print(f"head: {head.name}, {head.num_vertices} vertices, 52 shapes")
    results = {}
    for batch in (1, 64):
        w = rng.uniform(0, 1, (batch, 52)).astype(np.float32)
        results[("numpy", batch)] = rate(lambda: head.pose(w), batch, args.seconds)
        wt = torch.from_numpy(w).to(args.device)

        def torch_pose() -> None:
            v = head.pose(wt)
            if wt.is_cuda:
                torch.cuda.synchronize()
            return v

        results[(f"torch-{args.device}", batch)] = rate(torch_pose, batch, args.seconds)
    base = results[("numpy", 1)]
    for (lib, batch), fps in results.items():
        print(f"pose {lib:12s} batch {batch:3d}: {fps:10.1f} frames/s  ({fps / base:5.1f}x numpy batch 1)")


if __name__ == "__main__":
    main()
