"""Prints (and writes as JSON) how real-face judges read the default emotions under each cavity-shading setting; picks one.

Cavity shading (`renderers.cavity`) darkens skin that lies below its smoothed surface in the posed mesh: eye
sockets, folds, the corners of a smile. Its strength and scale are chosen here the way the prototypes are chosen
(scripts/select_prototypes.py), with selection and validation kept apart:

- **selection**: the FER2013-trained judges `fer2013` and `face-classification`, identities 101, 110, 120, 130,
  140, front and three-quarter, intensities 0.6 and 1.0, crops 0.8 / 0.9 / 1.0 x the render's face box; the
  setting with the best mean accuracy of the two wins (ties: the first listed).
- **validation**: `face-api` (never used to select) on identities 0, 7, 21, 80, 95 (never used to select),
  crops 0.9 / 1.0, front and three-quarter (profile reported apart): off against the pick. The pick becomes the
  default only if face-api reads better there; the FER2013 judges' figures on those identities are reported too.

The mouth shadow (`Appearance(mouth_shadow=True)`, off by default since face-api read worse with it) is crossed
with the pick as well, so the table says whether it helps once the rest of the face is shaded.

    python scripts/select_cavity.py -o benchmarks/results/cavity_selection.json    # ~1.5 min on 2 quiet cores
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from select_prototypes import HELD_OUT_JUDGES, SELECT_JUDGES, make_judges, pick, read_grid, write_json  # a sibling script: run from scripts/ or as scripts/select_cavity.py

SETTINGS: dict[str, dict[str, Any]] = {
    "off": {"strength": 0.0},
    "strength 0.5": {"strength": 0.5, "iterations": 20, "depth": 0.5},
    "strength 0.8": {"strength": 0.8, "iterations": 20, "depth": 0.5},
    "strength 1.0": {"strength": 1.0, "iterations": 20, "depth": 0.5},
    "strength 0.8, wide (60 passes, 1 cm)": {"strength": 0.8, "iterations": 60, "depth": 1.0},
}
LIPS_THEN = 1.0
"""`Appearance.lip_shade` when cavity shading was chosen (scripts/select_lip_shade.py chose the lips after it)."""
EMOTIONS7 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
SELECT_IDS = (101, 110, 120, 130, 140)
VALIDATE_IDS = (0, 7, 21, 80, 95)
INTENSITIES = (0.6, 1.0)


def read(setting: dict[str, Any], identities: tuple[int, ...], views: tuple[str, ...], judges: dict[str, Any],
         crops: tuple[float, ...], mouth_shadow: bool = False, lip_shade: float | None = None,
         skin: str = "medium", exposure_power: float | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Return {judge: {view: {emotion: accuracy}}} of the default prototypes rendered (256 px, GL) under `setting`
    (the `Appearance`'s cavity fields), `lip_shade` (`Appearance.lip_shade`, when given), a skin tone and
    `exposure_power` (`RendererOptions.exposure_power`, when given): all passed as options."""
    from avatar.appearance import Appearance
    from avatar.emotion import DEFAULT_PROTOTYPES

    on = setting["strength"] > 0
    poses = {e: (e, None if e == "neutral" else DEFAULT_PROTOTYPES[e]) for e in EMOTIONS7}
    fields = {"cavity_strength": setting["strength"], "cavity_iterations": setting["iterations"],
              "cavity_depth_cm": setting["depth"]} if on else {}
    if lip_shade is not None:
        fields["lip_shade"] = lip_shade
    look = Appearance(skin=skin, cavity=on, mouth_shadow=mouth_shadow, **fields)
    grid = read_grid(poses, identities, views, judges, crops, appearance=look, exposure_power=exposure_power)
    return {j: {v: {e: grid[e][j][v] for e in EMOTIONS7} for v in views} for j in judges}


def mean_over(table: dict[str, dict[str, float]], views: tuple[str, ...]) -> dict[str, float]:
    """Return per-emotion accuracy averaged over `views` (each view weighs the same)."""
    return {e: float(np.mean([table[v][e] for v in views])) for e in EMOTIONS7}


def main() -> None:
    """Select the cavity setting on the selection grid, then validate off vs the pick on held-out judges and identities."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="benchmarks/results/cavity_selection.json")
    args = ap.parse_args()
    t0 = time.time()
    judges = make_judges()
    fq = ("front", "three-quarter")
    selection: dict[str, Any] = {}
    print(f"selection grid (ids {SELECT_IDS}, front + three-quarter, crops 0.8/0.9/1.0); the pick uses {SELECT_JUDGES} only")
    for name, setting in SETTINGS.items():
        table = read(setting, SELECT_IDS, fq, judges, (0.8, 0.9, 1.0), lip_shade=LIPS_THEN)
        means = {j: float(np.mean(list(mean_over(table[j], fq).values()))) for j in judges}
        score = float(np.mean([means[j] for j in SELECT_JUDGES]))
        selection[name] = {"setting": setting, "mean": means, "select_score": score}
        print(f"  {name:38s} select {score:.3f}   " + "  ".join(f"{j} {m:.3f}" for j, m in means.items()), flush=True)
    best = pick({name: sel["select_score"] for name, sel in selection.items()})
    print(f"  -> {best}")
    views = ("front", "three-quarter", "profile")
    validation: dict[str, Any] = {}
    for name, setting, shadow in (("off", SETTINGS["off"], False), (best, SETTINGS[best], False),
                                  (f"{best} + mouth shadow", SETTINGS[best], True)):
        table = read(setting, VALIDATE_IDS, views, judges, (0.9, 1.0), mouth_shadow=shadow, lip_shade=LIPS_THEN)
        validation[name] = {j: {"front+three-quarter": mean_over(table[j], fq), "profile": table[j]["profile"]} for j in judges}
    print(f"\nvalidation (ids {VALIDATE_IDS}, crops 0.9 and 1.0): accuracy over front + three-quarter [profile]")
    for j in judges:
        print(f"  {j}")
        for e in EMOTIONS7 + ("MEAN",):
            cells = []
            for name in validation:
                fqa, pro = validation[name][j]["front+three-quarter"], validation[name][j]["profile"]
                a = np.mean(list(fqa.values())) if e == "MEAN" else fqa[e]
                b = np.mean(list(pro.values())) if e == "MEAN" else pro[e]
                cells.append(f"{a:.3f} [{b:.2f}]")
            print(f"    {e:9s} " + "   ".join(cells))
    print("    columns: " + " | ".join(validation))
    held = {n: float(np.mean(list(validation[n]["face-api"]["front+three-quarter"].values()))) for n in validation}
    keep = held[best] > held["off"]
    print(f"face-api (held out): off {held['off']:.3f}, {best} {held[best]:.3f} -> "
          f"{'keep it as the default' if keep and best != 'off' else 'leave cavity shading off'}")
    out = {"chosen": best, "chosen_setting": SETTINGS[best], "kept": bool(keep), "selection": selection,
           "validation": validation, "select_judges": SELECT_JUDGES, "held_out_judges": HELD_OUT_JUDGES,
           "select_ids": SELECT_IDS, "validate_ids": VALIDATE_IDS, "intensities": INTENSITIES,
           "seconds": round(time.time() - t0, 1)}
    write_json(args.output, out)
    print(f"wrote {args.output} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
