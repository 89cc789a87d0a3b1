"""Prints (and writes as JSON) how real-face judges read variants of the fear prototype, front and three-quarter.

Fear and surprise share 1+2+5(+26); the shipped fear (table v3) read 0.85 front but 0.15 at three-quarter to the
held-out face-api, which answered surprise (docs/legibility.md, end of 2026-12-07). Each variant here edits the
shipped fear's AUs (`generators/data/arkit_prototypes_v3.json`, "aus") towards what tells fear apart in photographs:
a smaller jaw drop, a stronger lip stretch and brow knit, flatter brows, tense lower lids, lower teeth. A variant is
posed as `ActionUnits(aus).scaled(i).to_arkit()`, which is exactly `avatar.pose("fear", i)` for the shipped AUs.
Surprise (unchanged) is read alongside as a reference.

- **selection** (default): fer2013 and face-classification, identities 101, 110, 120, 130, 140, crops 0.8 / 0.9 / 1.0;
- **validation** (`--judges face-api --identities 30,45,60,70,90 --crops 0.9,1.0 --variants base,NAME`): held out.

Both: GL 256 px, medium skin, front + three-quarter, intensities 0.6 / 1.0.

    PYTHONPATH=. python scripts/select_fear.py -o /tmp/fear_select.json
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

# Edits of the shipped fear's AUs at intensity 1 (first = the shipped pose). Values replace the shipped ones.
VARIANTS: dict[str, dict[str, float]] = {
    "base": {},
    "jaw 0.15": {"AU26": 0.15},
    "jaw 0": {"AU26": 0.0},
    "brows flat": {"AU2": 0.2, "AU4": 1.0},
    "lids 7": {"AU7": 0.4},
    "lower teeth 16": {"AU16": 0.5},
    "flat+jaw 0.15": {"AU2": 0.2, "AU4": 1.0, "AU26": 0.15},
    "flat+jaw+7": {"AU2": 0.2, "AU4": 1.0, "AU26": 0.15, "AU7": 0.4},
    "flat+jaw+16": {"AU2": 0.2, "AU4": 1.0, "AU26": 0.15, "AU16": 0.5},
    # Round 2, around the first round's best ("jaw 0": the lips parted by AU25 alone).
    "jaw 0+stretch 1": {"AU26": 0.0, "AU20": 1.0},
    "jaw 0+knit": {"AU26": 0.0, "AU4": 1.0},
    "jaw 0+flat": {"AU26": 0.0, "AU2": 0.2, "AU4": 1.0},
    "jaw 0+16": {"AU26": 0.0, "AU16": 0.5},
    "jaw 0+7": {"AU26": 0.0, "AU7": 0.4},
    "jaw 0+teeth 11": {"AU26": 0.0, "AU11": 0.6},
}
VIEWS = ("front", "three-quarter")
INTENSITIES = (0.6, 1.0)


def shipped_fear_aus() -> dict[str, float]:
    """The shipped fear's AU intensities at 1 (table v3)."""
    from generators.expression import REFINED_TABLE_PATH

    return dict(json.loads(REFINED_TABLE_PATH.read_text())["emotions"]["fear"]["aus"])


def variant_aus(name: str) -> dict[str, float]:
    """The shipped fear's AUs with the variant's edits (zeros dropped)."""
    aus = {**shipped_fear_aus(), **VARIANTS[name]}
    return {k: float(v) for k, v in aus.items() if v > 0}


def read(variants: list[str], identities: list[int], judges: dict[str, Any], crops: tuple[float, ...],
         skin: str = "medium") -> dict[str, Any]:
    """Return {judge: {label: {view: {"accuracy", "readings"}}}} over identities x views x intensities x crops, where
    label is each fear variant and "surprise" (the shipped surprise)."""
    import avatar
    from avatar.appearance import Appearance
    from avatar.emotion import EMOTIONS
    from avatar.facs import ActionUnits
    from avatar.io.headfile import load_head
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    labels = [*variants, "surprise"]
    poses = [ActionUnits(variant_aus(v)).scaled(i).to_arkit() for v in variants for i in INTENSITIES]
    poses += [avatar.pose("surprise", i) for i in INTENSITIES]
    target = np.array(["fear"] * (2 * len(variants)) + ["surprise"] * 2)
    lab = np.array([lb for lb in labels for _ in INTENSITIES])
    w = np.stack(poses).astype(np.float32)
    hits: dict[str, dict[str, dict[str, list[str]]]] = {j: {lb: {v: [] for v in VIEWS} for lb in labels} for j in judges}
    for ident in identities:
        for view in VIEWS:
            opts = RendererOptions(width=256, height=256, camera=view, appearance=Appearance(skin=skin))
            with GLRenderer(load_head(None, identity=ident), opts) as r:
                res = r.render_sequence(w)
            b = res.face_boxes.astype(np.float64)
            c, half0 = (b[:, :2] + b[:, 2:]) / 2, (b[:, 2:] - b[:, :2]) / 2
            for jn, judge in judges.items():
                for s in crops:
                    boxes = np.concatenate([c - half0 * s, c + half0 * s], 1).astype(np.float32)
                    p = np.asarray(judge(res.images, boxes=boxes).emotion_probs)
                    pred = [EMOTIONS[k] for k in np.nanargmax(np.where(np.isnan(p), -1, p), 1)]
                    for k, lb in enumerate(lab):
                        hits[jn][lb][view].append(pred[k])
    out: dict[str, Any] = {}
    for jn, by in hits.items():
        out[jn] = {}
        for k, lb in enumerate(labels):
            t = target[2 * k]
            out[jn][lb] = {v: {"accuracy": float(np.mean([x == t for x in reads])),
                               "readings": {e: reads.count(e) for e in sorted(set(reads))}} for v, reads in by[lb].items()}
    return out


def main() -> None:
    """Read the variants with the chosen judges and write the grid as JSON."""
    from avatar.app.judges import make_recognizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--identities", default="101,110,120,130,140")
    ap.add_argument("--judges", default="fer2013,face-classification")
    ap.add_argument("--crops", default="0.8,0.9,1.0")
    ap.add_argument("--skin", default="medium")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    ids = [int(x) for x in args.identities.split(",")]
    crops = tuple(float(x) for x in args.crops.split(","))
    judges = {j: make_recognizer(j, "cpu", detect_faces=False) for j in args.judges.split(",")}
    t0 = time.time()
    res = read(variants, ids, judges, crops, args.skin)
    for lb in [*variants, "surprise"]:
        cells = []
        for jn in judges:
            f, t = res[jn][lb]["front"]["accuracy"], res[jn][lb]["three-quarter"]["accuracy"]
            cells.append(f"{jn} {f:.2f}/{t:.2f}")
        mean = np.mean([res[jn][lb][v]["accuracy"] for jn in judges for v in VIEWS])
        print(f"{lb:18s} mean {mean:.3f}  " + "  ".join(cells) + f"  3/4 {res[next(iter(judges))][lb]['three-quarter']['readings']}")
    print(f"{time.time() - t0:.0f} s")
    result = {"identities": ids, "judges": list(judges), "crops": list(crops), "skin": args.skin, "views": list(VIEWS),
              "intensities": list(INTENSITIES), "variants": {v: variant_aus(v) for v in variants}, "accuracy": res}
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
