"""Prints where one GLRenderer frame's draw CPU goes, draw by draw, and how many samples each draw rasterizes against
how many it keeps.

A frame (`GLRenderer._draw`) on a CPU rasterizer is: clear, the hair and clothing facing the camera, the head, the
rest of the hair and clothing and the brows, the supersampling resolve. Each row times the frame cut after that draw
(process CPU, llvmpipe's threads included, after `ctx.finish()`), interleaved with the other cuts in every repeat so
a load change hits all rows alike; a row's cost is its difference to the row before. The sample counts come from
occlusion queries: "rasterized" with the depth test off (every sample a draw covers), "kept" in the frame's own order
(the samples that pass the depth test when drawn, so are shaded and written). The head's optional shading terms are
timed too, each switched off alone (`Appearance` flags; the images change, only the costs are read).

    PYTHONPATH=. python benchmarks/bench_frame_parts.py [--size 512] [--repeats 25] [--camera front] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np

from _machine import machine

TERMS = ("skin_detail", "skin_regions", "subsurface", "ambient_occlusion", "wrinkles")


def _cuts(r: Any) -> list[tuple[str, Any]]:
    """Return (name, function drawing the frame up to and including that draw) for each draw of `r`'s frame."""
    import moderngl

    ctx, att = r.ctx, r._gl_attachments

    def head() -> None:
        if r._culled:
            ctx.cull_face = "back"
            ctx.enable(moderngl.CULL_FACE)
        r.vao.render(moderngl.TRIANGLES, vertices=r._draw_vertices)
        ctx.disable(moderngl.CULL_FACE)

    def resolve() -> None:
        r.fbo.use()
        ctx.disable(moderngl.DEPTH_TEST)
        r._scene_tex.use(0)
        r._resolve_vao.render(moderngl.TRIANGLES, vertices=3)

    steps: list[tuple[str, Any]] = []
    if att is not None:
        steps.append(("hair and clothing facing the camera", att.draw_front))
    steps.append(("head", head))
    if att is not None:
        steps.append(("rest of hair and clothing, brows", att.draw))
    if r.supersample > 1:
        steps.append(("supersampling resolve", resolve))

    def upto(k: int) -> Any:
        def frame() -> None:
            r.fbo_ms.use()
            r.fbo_ms.clear(0.5, 0.5, 0.5, 1.0)
            ctx.enable(moderngl.DEPTH_TEST)
            for _, step in steps[:k]:
                step()
        return frame

    return [("clear", upto(0))] + [(name, upto(k + 1)) for k, (name, _) in enumerate(steps)]


def _interleaved(ctx: Any, fns: list[Any], repeats: int) -> list[float]:
    """Return each function's median process CPU in ms, the functions run in turn `repeats` times."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            ctx.finish()
            t0 = time.process_time()
            fn()
            ctx.finish()
            times[i].append(time.process_time() - t0)
    return [float(np.median(t)) * 1000 for t in times]


def _samples(r: Any) -> dict[str, dict[str, int]]:
    """Return {draw: {"rasterized", "kept"}} sample counts of the head and attachment draws (occlusion queries)."""
    import moderngl

    ctx, att = r.ctx, r._gl_attachments
    out: dict[str, dict[str, int]] = {}

    def counted(name: str, fn: Any, key: str) -> None:
        q = ctx.query(samples=True)
        with q:
            fn()
        out.setdefault(name, {})[key] = int(q.samples)

    def head() -> None:
        ctx.cull_face = "back"
        if r._culled:
            ctx.enable(moderngl.CULL_FACE)
        r.vao.render(moderngl.TRIANGLES, vertices=r._draw_vertices)
        ctx.disable(moderngl.CULL_FACE)

    for key, depth in (("kept", True), ("rasterized", False)):
        r.fbo_ms.use()
        r.fbo_ms.clear(0.5, 0.5, 0.5, 1.0)
        (ctx.enable if depth else ctx.disable)(moderngl.DEPTH_TEST)
        if att is not None:
            counted("hair and clothing facing the camera", att.draw_front, key)
        counted("head", head, key)
        if att is not None:
            counted("rest of hair and clothing, brows", att.draw, key)
    ctx.enable(moderngl.DEPTH_TEST)
    return out


def main() -> None:
    """Time the frame's draws and the head's optional terms; print a table (and write JSON)."""
    import avatar
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--camera", default="front")
    ap.add_argument("--emotion", default="happy")
    ap.add_argument("--json", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny and quick: the script still runs")
    args = ap.parse_args()
    if args.smoke:
        args.size, args.repeats = 64, 2
    opts = RendererOptions(width=args.size, height=args.size, camera=args.camera)
    with GLRenderer(options=opts) as r:
        r.render(np.asarray(avatar.pose(args.emotion, 0.8), np.float32))  # poses the buffers
        cuts = _cuts(r)
        cum = _interleaved(r.ctx, [fn for _, fn in cuts], args.repeats)
        print(f"machine: {machine()}; GL: {r.gl_renderer}")
        print(f"{args.size} px, {args.camera}, {args.emotion} 0.8, supersample {r.supersample}x{r.supersample}, "
              f"median of {args.repeats} interleaved, process CPU\n")
        print("| draw | frame up to it (ms) | its cost (ms) | share |")
        print("|---|---|---|---|")
        rows = []
        for k, (name, _) in enumerate(cuts):
            cost = cum[k] - (cum[k - 1] if k else 0.0)
            rows.append({"draw": name, "cumulative_ms": round(cum[k], 2), "cost_ms": round(cost, 2)})
            print(f"| {name} | {cum[k]:.1f} | {cost:.1f} | {cost / cum[-1]:.0%} |")
        samples = _samples(r)
        print("\n| draw | samples rasterized | samples kept |")
        print("|---|---|---|")
        for name, s in samples.items():
            print(f"| {name} | {s['rasterized']:,} | {s['kept']:,} |")
        head_cut = [fn for name, fn in cuts if name == "head"][0]
        base = r._appearance
        apps = [base] + [replace(base, **{t: False}) for t in TERMS if getattr(base, t)]
        names = ["all on (shipped)"] + [f"without {t}" for t in TERMS if getattr(base, t)]
        terms = []
        for app in apps:
            r._appearance = app
            r._build_program()
            r._set_uniforms()
            terms.append(_interleaved(r.ctx, [head_cut], max(3, args.repeats // 2))[0])
        r._appearance = base
        r._build_program()
        r._set_uniforms()
        print("\n| head shading | frame up to the head (ms) | the term's cost (ms) |")
        print("|---|---|---|")
        for name, ms in zip(names, terms):
            print(f"| {name} | {ms:.1f} | {'' if name.startswith('all') else f'{terms[0] - ms:.1f}'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "size": args.size, "camera": args.camera, "draws": rows, "samples": samples,
                       "terms": dict(zip(names, terms))}, f, indent=1)


if __name__ == "__main__":
    main()
