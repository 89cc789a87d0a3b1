"""Prints (and writes as JSON) whether a refined prototype table reads better than the FACS prototypes to held-out eyes.

A refined table (`scripts/refine_prototypes.py`, `emoavatar refine --all`) was optimised against critics on
identities 101-140; it may become the default only if it reads better on identities, views and a judge the
optimisation never used (docs/refinement.md). This script reads both tables with the legibility protocol of
docs/legibility.md, so its figures sit beside the other appearance and prototype decisions:

- GL renders (the toolkit's defaults) at 256 px, front and three-quarter, intensities 0.6 and 1.0, crops 0.9 and
  1.0 of the renderer's face box; profile reported apart;
- identities 0, 7, 21, 80, 95 and 30, 45, 60, 70, 90 (never optimised on), and the critics' own 101-140 subset
  (101, 110, 120, 130, 140) to show what the optimisation bought where it looked;
- judges fer2013 and face-classification (the critics: not held out) and face-api (held out).

The verdict: "better" only if face-api's mean over the seven FER classes rises on both held-out identity sets.

    python scripts/validate_refined.py TABLE.json -o benchmarks/results/refined_validation.json    # ~4 min on 2 quiet cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import EMOTIONS7
from select_prototypes import HELD_OUT_JUDGES, SELECT_JUDGES, make_judges, read_grid, write_json  # sibling scripts: run from scripts/ or as scripts/validate_refined.py

ID_SETS = {"held out A": (0, 7, 21, 80, 95), "held out B": (30, 45, 60, 70, 90), "critics' ids": (101, 110, 120, 130, 140)}
JUDGES = SELECT_JUDGES + HELD_OUT_JUDGES
HELD_OUT = HELD_OUT_JUDGES[0]
NEAR = ("front", "three-quarter")


def main() -> None:
    """Read the FACS and the candidate table on every identity set; print per-emotion tables and the verdict."""
    from avatar.appearance import Appearance
    from generators.expression import facs_weights, read_prototype_table, refined_weights

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", help="a refined prototype table (JSON)")
    ap.add_argument("-o", "--output", default=None, help="write the readings and verdict as JSON")
    ap.add_argument("--profile", action="store_true", help="also read the profile view (reported apart)")
    ap.add_argument("--skin", default="medium", help="skin tone of the renders (avatar.appearance; default medium)")
    ap.add_argument("--sets", default=",".join(ID_SETS), help=f"identity sets to read, comma-separated (default: {', '.join(ID_SETS)})")
    args = ap.parse_args()
    t0 = time.time()
    table = read_prototype_table(args.table)
    judges = make_judges()
    poses = {}
    for e in EMOTIONS7:
        poses[f"facs {e}"] = (e, lambda i, e=e: facs_weights(e, i))
        poses[f"refined {e}"] = (e, lambda i, e=e: refined_weights(e, i, table))
    views = NEAR + (("profile",) if args.profile else ())
    sets = [t.strip() for t in args.sets.split(",") if t.strip()]
    unknown = [t for t in sets if t not in ID_SETS]
    if unknown:
        ap.error(f"unknown identity set {unknown[0]!r}: use {', '.join(ID_SETS)}")
    appearance = Appearance(skin=args.skin)
    out: dict[str, dict] = {}
    for set_name in sets:
        ids = ID_SETS[set_name]
        grid = read_grid(poses, ids, views, judges, (0.9, 1.0), appearance)
        out[set_name] = {"identities": list(ids), "readings": grid}
        print(f"\n{set_name} {ids}: accuracy over front + three-quarter, facs -> refined")
        for j in JUDGES:
            cell = {k: {e: float(np.mean([grid[f"{k} {e}"][j][v] for v in NEAR])) for e in EMOTIONS7} for k in ("facs", "refined")}
            means = {k: float(np.mean(list(c.values()))) for k, c in cell.items()}
            out[set_name][j] = {"per_emotion": cell, "mean": means}
            tag = "held out" if j == HELD_OUT else "critic"
            print(f"  {j:20s} ({tag:8s}) mean {means['facs']:.3f} -> {means['refined']:.3f}   "
                  + "  ".join(f"{e} {cell['facs'][e]:.2f}->{cell['refined'][e]:.2f}" for e in EMOTIONS7[1:]), flush=True)
            if args.profile:
                prof = {k: float(np.mean([grid[f"{k} {e}"][j]["profile"] for e in EMOTIONS7])) for k in ("facs", "refined")}
                out[set_name][j]["profile_mean"] = prof
                print(f"  {'':20s} profile {prof['facs']:.3f} -> {prof['refined']:.3f}")
    held = {s: out[s][HELD_OUT]["mean"] for s in ("held out A", "held out B") if s in out}
    better = bool(held) and all(m["refined"] > m["facs"] for m in held.values())
    print(f"\n{HELD_OUT} (held out) on the held-out identities: "
          + "; ".join(f"{s} {m['facs']:.3f} -> {m['refined']:.3f}" for s, m in held.items())
          + f" -> {'reads better: may become the default' if better else 'does not read better than FACS: it must not become the default'}")
    if args.output:
        write_json(args.output, {"table": args.table, "better": better, "held_out_judge": HELD_OUT, "sets": out, "skin": args.skin,
                                 "views": list(views), "crops": [0.9, 1.0], "seconds": round(time.time() - t0, 1)})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
