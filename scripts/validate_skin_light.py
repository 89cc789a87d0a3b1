"""Prints (and writes as JSON) how real-face judges read the default emotions on one skin tone under the lights before
issue 19 ("old") or the shipped light for the skin ("new"); run once per setting and tone (separate processes, since
the facade caches renderers).

"old" re-creates the rule the project shipped before: every light x (Y(medium) / Y(skin)) ** 1 (which also dimmed
the light tone x0.69) and the specular x the same gain. "new" is the code as it is. Nothing is selected here: the
power was set by the look (docs/appearance.md); this checks that dark skin does not become less legible to the held-out
judge (face-api) on held-out identities 0, 7, 21, 80, 95, front + three-quarter, intensities 0.6 / 1.0, crops 0.9 / 1.0.

    python scripts/validate_skin_light.py old dark /tmp/old_dark.json    # ~4 min on 2 quiet cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from select_cavity import SETTINGS, VALIDATE_IDS, mean_over, read  # sibling scripts: run as scripts/validate_skin_light.py
from select_prototypes import make_judges, write_json


def use_old_lights() -> None:
    """Replace the light-for-skin rule, in this process, by the one shipped before issue 19."""
    import renderers.gl as gl
    import renderers.options as options
    from avatar.appearance import SKIN_TONES, skin_albedo

    def luminance(rgb: object) -> float:
        return float((np.asarray(rgb, np.float64) ** 2.2) @ np.array([0.2126, 0.7152, 0.0722]))

    options.skin_exposure = lambda skin, power=None: luminance(SKIN_TONES["medium"]) / max(luminance(skin_albedo(skin)), 1e-4)
    gl.light_specular = lambda light, exposure=1.0: float(light.specular)


def main() -> None:
    """Read the held-out grid of one tone under one light setting and write {judge: {emotion: accuracy}}."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("setting", choices=("old", "new"))
    ap.add_argument("skin", help="a skin tone name (avatar.appearance.SKIN_TONES)")
    ap.add_argument("output")
    args = ap.parse_args()
    if args.setting == "old":
        use_old_lights()
    t0 = time.time()
    judges = make_judges()
    views = ("front", "three-quarter")
    table = read(SETTINGS["strength 0.8"], VALIDATE_IDS, views, judges, (0.9, 1.0), skin=args.skin)
    result = {j: mean_over(table[j], views) for j in judges}
    print(args.setting, args.skin, {j: round(float(np.mean(list(r.values()))), 3) for j, r in result.items()},
          f"{time.time() - t0:.0f} s")
    write_json(args.output, result)


if __name__ == "__main__":
    main()
