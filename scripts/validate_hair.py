"""Prints (and writes as JSON) how real-face judges read the default emotions with or without hair, raised brows and
clothing (issue 19); run once per setting (separate processes), or with PYTHONPATH at another tree for its own look.

"look" renders `Appearance(skin=...)` of whichever tree is imported (this one: short dark-brown hair, raised brows,
a navy crew neck; main before issue 19: the painted hair cap), "bald" the same with hair, brow shell and clothing off,
"hair" / "brows" / "clothing" with only that one on (this tree only). Nothing is selected here: the hair's placement was set by the look (hairline 5 cm above the brows,
docs/appearance.md); this checks that the faces do not become less legible to the held-out judge (face-api) on
held-out identities, front + three-quarter, intensities 0.6 / 1.0, crops 0.9 / 1.0.

    python scripts/validate_hair.py look medium 0,7,21,80,95 /tmp/hair_medium.json    # ~4 min on 2 quiet cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import EMOTIONS7, mean_over  # sibling scripts: run as scripts/validate_hair.py
from select_prototypes import make_judges, read_grid, write_json


def main() -> None:
    """Read the held-out grid of one look and write {judge: {emotion: accuracy}} over front + three-quarter."""
    from avatar.appearance import Appearance
    from avatar.emotion import DEFAULT_PROTOTYPES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("setting", choices=("look", "bald", "hair", "brows", "clothing"))
    ap.add_argument("skin", help="a skin tone name (avatar.appearance.SKIN_TONES)")
    ap.add_argument("identities", help="comma-separated identity seeds, e.g. 0,7,21,80,95")
    ap.add_argument("output")
    args = ap.parse_args()
    t0 = time.time()
    judges = make_judges()
    views = ("front", "three-quarter")
    look = Appearance(skin=args.skin)
    if args.setting != "look":  # bald: none of the three; otherwise that one alone
        only = {"hair": "hair", "brows": "brow_shell", "clothing": "clothing"}.get(args.setting)
        look = Appearance(skin=args.skin, **{k: k == only for k in ("hair", "brow_shell", "clothing")})  # type: ignore[arg-type]
    ids = tuple(int(x) for x in args.identities.split(","))
    poses = {e: (e, None if e == "neutral" else DEFAULT_PROTOTYPES[e]) for e in EMOTIONS7}
    grid = read_grid(poses, ids, views, judges, (0.9, 1.0), appearance=look)
    table = {j: {v: {e: grid[e][j][v] for e in EMOTIONS7} for v in views} for j in judges}
    result = {j: mean_over(table[j], views) for j in judges}
    print(args.setting, args.skin, ids, {j: round(float(np.mean(list(r.values()))), 3) for j, r in result.items()},
          f"{time.time() - t0:.0f} s")
    write_json(args.output, result)


if __name__ == "__main__":
    main()
