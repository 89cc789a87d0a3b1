"""Prints how the selection judges read dark and brown skin under ways of lighting a lifted face (issue 19): the
grid behind `renderers.lighting.LIFT_CONTRAST` and docs/legibility.md's "Dark skin: why it loses surprise and sad".

Selection only: `fer2013` and `face-classification` on identities 101, 110, 120, 130, 140 (never face-api, never the
held-out identities), GL 256 px, front + three-quarter, the seven emotions at intensities 0.6 / 1.0, the renderer's face
box at crops 0.9 / 1.0 (280 readings per judge and cell; one reading is 0.36 points). Each variant is a set of
`RendererOptions` fields over the shipped defaults; `Lighting.lift_contrast` 0 is the lighting before this change.

    PYTHONPATH=. nice -n 10 python scripts/select_lift_contrast.py --skins dark,brown --contrasts 0,0.25,0.4,0.6
    PYTHONPATH=. nice -n 10 python scripts/select_lift_contrast.py --skins dark,medium --contrasts 0 --diagnostics

`--backdrops` reads the shipped lighting on neutral grey backdrops, the same grey for every tone (docs/legibility.md,
"A mid-grey backdrop", 2026-12-08); `default` is `avatar.constants.DEFAULT_BACKGROUND` as it stands, and `--sheet`
writes renders of every tone on every backdrop side by side to look at (neutral and surprise 1.0, front and
three-quarter, identity 101):

    PYTHONPATH=. nice -n 10 python scripts/select_lift_contrast.py --skins medium,dark,light --contrasts "" \
        --backdrops default,0.6,0.45,0.35,0.25 --sheet /tmp/backdrops.png -o benchmarks/results/backdrop_selection.json

`--diagnostics` adds the readings that say why (they are not candidates: each breaks the issue's rule or the user's
choice): exposure power 1 (every tone at the medium tone's luminance, withdrawn as whitening), exposure power 0.75, and a
mid-grey (0.25) backdrop in place of the default near-white one, each with `lift_contrast` 0 (the lighting they were
read with). The held-out check of the pick is
`scripts/validate_face_detail.py` (face-api, identities 0, 7, 21, 80, 95 and 30, 45, 60, 70, 90).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

EMOTIONS7 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
SELECT_IDS = (101, 110, 120, 130, 140)
JUDGES = ("fer2013", "face-classification")
VIEWS = ("front", "three-quarter")


def read(ids: tuple[int, ...], skin: str, judges: dict[str, Any], **options: Any) -> dict[str, dict[str, float]]:
    """Return {judge: {emotion: accuracy}} over ids x VIEWS x intensities 0.6 / 1.0 x crops 0.9 / 1.0, rendered with
    `RendererOptions(**options)` over the defaults: the held-out check's grid (`validate_face_detail.boxed`, which
    this reads through), the two views pooled (each holds the same number of readings)."""
    from validate_face_detail import boxed  # this script's folder is first on sys.path when it runs

    table = boxed(list(ids), skin, judges, views=VIEWS, options=options)
    return {j: {e: float(np.mean([by_view[v][e] for v in VIEWS])) for e in EMOTIONS7} for j, by_view in table.items()}


def backdrop(value: str) -> tuple[float, float, float]:
    """Return the RGB backdrop `value` names: `default` (the shipped constant) or one grey level in 0..1 (sRGB, as the
    renderer clears its frame), the same on every channel."""
    from avatar.constants import DEFAULT_BACKGROUND

    if value == "default":
        return DEFAULT_BACKGROUND
    g = float(value)
    if not 0.0 <= g <= 1.0:
        raise ValueError(f"backdrop {value!r}: a grey level in 0..1 or 'default'")
    return (g, g, g)


def sheet(path: str, skins: list[str], backdrops: list[str], identity: int = 101) -> None:
    """Write a PNG: one row per backdrop, per tone neutral and surprise 1.0 at front and three-quarter (256 px each)."""
    import avatar
    from avatar.appearance import Appearance
    from avatar.io.headfile import load_head
    from PIL import Image
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w = np.stack([avatar.pose("neutral", 1.0), avatar.pose("surprise", 1.0)]).astype(np.float32)
    rows = []
    for b in backdrops:
        tiles = []
        for skin in skins:
            for view in VIEWS:
                opts = RendererOptions(width=256, height=256, camera=view, appearance=Appearance(skin=skin), background=backdrop(b))
                with GLRenderer(load_head(None, identity=identity), opts) as r:
                    tiles.extend(r.render_sequence(w).images)
        rows.append(np.concatenate(tiles, 1))
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def main() -> None:
    """Read every variant on every skin tone asked for and write the table as JSON."""
    from avatar.app.judges import make_recognizer
    from renderers.lighting import Lighting

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skins", default="dark,brown")
    ap.add_argument("--contrasts", default="0,0.25,0.4,0.6", help="Lighting.lift_contrast values, comma-separated")
    ap.add_argument("--diagnostics", action="store_true", help="also exposure power 1 / 0.75 and a mid-grey backdrop (not candidates)")
    ap.add_argument("--backdrops", default="", help="grey levels (0..1, or 'default'), each read with the shipped lighting")
    ap.add_argument("--sheet", default="", help="with --backdrops: also write a PNG of the tones on each backdrop")
    ap.add_argument("-o", "--output", default="")
    args = ap.parse_args()
    backdrops = [b for b in args.backdrops.split(",") if b]
    if args.sheet and backdrops:
        sheet(args.sheet, args.skins.split(","), backdrops)
    judges = {j: make_recognizer(j, "cpu", detect_faces=False) for j in JUDGES}
    variants: dict[str, dict[str, Any]] = {f"lift_contrast {c}": {"lighting": Lighting(lift_contrast=float(c))}
                                           for c in args.contrasts.split(",") if c}
    if args.diagnostics:
        before = Lighting(lift_contrast=0.0)  # the diagnostics are of the lighting before the lift's split
        variants.update({"exposure_power 1 (whitening)": {"exposure_power": 1.0, "lighting": before},
                         "exposure_power 0.75": {"exposure_power": 0.75, "lighting": before},
                         "backdrop 0.25 grey": {"background": (0.25, 0.25, 0.25), "lighting": before}})
    variants.update({f"backdrop {b}": {"background": backdrop(b)} for b in backdrops})
    out: dict[str, Any] = {"identities": list(SELECT_IDS), "judges": list(JUDGES), "views": list(VIEWS), "cells": {}}
    for skin in args.skins.split(","):
        for name, options in variants.items():
            t0 = time.time()
            table = read(SELECT_IDS, skin, judges, **options)
            means = {j: float(np.mean(list(per.values()))) for j, per in table.items()}
            out["cells"][f"{skin} / {name}"] = {"per_emotion": table, "mean": means, "select_score": float(np.mean(list(means.values())))}
            print(f"{skin:6s} {name:30s} " + " | ".join(f"{j} {means[j]:.3f} " + " ".join(f"{e[:3]} {a:.2f}" for e, a in table[j].items())
                                                    for j in JUDGES) + f" | mean {np.mean(list(means.values())):.3f} ({time.time() - t0:.0f} s)",
                  flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
