"""Prints (and writes as JSON) how real-face judges read the shipped emotions with the corrective brow lowerer
(`avatar.brow_lowerer`) at a few strengths; selection and held-out validation are separate stages.

- **select**: the FER2013-trained judges `fer2013` and `face-classification` on identities 101, 110, 120, 130, 140,
  front and three-quarter, intensities 0.6 and 1.0, crops 0.8 / 0.9 / 1.0 of the face box, medium skin; every
  setting is a strength of the field, optionally with its shape changed (`1.0:down_cm=0.15`). The best mean over
  the seven emotions wins (`select_prototypes.pick`: a tie keeps the first listed, ICT's own shape).
- **validate**: face-api (never used to select) and, reported, the two selection judges, on the held-out identities
  0, 7, 21, 80, 95 and 30, 45, 60, 70, 90, front and three-quarter, intensities 0.6 and 1.0, crops 0.9 and 1.0, one
  skin tone per run; off (0) against the candidate in one session on the same code otherwise.

Renders are the GL renderer's at 256 px with the toolkit's default look (`select_prototypes.read_grid`), poses the
shipped prototypes (`avatar.pose`).

    python scripts/select_brow_lowerer.py select --settings 0,0.5,1,1.5 -o /tmp/brow_select.json      # ~4 min a setting
    python scripts/select_brow_lowerer.py validate --settings 0,1 --skin dark -o /tmp/brow_dark.json  # ~16 min
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import EMOTIONS7
from select_prototypes import CROPS, HELD_OUT_JUDGES, SELECT_IDS, SELECT_JUDGES, make_judges, pick, read_grid, write_json  # sibling scripts

HELD_OUT_SETS = {"A": (0, 7, 21, 80, 95), "B": (30, 45, 60, 70, 90)}
NEAR = ("front", "three-quarter")


def parse_setting(text: str) -> tuple[float, dict[str, float]]:
    """Return (strength, field keywords) from '1.0' or '1.0:down_cm=0.15,medial_cm=0.4' (keywords split by ';')."""
    strength, _, rest = text.partition(":")
    shape = {k.strip(): float(v) for k, v in (kv.split("=") for kv in rest.split(";") if kv.strip())}
    return float(strength), shape


def head_maker(setting: str):
    """Return identity -> the shipped head of that identity with the setting's corrective."""
    from avatar.brow_lowerer import with_brow_lowerer
    from avatar.head import default_head

    strength, shape = parse_setting(setting)
    base = with_brow_lowerer(default_head(brow_lowerer=0), strength, **shape)
    return lambda ident: base.with_identity(ident) if ident else base


def main() -> None:
    """Run one stage over the settings; print mean and per-emotion accuracy per judge."""
    import avatar
    from avatar.appearance import Appearance

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=("select", "validate"))
    ap.add_argument("--settings", default="0,0.5,1,1.5",
                    help="strengths, each optionally with ':key=value;...' of brow_lowerer_field (first = the current default)")
    ap.add_argument("--skin", default="medium")
    ap.add_argument("--sets", default="A,B", help="validate: held-out identity sets (A = 0,7,21,80,95; B = 30,45,60,70,90)")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    t0 = time.time()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    poses = {e: (e, lambda i, e=e: np.asarray(avatar.pose(emotion=e, intensity=i), np.float32).reshape(52)) for e in EMOTIONS7}
    look = Appearance(skin=args.skin)
    if args.stage == "select":
        groups = {"select": SELECT_IDS}
        names = SELECT_JUDGES
        crops = CROPS
    else:
        groups = {k: HELD_OUT_SETS[k] for k in args.sets.split(",")}
        names = HELD_OUT_JUDGES + SELECT_JUDGES
        crops = (0.9, 1.0)
    judges = {j: r for j, r in make_judges().items() if j in names}
    out: dict[str, dict] = {}
    for setting in settings:
        out[setting] = {}
        for g, ids in groups.items():
            grid = read_grid(poses, ids, NEAR, judges, crops, look, make_head=head_maker(setting))
            out[setting][g] = {j: {e: float(np.mean([grid[e][j][v] for v in NEAR])) for e in EMOTIONS7} for j in judges}
            means = "  ".join(f"{j} {np.mean(list(out[setting][g][j].values())):.3f}" for j in judges)
            print(f"  {setting:22s} {g}: {means}   ({time.time() - t0:.0f} s)", flush=True)
    print(f"\n{args.stage}, skin {args.skin}, identity sets {groups}, front + three-quarter, crops {crops}")
    summary: dict[str, dict] = {}
    for j in judges:
        for g in groups:
            tag = "held out" if j in HELD_OUT_JUDGES else "selection"
            print(f"  {j} ({tag}), {g}:")
            for s in settings:
                r = out[s][g][j]
                summary.setdefault(s, {}).setdefault(g, {})[j] = float(np.mean(list(r.values())))
                print(f"    {s:22s} mean {summary[s][g][j]:.3f}   " + "  ".join(f"{e} {r[e]:.2f}" for e in EMOTIONS7))
    result = {"stage": args.stage, "skin": args.skin, "groups": {g: list(i) for g, i in groups.items()}, "views": list(NEAR),
              "crops": list(crops), "judges": list(judges), "readings": out, "means": summary}
    if args.stage == "select":
        scores = {s: float(np.mean([summary[s]["select"][j] for j in SELECT_JUDGES])) for s in settings}
        result["scores"] = scores
        result["chosen"] = pick(scores)
        print("selection score (mean of " + ", ".join(SELECT_JUDGES) + "): "
              + "  ".join(f"{s} {v:.3f}" for s, v in scores.items()) + f"  -> {result['chosen']}")
    result["seconds"] = round(time.time() - t0, 1)
    print(f"{result['seconds']:.0f} s")
    if args.output:
        write_json(args.output, result)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
