"""Prints how the selection judges read edits of the refined prototypes that refinement cannot make, and writes the
shipped prototype table with the chosen one (issue 19 part 2: docs/legibility.md, "Lowered lids" and "A broader smile").

Refinement (`scripts/refine_prototypes.py`, table v3) tunes the intensities of each emotion's own EMFACS action
units; it never adds one. Two cues that photographs of the emotions show were missing from the forms: the upper lids
of sad (drooping), disgust and anger (narrowed) stayed where the neutral face has them, and the smile raised its
corners without lifting the upper lip off the teeth. Each variant in `VARIANTS` adds ARKit weights (at intensity 1;
`refined_weights` scales them with the intensity, as the rest of the table) to table v3's poses:

- eyeBlink: AU43 in part (an upper lid lowered, not a blink: the pose is the same, the timing is not);
- mouthUpperUp: AU11 (the upper lip raised off the teeth); mouthDimple: AU14 (the corners drawn in and tucked).

- **selection** (default): `fer2013` and `face-classification` only, identities 101-120, medium skin, GL 256 px, front +
  three-quarter, the seven emotions at intensities 0.6 / 1.0, the renderer's face box at crops 0.9 / 1.0
  (`scripts/validate_face_detail.boxed`). The held-out check of the pick is `scripts/validate_face_detail.py`
  (face-api, identities 0, 7, 21, 80, 95 and 30, 45, 60, 70, 90), read on the table this script writes.
- **write** (`--write NAME`): the shipped table generators/data/arkit_prototypes_v4.json = v3 plus that variant's
  weights (its `weights`, `named` and `aus` fields) and an `edits` record of the choice (`--note`: a JSON file of
  further fields, e.g. the held-out readings).

    PYTHONPATH=. nice -n 10 python scripts/select_prototype_edits.py -o benchmarks/results/prototype_edits_selection.json
    PYTHONPATH=. python scripts/select_prototype_edits.py --write "lids + smile 0.2/0.5"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "generators" / "data" / "arkit_prototypes_v3.json"
TARGET = ROOT / "generators" / "data" / "arkit_prototypes_v4.json"
SELECTION_IDENTITIES = tuple(range(101, 121))
AUS = {"eyeBlink": "AU43", "mouthUpperUp": "AU11", "mouthDimple": "AU14"}
"""The action unit each edited ARKit pair stands for (`avatar.facs`), recorded in the table's `aus`."""


def _lids(sad: float, disgust: float, anger: float) -> dict[str, dict[str, float]]:
    return {"sad": {"eyeBlink": sad}, "disgust": {"eyeBlink": disgust}, "anger": {"eyeBlink": anger}}


LIDS = _lids(0.25, 0.2, 0.2)
VARIANTS: dict[str, dict[str, dict[str, float]]] = {
    "v3": {},
    # Round 1: the upper lids (sad droops, disgust and anger narrow). More read better still; 0.4 shuts the eyes.
    "lids 0.25/0.2/0.2": LIDS,
    "lids 0.35/0.3/0.3": _lids(0.35, 0.3, 0.3),
    "lids 0.45/0.4/0.4": _lids(0.45, 0.4, 0.4),
    # Round 2, on the shipped lids: face-classification read the smile as neutral (16 of 20 front on medium A).
    "lids + smile jaw 0.15": {**LIDS, "happy": {"jawOpen": 0.15}},
    "lids + smile stretch 0.3": {**LIDS, "happy": {"mouthStretch": 0.3}},
    "lids + smile upper lip 0.3": {**LIDS, "happy": {"mouthUpperUp": 0.3}},
    "lids + smile upper lip 0.5": {**LIDS, "happy": {"mouthUpperUp": 0.5}},
    "lids + smile dimple 0.5": {**LIDS, "happy": {"mouthDimple": 0.5}},
    "lids + smile 0.5": {**LIDS, "happy": {"mouthUpperUp": 0.5, "mouthDimple": 0.5}},
    # Round 3: the upper lip at 0.5 (and 0.3) bared the upper gums, which on a dark face's lifted light render brighter
    # than its cheek (tests/test_mouth_tone.py: gums and tongue over the cheek's luma, 1.03x and 1.003x; 0.97x at 0.2).
    "lids + smile 0.3/0.5": {**LIDS, "happy": {"mouthUpperUp": 0.3, "mouthDimple": 0.5}},
    "lids + smile 0.2/0.5": {**LIDS, "happy": {"mouthUpperUp": 0.2, "mouthDimple": 0.5}},
}
SHIPPED = "lids + smile 0.2/0.5"
"""The variant table v4 holds (docs/legibility.md)."""


def edited(table: dict[str, np.ndarray], edits: dict[str, dict[str, float]]) -> dict[str, np.ndarray]:
    """Return a copy of {emotion: (52,) weights at intensity 1} with `edits` ({emotion: {ARKit pair: amount}}) added
    to both sides of each pair (clipped to [0, 1])."""
    from avatar.head import ARKIT_NAMES

    out = {e: w.copy() for e, w in table.items()}
    for e, shapes in edits.items():
        for pair, amount in shapes.items():
            cols = [ARKIT_NAMES.index(pair + side) for side in ("Left", "Right")] if pair + "Left" in ARKIT_NAMES \
                else [ARKIT_NAMES.index(pair)]
            out[e][cols] = np.clip(out[e][cols] + amount, 0.0, 1.0)
    return out


def read_selection(edits: dict[str, dict[str, float]], judges: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return {judge: {emotion: accuracy over views}} of the shipped poses with table v3 edited by `edits`."""
    import avatar
    from generators.expression import read_prototype_table, refined_weights

    sys.path.insert(0, str(ROOT / "scripts"))
    import validate_face_detail as V

    table = edited(read_prototype_table(SOURCE), edits)

    def pose(emotion: str, intensity: float = 1.0) -> np.ndarray:
        # The candidate table for the labels it holds (the others as shipped): what the shipped table would pose.
        return refined_weights(emotion, intensity, table) if emotion in table else avatar.pose(emotion, intensity)

    res = V.boxed(list(SELECTION_IDENTITIES), "medium", judges, pose=pose)
    return {j: {e: float(np.mean([by[v][e] for v in V.VIEWS])) for e in V.EMOTIONS7} for j, by in res.items()}


def write_table(name: str, note: dict[str, Any]) -> None:
    """Write TARGET: SOURCE with variant `name`'s edits and an `edits` record (atomically)."""
    from avatar.head import ARKIT_NAMES

    edits = VARIANTS[name]
    data = json.loads(SOURCE.read_text())
    table = edited({e: np.asarray(entry["weights"], np.float64) for e, entry in data["emotions"].items()}, edits)
    for e, shapes in edits.items():
        entry = data["emotions"][e]
        entry["weights"] = [round(float(x), 5) for x in table[e]]
        for pair, amount in shapes.items():
            for side in ("Left", "Right"):
                entry["named"][pair + side] = round(float(table[e][ARKIT_NAMES.index(pair + side)]), 5)
            if pair in AUS:
                entry["aus"][AUS[pair]] = entry["aus"].get(AUS[pair], 0.0) + amount
    data["edits"] = {"variant": name, "added": edits, "aus": {p: AUS.get(p) for s in edits.values() for p in s},
                     "source": SOURCE.name, "script": "scripts/select_prototype_edits.py", **note}
    tmp = TARGET.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(TARGET)


def main() -> None:
    """Read the variants with the selection judges, or write the table with the chosen one."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), help=f"names from VARIANTS (default all: {', '.join(VARIANTS)})")
    ap.add_argument("--write", default=None, metavar="NAME", help=f"write generators/data/arkit_prototypes_v4.json (shipped: {SHIPPED!r})")
    ap.add_argument("--note", default=None, help="a JSON file whose fields are recorded in the table's `edits` entry")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    unknown = [v for v in args.variants + ([args.write] if args.write else []) if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant {unknown[0]!r}: use one of {', '.join(VARIANTS)}")
    if args.write is not None:
        write_table(args.write, json.loads(Path(args.note).read_text()) if args.note else {})
        print(f"wrote {TARGET.relative_to(ROOT)}")
        return
    from avatar.app.judges import make_recognizer

    judges = {j: make_recognizer(j, "cpu", detect_faces=False) for j in ("fer2013", "face-classification")}
    t0 = time.time()
    rows = []
    for name in args.variants:
        res = read_selection(VARIANTS[name], judges)
        rows.append({"variant": name, "edits": VARIANTS[name], "read": res})
        for j, per in res.items():
            print(f"{name:28s} {j:20s} mean {np.mean(list(per.values())):.3f}  "
                  + " ".join(f"{e} {a:.2f}" for e, a in per.items()), flush=True)
    print(f"{time.time() - t0:.0f} s")
    if args.output:
        Path(args.output).write_text(json.dumps({"identities": list(SELECTION_IDENTITIES), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
