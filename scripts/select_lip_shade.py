"""Prints (and writes as JSON) how real-face judges read the default emotions with the lips painted darker; picks a shade.

The lips are painted from the skin tone (`avatar.appearance.paint_head`); in the grey 48-64 px crops that
FER2013-style classifiers read, their contrast with the skin is what draws the mouth's shape. `Appearance.lip_shade` scales
their colour. Chosen as the prototypes and cavity shading were (scripts/select_prototypes.py, select_cavity.py),
with cavity shading on:

- **selection**: `fer2013` and `face-classification`, identities 101, 110, 120, 130, 140, front and
  three-quarter, intensities 0.6 and 1.0, crops 0.8 / 0.9 / 1.0; the best mean accuracy of the two wins.
- **validation**: `face-api` (never used to select) on two identity sets never used to select, 0, 7, 21, 80, 95
  and 30, 45, 60, 70, 90, crops 0.9 / 1.0: 1.0 (the lips before) against the pick. It is kept only if face-api
  reads better on both sets.

    python scripts/select_lip_shade.py -o benchmarks/results/lip_shade_selection.json    # ~2 min on 2 quiet cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import EMOTIONS7, SELECT_IDS, SETTINGS, VALIDATE_IDS, mean_over, read
from select_prototypes import make_judges, pick, write_json  # sibling scripts: run from scripts/ or as scripts/select_lip_shade.py

SHADES = (1.0, 0.85, 0.7)
SECOND_VALIDATION_IDS = (30, 45, 60, 70, 90)
CAVITY = SETTINGS["strength 0.8"]  # the shipped cavity shading


def main() -> None:
    """Select the lip shade on the selection grid, then validate 1.0 vs the pick on held-out judges and identities."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="benchmarks/results/lip_shade_selection.json")
    args = ap.parse_args()
    t0 = time.time()
    judges = make_judges()
    fq = ("front", "three-quarter")
    selection = {}
    print(f"selection grid (ids {SELECT_IDS}, front + three-quarter, crops 0.8/0.9/1.0); the pick uses fer2013 and face-classification")
    for shade in SHADES:
        table = read(CAVITY, SELECT_IDS, fq, judges, (0.8, 0.9, 1.0), lip_shade=shade)
        means = {j: float(np.mean(list(mean_over(table[j], fq).values()))) for j in judges}
        score = (means["fer2013"] + means["face-classification"]) / 2
        selection[str(shade)] = {"mean": means, "select_score": score}
        print(f"  lips x {shade:.2f}   select {score:.3f}   " + "  ".join(f"{j} {m:.3f}" for j, m in means.items()), flush=True)
    best = pick({shade: selection[str(shade)]["select_score"] for shade in SHADES})
    print(f"  -> lips x {best}")
    validation: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for ids in (VALIDATE_IDS, SECOND_VALIDATION_IDS):
        key = ",".join(map(str, ids))
        validation[key] = {}
        for shade in sorted({SHADES[0], best}, reverse=True):
            table = read(CAVITY, ids, fq, judges, (0.9, 1.0), lip_shade=shade)
            validation[key][str(shade)] = {j: mean_over(table[j], fq) for j in judges}
        print(f"\nvalidation, ids {key}: accuracy over front + three-quarter, lips x " + " -> ".join(validation[key]))
        for j in judges:
            cells = "   ".join(" -> ".join(f"{validation[key][s][j][e]:.2f}" for s in validation[key]) for e in EMOTIONS7)
            means = " -> ".join(f"{np.mean(list(validation[key][s][j].values())):.3f}" for s in validation[key])
            print(f"  {j:20s} mean {means}   ({', '.join(EMOTIONS7)}: {cells})")
    held = {k: {s: float(np.mean(list(v["face-api"].values()))) for s, v in per.items()} for k, per in validation.items()}
    keep = best != SHADES[0] and all(h[str(best)] > h[str(SHADES[0])] for h in held.values())
    print(f"face-api (held out) on both sets: {held} -> {'keep' if keep else 'leave the lips as they were'}")
    write_json(args.output, {"chosen": best, "kept": bool(keep), "selection": selection, "validation": validation,
                             "cavity": CAVITY, "select_ids": SELECT_IDS,
                             "validate_ids": [VALIDATE_IDS, SECOND_VALIDATION_IDS], "seconds": round(time.time() - t0, 1)})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
