"""Writes the refined ARKit prototype table generators/data/arkit_prototypes_v1.json (seeded, reproducible).

Recipe: every emotion's FACS pose at intensity 1 is refined against FER2013 (the only critic) with the
differentiable renderer on identity seeds 101-140 at camera yaws -40..40 with a jittered key light
(`generators.refinement.RefinementOptions` below). Validation renders with the GL renderer (MSAA, camera
orbit) on identities 0, 7, 21, 80, 95 (none optimised on) at front, yaw 20, three-quarter (35), yaw 60
and profile, intensities 0.6 and 1.0, and reads them with every judge that loads: FER2013 (the critic,
not held out), face-classification (a different network and weights, same FER2013 data),
face-api (face-api.js FaceExpressionNet, other data) and ExpressionNet (ours, trained on FACS renders).

    python scripts/refine_prototypes.py [--steps 40] [--space au] [--out generators/data/arkit_prototypes_v1.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import torch

    from avatar.app.refine import build_prototype_table
    from generators.refinement import RefinementOptions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=6)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--judge-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--emotions", default=None, help="comma-separated (default: all eight)")
    ap.add_argument("--judges", default="fer2013,face-classification,face-api,expression-net")
    ap.add_argument("--critics", default="fer2013", help="judges to optimise against (the rest of --judges stay held out)")
    ap.add_argument("--space", choices=("arkit", "au"), default="arkit", help="optimise ARKit weights or the prototypes' AU intensities")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "generators" / "data" / "arkit_prototypes_v1.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    opts = RefinementOptions(steps=args.steps, lr=args.lr, seed=args.seed, batch_size=args.batch_size, space=args.space)
    t0 = time.perf_counter()
    table = build_prototype_table(
        args.emotions.split(",") if args.emotions else None, critics=tuple(args.critics.split(",")), judges=tuple(args.judges.split(",")),
        options=opts, size=args.size, judge_size=args.judge_size, device="cpu", log=lambda m: print(m, flush=True),
    )
    table["recipe"]["script"] = "scripts/refine_prototypes.py"
    table["recipe"]["total_seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(table, indent=1) + "\n")
    val = table["validation"]
    for judge in val["facs"]:
        print(f"== {judge} ({'critic' if judge in val['critics'] else 'held out'})")
        for e in val["facs"][judge]:
            b, a = val["facs"][judge][e], val["refined"][judge][e]
            print(f"  {e:9s} {b['accuracy']:.2f} -> {a['accuracy']:.2f}   " + "  ".join(
                f"{v}:{b['per_view'][v]:.2f}->{a['per_view'][v]:.2f}" for v in b["per_view"]))
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
