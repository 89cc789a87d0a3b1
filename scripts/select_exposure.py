"""Prints (and writes as JSON) how real-face judges read the default emotions on every skin tone under auto-exposure
settings; picks one.

Every skin tone used to get the same lights, so a dark face was rendered underexposed where a camera would expose
for it, and every judge read it worse (docs/legibility.md). `RendererOptions.auto_exposure` scales the lights by
`(Y(medium) / Y(skin)) ** RendererOptions.exposure_power` (`renderers.lighting.skin_exposure`); the power is chosen as the prototypes,
cavity shading and the lips were:

- **selection**: `fer2013` and `face-classification`, identities 101, 110, 120, 130, 140, front and
  three-quarter, intensities 0.6 and 1.0, crops 0.8 / 0.9 / 1.0, the light, tan, brown and dark tones (medium is
  exposed x1 by every power); the best mean accuracy of the two judges over the four tones wins.
- **validation**: `face-api` (never used to select) on identities 0, 7, 21, 80, 95, crops 0.9 / 1.0, all five
  tones: power 0 (the lights as they were) against the pick. Kept only if face-api reads better over the tones.

    python scripts/select_exposure.py -o benchmarks/results/exposure_selection.json    # ~6 min on 2 quiet cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import SELECT_IDS, SETTINGS, VALIDATE_IDS, mean_over, read
from select_prototypes import make_judges, pick, write_json  # sibling scripts: run from scripts/ or as scripts/select_exposure.py

POWERS = (0.0, 0.35, 0.5, 0.7, 1.0)
TONES = ("light", "tan", "brown", "dark")
CAVITY = SETTINGS["strength 0.8"]  # the shipped cavity shading


def grid(power: float, ids: tuple[int, ...], tones: tuple[str, ...], judges: dict, crops: tuple[float, ...]) -> dict:
    """Return {tone: {judge: mean accuracy over emotions}} rendered with `RendererOptions(exposure_power=power)`."""
    fq = ("front", "three-quarter")
    out = {}
    for tone in tones:
        table = read(CAVITY, ids, fq, judges, crops, skin=tone, exposure_power=power)
        out[tone] = {j: float(np.mean(list(mean_over(table[j], fq).values()))) for j in judges}
    return out


def main() -> None:
    """Select the exposure power on the selection grid, then validate none vs the pick on held-out judges and identities."""
    from renderers.lighting import skin_exposure

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="benchmarks/results/exposure_selection.json")
    args = ap.parse_args()
    t0 = time.time()
    judges = make_judges()
    selection = {}
    print(f"selection grid (ids {SELECT_IDS}, tones {TONES}); the pick uses fer2013 and face-classification")
    for power in POWERS:
        per_tone = grid(power, SELECT_IDS, TONES, judges, (0.8, 0.9, 1.0))
        score = float(np.mean([(r["fer2013"] + r["face-classification"]) / 2 for r in per_tone.values()]))
        selection[str(power)] = {"per_tone": per_tone, "select_score": score}
        cells = "  ".join(f"{t} {r['fer2013']:.2f}/{r['face-classification']:.2f}/{r['face-api']:.2f}" for t, r in per_tone.items())
        print(f"  power {power:.2f}   select {score:.3f}   (fer2013/face-classification/face-api) {cells}", flush=True)
    best = pick({power: selection[str(power)]["select_score"] for power in POWERS})
    print(f"  -> power {best}")
    tones = ("light", "medium", "tan", "brown", "dark")
    validation = {str(p): grid(p, VALIDATE_IDS, tones, judges, (0.9, 1.0)) for p in sorted({POWERS[0], best})}
    print(f"\nvalidation (ids {VALIDATE_IDS}, crops 0.9 and 1.0), power {' -> '.join(validation)}:")
    for t in tones:
        gain = skin_exposure(t, power=best)
        print(f"  {t:7s} (lights x {gain:.2f})  " + "  ".join(
            f"{j} " + " -> ".join(f"{validation[p][t][j]:.3f}" for p in validation) for j in judges))
    held = {p: float(np.mean([validation[p][t]["face-api"] for t in tones])) for p in validation}
    keep = best != POWERS[0] and held[str(best)] > held[str(POWERS[0])]
    print(f"face-api (held out), mean over tones: {held} -> {'keep' if keep else 'light every tone alike'}")
    write_json(args.output, {"chosen": best, "kept": bool(keep), "selection": selection, "validation": validation,
                             "select_ids": SELECT_IDS, "validate_ids": VALIDATE_IDS, "seconds": round(time.time() - t0, 1)})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
