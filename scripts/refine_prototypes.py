"""Writes the refined ARKit prototype table generators/data/arkit_prototypes_v3.json (seeded, reproducible).

Recipe (table v3, the default since it read better to the held-out judge): the AU intensities of every emotion's
EMFACS prototype at intensity 1 (`--space au`) are refined against the two FER2013-trained critics, fer2013 and
face-classification, by central differences of what the differentiable renderer draws (identity seeds 101-140,
camera yaws -40..40, a jittered key light; `generators.refinement.RefinementOptions` below). The table records
each judge's reading on identities 0, 7, 21, 80, 95 (none optimised on) at front, yaw 20, three-quarter (35),
yaw 60 and profile with the GL renderer; face-api and ExpressionNet are held out. `scripts/validate_refined.py`
then reads it with the legibility protocol on two held-out identity sets (docs/legibility.md, "Step 4").

    python scripts/refine_prototypes.py --emotions happy,sad,surprise,fear,disgust,anger    # ~11 min on 2 cores
    python scripts/refine_prototypes.py --space arkit --critics fer2013 --out /tmp/v1.json   # table v1's recipe

Table v3 was made keeping each run's last step; `--no-keep-best` reproduces it (the default now keeps the best
step by the critics' objective on the optimisation's own views, `RefinementOptions.keep_best`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import torch

    from avatar.app.refine import JUDGE_SIZE, RENDER_SIZE, build_prototype_table
    from generators.refinement import RefinementOptions

    recipe = RefinementOptions()  # the defaults are table v3's recipe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=recipe.steps)
    ap.add_argument("--lr", type=float, default=recipe.lr)
    ap.add_argument("--batch-size", type=int, default=recipe.batch_size)
    ap.add_argument("--size", type=int, default=RENDER_SIZE)
    ap.add_argument("--judge-size", type=int, default=JUDGE_SIZE)
    ap.add_argument("--seed", type=int, default=recipe.seed)
    ap.add_argument("--emotions", default=None, help="comma-separated (default: all eight)")
    ap.add_argument("--judges", default="fer2013,face-classification,face-api,expression-net")
    ap.add_argument("--critics", default="fer2013,face-classification", help="judges to optimise against (the rest of --judges stay held out)")
    ap.add_argument("--space", choices=("arkit", "au"), default=recipe.space, help="optimise the prototypes' AU intensities (default) or the 52 ARKit weights")
    ap.add_argument("--keep-best", action=argparse.BooleanOptionalAction, default=True,
                    help="return each run's best step (default) or its last (--no-keep-best: how table v3 was made)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "generators" / "data" / "arkit_prototypes_v3.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    opts = RefinementOptions(steps=args.steps, lr=args.lr, seed=args.seed, batch_size=args.batch_size, space=args.space,
                             keep_best=args.keep_best)
    t0 = time.perf_counter()
    table = build_prototype_table(
        args.emotions.split(",") if args.emotions else None, critics=tuple(args.critics.split(",")), judge=tuple(args.judges.split(",")),
        options=opts, size=args.size, judge_size=args.judge_size, device="cpu", log=lambda m: print(m, flush=True),
    )
    table["recipe"]["script"] = "scripts/refine_prototypes.py"
    table["recipe"]["command"] = "python " + " ".join(["scripts/refine_prototypes.py", *sys.argv[1:]])
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
