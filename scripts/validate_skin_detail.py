"""Prints (and writes as JSON) how real-face judges read the shipped emotions with the skin of issue 19 part 1 (pores
and fine lines, regional highlight, subsurface warmth, ambient occlusion, key-light shadows) against without it.

Nothing is selected here: the skin's values were set by the look (docs/appearance.md). This checks that the face
does not become less legible to the held-out judge (face-api), on held-out identities, with the legibility protocol
of docs/legibility.md: GL renders at 256 px, front and three-quarter, intensities 0.6 and 1.0, crops 0.9 and 1.0 of
the renderer's face box, the shipped prototype table (refined v3). "base" turns the five switches off, which renders
what main did at 17c7cde (tests/test_skin.py checks the images are the same); "new" is `Appearance()`'s defaults.

    python scripts/validate_skin_detail.py --skin medium --ids 0,7,21,80,95 -o /tmp/skin_medium.json   # ~8 min on 2 cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import EMOTIONS7
from select_prototypes import HELD_OUT_JUDGES, SELECT_JUDGES, make_judges, read_grid, write_json  # sibling scripts: run as scripts/validate_skin_detail.py

SKIN_SWITCHES = ("skin_detail", "skin_regions", "subsurface", "ambient_occlusion", "shadows")
NEAR = ("front", "three-quarter")


def main() -> None:
    """Read the shipped prototypes with and without the skin switches on one identity set and tone; print per emotion."""
    import avatar
    from avatar.appearance import Appearance
    from avatar.validation import parse_identities

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skin", default="medium", help="skin tone of the renders (default medium)")
    ap.add_argument("--ids", default="0,7,21,80,95", help="identity seeds (default: the held-out set 0,7,21,80,95)")
    ap.add_argument("--settings", default="base,new",
                    help="comma-separated: base (the five off), new (Appearance() defaults), or new-X (the defaults with switch X off)")
    ap.add_argument("--judges", default=",".join(SELECT_JUDGES + HELD_OUT_JUDGES), help="judges to read with")
    ap.add_argument("-o", "--output", default=None, help="write the readings as JSON")
    args = ap.parse_args()
    ids = tuple(parse_identities(args.ids))
    t0 = time.time()
    wanted = [j.strip() for j in args.judges.split(",") if j.strip()]
    judges = {j: r for j, r in make_judges().items() if j in wanted}
    poses = {e: (e, lambda i, e=e: np.asarray(avatar.pose(emotion=e, intensity=i), np.float32).reshape(52)) for e in EMOTIONS7}
    out: dict[str, dict] = {}
    names = [n.strip() for n in args.settings.split(",") if n.strip()]
    for setting in names:
        if setting == "base":
            look = Appearance(skin=args.skin, **{s: False for s in SKIN_SWITCHES})
        elif setting == "new":
            look = Appearance(skin=args.skin)
        elif setting.startswith("new-") and setting[4:] in SKIN_SWITCHES:
            look = Appearance(skin=args.skin, **{setting[4:]: False})
        else:
            ap.error(f"unknown setting {setting!r}: use base, new or new-X with X one of {', '.join(SKIN_SWITCHES)}")
        grid = read_grid(poses, ids, NEAR, judges, (0.9, 1.0), look)
        out[setting] = {j: {e: float(np.mean([grid[e][j][v] for v in NEAR])) for e in EMOTIONS7} for j in judges}
    print(f"skin {args.skin}, identities {ids}: accuracy over front + three-quarter, {' / '.join(names)}")
    summary = {}
    for j in judges:
        summary[j] = {n: float(np.mean(list(out[n][j].values()))) for n in names}
        tag = "held out" if j in HELD_OUT_JUDGES else "reported"
        print(f"  {j:20s} ({tag}) mean {' / '.join(f'{summary[j][n]:.3f}' for n in names)}   "
              + "  ".join(f"{e} {'/'.join(f'{out[n][j][e]:.2f}' for n in names)}" for e in EMOTIONS7), flush=True)
    print(f"{time.time() - t0:.0f} s")
    if args.output:
        write_json(args.output, {"skin": args.skin, "identities": list(ids), "views": list(NEAR), "crops": [0.9, 1.0],
                                 "held_out_judge": HELD_OUT_JUDGES[0], "readings": out, "means": summary,
                                 "seconds": round(time.time() - t0, 1)})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
