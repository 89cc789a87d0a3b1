"""Prints, per emotion, judge accuracy with the FACS and the refined prototypes on held-out identities, views and judges,
and the refinement time per emotion on this machine.

Accuracy: GL renders (MSAA) of identities 0, 7, 21, 80, 95 (the optimisation used 101-140) at front, yaw 20,
three-quarter (35), yaw 60 and profile, intensities 0.6 and 1.0, read by every judge that loads; the table's
critics (fer2013 and face-classification for table v3) steered the optimisation, so their columns are not held
out. "front+3q" pools front, yaw 20 and three-quarter.
Time: one `refine_expression` per emotion at the shipped recipe's settings (or --steps), or, with --table-only,
the times recorded in the shipped table.

    python benchmarks/bench_refinement.py [--table-only] [--steps 10] [--size 112]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from _machine import machine

VIEWS = ("front", "yaw=20", "three-quarter", "yaw=60", "profile")
NEAR = ("front", "yaw=20", "three-quarter")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table-only", action="store_true", help="no timing run: report the shipped table's recorded times")
    ap.add_argument("--steps", type=int, default=10, help="steps of the timing run (time scales linearly)")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--judges", default="fer2013,face-classification,face-api,expression-net")
    args = ap.parse_args()
    print(machine())

    from avatar.app.refine import judge_readings
    from generators.expression import REFINED_TABLE_PATH, facs_weights, refined_weights

    table = json.loads(REFINED_TABLE_PATH.read_text())
    emotions = [e for e, entry in table["emotions"].items() if entry["refined"]]
    notes: list[str] = []
    readings = {}
    for name, fn in (("facs", facs_weights), ("refined", refined_weights)):
        readings[name] = judge_readings({e: (lambda i, e=e, fn=fn: fn(e, i)) for e in emotions}, args.judges.split(","),
                                        (0, 7, 21, 80, 95), VIEWS, (0.6, 1.0), 256, "cpu", notes)
    critics = table["recipe"]["critics"]
    for judge in readings["facs"]:
        tag = "critic: not held out" if judge in critics else "held out"
        print(f"\n{judge} ({tag}); accuracy facs -> refined")
        print(f"{'emotion':10s}{'front+3q':>16s}{'yaw 60':>16s}{'profile':>16s}")
        pooled = {"facs": [], "refined": []}
        for e in emotions:
            cells = []
            for views in (NEAR, ("yaw=60",), ("profile",)):
                b = np.mean([readings["facs"][judge][e]["per_view"][v] for v in views])
                a = np.mean([readings["refined"][judge][e]["per_view"][v] for v in views])
                cells.append(f"{b:.2f} -> {a:.2f}")
            pooled["facs"].append(np.mean([readings["facs"][judge][e]["per_view"][v] for v in NEAR]))
            pooled["refined"].append(np.mean([readings["refined"][judge][e]["per_view"][v] for v in NEAR]))
            print(f"{e:10s}" + "".join(f"{c:>16s}" for c in cells))
        print(f"{'mean':10s}{np.mean(pooled['facs']):.2f} -> {np.mean(pooled['refined']):.2f}".rjust(26))
    for n in notes:
        print("note:", n)

    print("\nrefinement time per emotion")
    if args.table_only:
        for e in emotions:
            print(f"  {e:9s} {table['emotions'][e]['seconds']:.0f} s ({table['recipe']['steps']} steps, "
                  f"batch {table['recipe']['batch_size']}, {table['recipe']['render_size']} px; recorded)")
        return
    import torch

    from avatar.app.refine import DifferentiableRender, make_critic
    from generators.refinement import RefinementOptions, refine_expression

    recipe = table["recipe"]
    # The shipped recipe's space and critics (AU space by finite differences for table v3), so the time is its time.
    opts = RefinementOptions(steps=args.steps, batch_size=recipe["batch_size"], eval_batch=0, space=recipe.get("space", "arkit"))
    critic = {c: make_critic(c, "cpu") for c in recipe["critics"]}
    with DifferentiableRender(size=args.size, device="cpu") as render:
        for e in emotions:
            t0 = time.perf_counter()
            refine_expression(e, 1.0, render, critic, options=opts, device="cpu")
            dt = time.perf_counter() - t0
            print(f"  {e:9s} {dt / args.steps:.2f} s/step -> {dt / args.steps * recipe['steps']:.0f} s for the recipe's "
                  f"{recipe['steps']} steps ({opts.space} space, {opts.gradient_mode()}; threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
