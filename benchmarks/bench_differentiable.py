"""Prints the differentiable renderer's speed (forward, forward+backward frames/s) and its PSNR against GLRenderer.

Speed: 256x256, batch 1 and 8, float32, on the chosen device, best of --repeats calls; each frame is the whole job (pose
26,719 vertices from weights, identity and head pose; GL visibility pass; torch barycentrics,
normals and shading), and backward goes to the weights, identity coefficients and head pose. The
GL visibility pass alone is timed too, since it is the part torch cannot batch.
Fidelity: PSNR against GLRenderer at the same settings for front / three-quarter / profile views
and neutral + 4 emotions, without anti-aliasing (both samples=0) and with it (GL 4x MSAA vs our 2x2
supersampling).

    python benchmarks/bench_differentiable.py [--size 256] [--repeats 5] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _machine import machine

VIEWS = ("front", "three-quarter", "profile")
EMOTIONS = ("neutral", "happy", "sad", "surprise", "anger")


def expressions() -> dict[str, np.ndarray]:
    """Return {name: (52,) float32 weights} for the emotions measured."""
    from avatar.emotion import emotion_to_arkit

    return {e: (np.zeros(52, np.float32) if e == "neutral" else emotion_to_arkit(e, 1.0).astype(np.float32)) for e in EMOTIONS}


def bench_speed(size: int, batch: int, repeats: int, device: str, edges: str = "gradient") -> tuple[float, float, float, float, float]:
    """Return (forward frames/s, forward+backward frames/s, visibility-pass ms per frame, CPU ms per frame forward, and forward+backward)
    with the edge pass `edges` ("off", "gradient" or "blend")."""
    import torch

    from renderers.differentiable import DifferentiableRenderer
    from renderers.options import RendererOptions

    rng = np.random.default_rng(0)
    with DifferentiableRenderer(options=RendererOptions(width=size, height=size, samples=0), device=device, antialias_edges=edges) as r:
        dev = r.view_proj.device
        w = torch.tensor(rng.uniform(0, 0.6, (batch, 52)), dtype=torch.float32, device=dev)
        ident = torch.tensor(rng.normal(0, 0.5, (batch, 10)), dtype=torch.float32, device=dev)
        pose = torch.tensor(rng.normal(0, 0.05, (batch, 6)), dtype=torch.float32, device=dev)

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def best(fn) -> tuple[float, float]:
            """Return (wall, CPU) seconds of the fastest of `repeats` calls (the least disturbed by other processes)."""
            fn()  # warm-up
            sync()
            runs = []
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                sync()
                runs.append((time.perf_counter() - t0, time.process_time() - c0))
            return min(runs)

        with torch.no_grad():
            fwd = best(lambda: r(w, ident, pose))
            verts = r.pose_head(w, ident, pose)
            vis_ms = 1000 * best(lambda: r.rasterizer(verts, None))[0] / batch
        leaves = [t.clone().requires_grad_() for t in (w, ident, pose)]
        bwd = best(lambda: r(*leaves).mean().backward())
    return batch / fwd[0], batch / bwd[0], vis_ms, 1000 * fwd[1] / batch, 1000 * bwd[1] / batch


def bench_fidelity(size: int) -> dict[int, dict[str, float]]:
    """Return {GL samples: {"view/emotion": PSNR dB}} against GLRenderer at the same settings."""
    import torch

    from renderers.differentiable import DifferentiableRenderer, psnr
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    exprs = expressions()
    batch = torch.from_numpy(np.stack(list(exprs.values())))
    out: dict[int, dict[str, float]] = {}
    for samples in (0, 4):
        opts = RendererOptions(width=size, height=size, samples=samples)
        out[samples] = {}
        with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts) as diff:
            for view in VIEWS:
                gl.set_camera(view)
                diff.set_camera(view)
                with torch.no_grad():
                    ours = diff(batch).permute(0, 2, 3, 1).numpy()
                for i, name in enumerate(exprs):
                    ref = gl.render(exprs[name]).astype(np.float64) / 255.0
                    out[samples][f"{view}/{name}"] = psnr(ours[i], ref)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}; device {args.device}")
    from renderers.visibility import GLVisibilityRasterizer  # noqa: F401 (fail early without GL)

    for batch in (1, 8):
        cpu = {}
        for edges in ("off", "gradient"):
            fwd, bwd, vis, fwd_cpu, bwd_cpu = bench_speed(args.size, batch, args.repeats, args.device, edges)
            cpu[edges] = (fwd_cpu, bwd_cpu)
            # CPU ms (this process, all threads) is the steadier figure when other jobs share the machine.
            print(f"{args.size}x{args.size} batch {batch}, edges {edges:8s}: forward {fwd:6.1f} frames/s, forward+backward {bwd:6.1f} frames/s "
                  f"(CPU {fwd_cpu:.0f} / {bwd_cpu:.0f} ms per frame; GL visibility pass {vis:.1f} ms/frame)")
        print(f"  edge pass cost (CPU time, gradient / off): forward x{cpu['gradient'][0] / cpu['off'][0]:.2f}, "
              f"forward+backward x{cpu['gradient'][1] / cpu['off'][1]:.2f}")
    for samples, table in bench_fidelity(args.size).items():
        vals = np.array(list(table.values()))
        label = "no anti-aliasing (GL samples=0 vs ours)" if samples == 0 else "anti-aliased (GL 4x MSAA vs our 2x2 supersampling)"
        print(f"PSNR vs GLRenderer, {label}: min {vals.min():.1f} dB, mean {vals.mean():.1f} dB over {len(vals)} renders")
        for view in VIEWS:
            row = "  ".join(f"{k.split('/')[1]} {v:.1f}" for k, v in table.items() if k.startswith(view + "/"))
            print(f"  {view:14s} {row}")


if __name__ == "__main__":
    main()
