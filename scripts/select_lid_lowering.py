"""Prints how the selection judges read sad, disgust and anger with their upper lids lowered (AU43 in part), and writes
the shipped prototype table with the chosen amounts (issue 19 part 2: docs/legibility.md, "Lowered lids").

The refined table (generators/data/arkit_prototypes_v3.json, `scripts/refine_prototypes.py`) leaves the upper lids of
sad, disgust and anger where the neutral face has them; in photographs sad faces droop their lids and disgusted and
angry ones narrow them. Each variant adds eyeBlink (AU43, a partial closure) to those three emotions' weights at
intensity 1 (`refined_weights` then scales it with the intensity, as the rest of the table).

- **selection** (default): `fer2013` and `face-classification` only, identities 101-120, medium skin, GL 256 px, front +
  three-quarter, the seven emotions at intensities 0.6 / 1.0, the renderer's face box at crops 0.9 / 1.0
  (`scripts/validate_face_detail.boxed`). The held-out check of the pick is `scripts/validate_face_detail.py`
  (face-api, identities 0, 7, 21, 80, 95 and 30, 45, 60, 70, 90), read on the table this script writes.
- **write** (`--write SAD,DISGUST,ANGER`): the shipped table generators/data/arkit_prototypes_v4.json = v3 plus those
  amounts of AU43 (its `weights`, `named` and `aus` fields) and a `lids` record of the choice.

    PYTHONPATH=. nice -n 10 python scripts/select_lid_lowering.py --variants 0,0,0 0.25,0.2,0.2 0.35,0.3,0.3 0.45,0.4,0.4
    PYTHONPATH=. python scripts/select_lid_lowering.py --write 0.25,0.2,0.2
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
EMOTIONS = ("sad", "disgust", "anger")
SELECTION_IDENTITIES = tuple(range(101, 121))
LID_SHAPES = ("eyeBlinkLeft", "eyeBlinkRight")


def parse_amounts(text: str) -> dict[str, float]:
    """Return {emotion: AU43 amount} from "SAD,DISGUST,ANGER" (each 0..1)."""
    values = [float(x) for x in text.split(",")]
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise SystemExit(f"lid amounts must be three numbers in 0..1 (sad,disgust,anger), got {text!r}")
    return dict(zip(EMOTIONS, values))


def with_lids(table: dict[str, np.ndarray], amounts: dict[str, float]) -> dict[str, np.ndarray]:
    """Return a copy of {emotion: (52,) weights at intensity 1} with `amounts` added to both eyeBlink weights (clipped)."""
    from avatar.head import ARKIT_NAMES

    cols = [ARKIT_NAMES.index(n) for n in LID_SHAPES]
    out = {e: w.copy() for e, w in table.items()}
    for e, a in amounts.items():
        out[e][cols] = np.clip(out[e][cols] + a, 0.0, 1.0)
    return out


def read_selection(amounts: dict[str, float], judges: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Return {judge: {emotion: accuracy over views}} of the shipped poses with `amounts` of lid lowering."""
    import avatar
    from generators.expression import read_prototype_table, refined_weights

    sys.path.insert(0, str(ROOT / "scripts"))
    import validate_face_detail as V

    table = with_lids(read_prototype_table(SOURCE), amounts)
    shipped_pose = avatar.pose

    def pose(emotion: str, intensity: float = 1.0) -> np.ndarray:
        # The candidate table for the labels it holds (the others as shipped): what the shipped table would pose.
        return refined_weights(emotion, intensity, table) if emotion in table else shipped_pose(emotion, intensity)

    avatar.pose = pose
    try:
        res = V.boxed(list(SELECTION_IDENTITIES), "medium", judges)
    finally:
        avatar.pose = shipped_pose
    return {j: {e: float(np.mean([by[v][e] for v in V.VIEWS])) for e in V.EMOTIONS7} for j, by in res.items()}


def write_table(amounts: dict[str, float], note: dict[str, Any]) -> None:
    """Write TARGET: SOURCE with `amounts` of AU43 on sad, disgust and anger, and a `lids` record (atomically)."""
    from avatar.head import ARKIT_NAMES

    data = json.loads(SOURCE.read_text())
    for e, a in amounts.items():
        entry = data["emotions"][e]
        w = np.asarray(entry["weights"], np.float64)
        for name in LID_SHAPES:
            k = ARKIT_NAMES.index(name)
            w[k] = min(1.0, w[k] + a)
            entry["named"][name] = round(float(w[k]), 5)
        entry["weights"] = [round(float(x), 5) for x in w]
        entry["aus"]["AU43"] = a
    data["lids"] = {"au": "AU43", "added": amounts, "source": SOURCE.name, "script": "scripts/select_lid_lowering.py",
                    **note}
    tmp = TARGET.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(TARGET)


def main() -> None:
    """Read the variants with the selection judges, or write the table with the chosen amounts."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="*", default=["0,0,0", "0.25,0.2,0.2", "0.35,0.3,0.3", "0.45,0.4,0.4"],
                    help="lid amounts SAD,DISGUST,ANGER to read (AU43 at intensity 1)")
    ap.add_argument("--write", default=None, help="write generators/data/arkit_prototypes_v4.json with SAD,DISGUST,ANGER")
    ap.add_argument("--note", default=None, help="a JSON file whose fields are recorded in the table's `lids` entry")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    if args.write is not None:
        note = json.loads(Path(args.note).read_text()) if args.note else {}
        write_table(parse_amounts(args.write), note)
        print(f"wrote {TARGET.relative_to(ROOT)}")
        return
    from avatar.app.judges import make_recognizer

    judges = {j: make_recognizer(j, "cpu", detect_faces=False) for j in ("fer2013", "face-classification")}
    t0 = time.time()
    rows = []
    for text in args.variants:
        amounts = parse_amounts(text)
        res = read_selection(amounts, judges)
        rows.append({"amounts": amounts, "read": res})
        for j, per in res.items():
            print(f"{text:16s} {j:20s} mean {np.mean(list(per.values())):.3f}  "
                  + " ".join(f"{e} {a:.2f}" for e, a in per.items()), flush=True)
    print(f"{time.time() - t0:.0f} s")
    if args.output:
        Path(args.output).write_text(json.dumps({"identities": list(SELECTION_IDENTITIES), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
