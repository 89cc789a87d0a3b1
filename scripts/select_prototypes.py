"""Prints (and writes as JSON) how real-face judges read EMFACS variants of each emotion prototype; picks the default.

The FACS prototypes in `avatar.emotion.DEFAULT_PROTOTYPES` are chosen here, not tuned by gradient: for each
emotion a handful of variants the FACS literature names (EMFACS core sets and their common open-mouth,
teeth-showing and crying forms) are posed on the head, rendered by the GL renderer, and read by judges
trained on photographs. Selection and validation are kept apart:

- **selection**: the FER2013-trained judges `fer2013` and `face-classification`, identities 101, 110, 120,
  130, 140, views front and three-quarter, intensities 0.6 and 1.0, and three crop framings (the render's
  face box x 0.8, 0.9 -- about where MTCNN puts its box on our renders -- and 1.0), because these judges
  are very sensitive to framing and the maintainers' pipelines bring their own face detectors. The variant
  with the best mean accuracy over that grid wins; ties go to the variant listed first.
- **validation**: `face-api` (trained on other data; never used to select) on identities 0, 7, 21, 80, 95
  (never used to select), front / three-quarter / profile, old prototypes against the selected ones.

    python scripts/select_prototypes.py -o benchmarks/results/prototype_selection.json    # 7-23 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from avatar.constants import DEFAULT_BACKGROUND
from avatar.emotion import EMOTIONS
from avatar.facs import ActionUnits

# Variants per emotion, first = the previous default. Names say what each adds.
VARIANTS: dict[str, dict[str, str]] = {
    "happy": {
        "6+12+25 (previous)": "AU6=0.9,AU12=1,AU25=0.4",
        "6+12+25+26 teeth": "AU6=1,AU12=1,AU25=0.8,AU26=0.2",
        "6+12+25+26+10 broad": "AU6=1,AU12=1,AU25=1,AU26=0.3,AU10=0.3",
    },
    "sad": {
        "1+4+15+17 (previous)": "AU1=1,AU4=0.4,AU15=1,AU17=0.4",
        "1+4+15+17+64 gaze down": "AU1=1,AU4=0.6,AU15=1,AU17=0.7,AU64=0.3",
        "1+4+15+17+43 lids": "AU1=1,AU4=0.5,AU15=1,AU17=0.5,AU43=0.25",
        "1+4+15+16+25 open": "AU1=1,AU4=0.6,AU15=1,AU16=0.3,AU25=0.3,AU64=0.3",
        "1+4+6+15+17+20 crying": "AU1=1,AU4=0.7,AU6=0.4,AU15=1,AU17=0.6,AU20=0.3,AU64=0.2",
    },
    "surprise": {
        "1+2+5+26 (previous)": "AU1=1,AU2=1,AU5=0.8,AU26=0.8",
        "1+2+5+25+26 wide": "AU1=1,AU2=1,AU5=1,AU25=0.5,AU26=0.9",
        "1+2+5+27 stretch": "AU1=1,AU2=1,AU5=1,AU27=0.6",
    },
    "fear": {
        "1+2+4+5+7+20+25+26 (previous)": "AU1=1,AU2=0.6,AU4=0.7,AU5=1,AU7=0.3,AU20=1,AU25=0.6,AU26=0.3",
        "1+2+4+5+20+25+26 strong": "AU1=1,AU2=0.8,AU4=0.8,AU5=1,AU7=0.2,AU20=1,AU25=1,AU26=0.4",
        "1+2+4+5+10+20+25+26 teeth": "AU1=1,AU2=0.7,AU4=0.7,AU5=1,AU11=0.4,AU20=1,AU25=1,AU26=0.3",
    },
    "disgust": {
        "9+15+16 (previous)": "AU9=1,AU15=0.6,AU16=0.5",
        "9+10+17+4+7 lip": "AU9=1,AU11=0.8,AU17=0.5,AU4=0.4,AU7=0.4",
        "9+10+4+7+15+17 sneer": "AU9=1,AU10=0.8,AU11=0.5,AU4=0.6,AU7=0.6,AU15=0.4,AU17=0.4",
        "9+10+25+16 open": "AU9=1,AU10=1,AU11=0.6,AU25=0.5,AU16=0.4,AU4=0.5,AU7=0.5",
    },
    "anger": {
        "4+5+7+17+23 (previous)": "AU4=1,AU5=0.6,AU7=0.8,AU17=0.4,AU23=0.9",
        "4+5+7+23+24 glare": "AU4=1,AU5=1,AU7=0.5,AU23=0.8,AU24=0.8",
        "4+5+7+9+10+25 snarl": "AU4=1,AU5=0.7,AU7=0.7,AU9=0.4,AU11=0.7,AU25=0.7,AU26=0.2",
        "4+5+7+10+16+22+25+26 shout": "AU4=1,AU5=0.8,AU7=0.5,AU11=0.6,AU16=0.6,AU22=0.4,AU25=1,AU26=0.6",
        "4+5+7+10+16+20+25+26 shout2": "AU4=1,AU5=1,AU7=0.5,AU11=0.5,AU16=0.5,AU20=0.3,AU25=1,AU26=0.7",
        "4+5+7+10+16+20+25 square": "AU4=1,AU5=0.8,AU7=0.6,AU11=0.8,AU16=0.7,AU20=0.5,AU25=1,AU26=0.3",
    },
}
# In this toolkit's AU -> ARKit map AU10 is mouthShrugUpper and AU11 mouthUpperUp (avatar.facs): the visible
# upper-lip raise of a snarl is AU11's row here, which is why the "10" variants carry AU11.

SELECT_JUDGES = ("fer2013", "face-classification")
HELD_OUT_JUDGES = ("face-api",)
SELECT_IDS = (101, 110, 120, 130, 140)
VALIDATE_IDS = (0, 7, 21, 80, 95)
CROPS = (0.8, 0.9, 1.0)
INTENSITIES = (0.6, 1.0)


def write_json(path: str, data: dict) -> None:
    """Write `data` as indented JSON to `path` through a temp file (a reader never sees half a file)."""
    from avatar.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def scale_boxes(boxes: np.ndarray, s: float) -> np.ndarray:
    """Return square boxes scaled by `s` about their centres."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    h = (boxes[:, 2:] - boxes[:, :2]) / 2 * s
    return np.concatenate([c - h, c + h], 1).astype(np.float32)


def make_judges() -> dict[str, Any]:
    """Return {name: recognizer} of the selection judges and the held-out one, on the CPU, reading known face boxes."""
    from avatar.app.judges import make_recognizer

    return {j: make_recognizer(j, "cpu", detect_faces=False) for j in SELECT_JUDGES + HELD_OUT_JUDGES}


def pick(scores: Mapping[Any, float]) -> Any:
    """Return the candidate with the best selection score; a tie goes to the one listed first (the current setting).

    The one rule every selection script here picks by (`scores` in the order the candidates were listed).
    """
    best = next(iter(scores))
    for candidate, score in scores.items():
        if score > scores[best] + 1e-9:
            best = candidate
    return best


def read_grid(poses: dict[str, tuple[str, Any]], identities: tuple[int, ...], views: tuple[str, ...],
              judges: tuple[str, ...] | dict[str, Any], crops: tuple[float, ...],
              appearance: Any = None, exposure_power: float | None = None,
              make_head: Any = None) -> dict[str, dict[str, dict[str, float]]]:
    """Return {pose name: {judge: {view: accuracy}}} over identities x views x intensities x crops.

    `poses` maps a name to (emotion label, AUs: a string or ActionUnits, or a function intensity -> (52,) ARKit
    weights for poses that are not AU sets, such as a refined table's). `judges` are names or {name: recognizer}.
    Every image is rendered once at 256 px by the GL renderer (the toolkit's defaults, or `appearance`, an
    `avatar.appearance.Appearance` whose tuned fields the lip-shade and cavity selections set, and
    `exposure_power`, `RendererOptions.exposure_power`, which the exposure selection sets; `make_head`, identity
    seed -> head, the shipped head when None) and read by each judge at each crop. What is swept is passed in the
    options, never patched into module globals.
    """
    from dataclasses import replace

    from avatar.app.judges import make_recognizer
    from avatar.appearance import Appearance
    from avatar.io.headfile import load_head
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    look = replace(appearance or Appearance(), eyes="brown")
    power = {} if exposure_power is None else {"exposure_power": exposure_power}
    made = judges if isinstance(judges, dict) else {j: make_recognizer(j, "cpu", detect_faces=False) for j in judges}
    names = list(poses)
    weights, labels, owner = [], [], []
    for name in names:
        label, aus = poses[name]
        for i in INTENSITIES:
            weights.append(aus(i) if callable(aus) else ActionUnits.coerce(aus).scaled(i).to_arkit())
            labels.append(label)
            owner.append(name)
    w = np.stack(weights).astype(np.float32)
    labels_a, owner_a = np.array(labels), np.array(owner)
    hits: dict[str, dict[str, dict[str, list[float]]]] = {n: {j: {} for j in made} for n in names}
    for ident in identities:
        for view in views:
            opts = RendererOptions(width=256, height=256, background=DEFAULT_BACKGROUND, camera=view, appearance=look, **power)
            head = load_head(None, identity=ident) if make_head is None else make_head(ident)
            with GLRenderer(head, opts) as renderer:
                res = renderer.render_sequence(w)
            for jn, judge in made.items():
                for s in crops:
                    p = np.asarray(judge(res.images, boxes=scale_boxes(res.face_boxes, s)).emotion_probs)
                    pred = np.array([EMOTIONS[k] for k in np.nanargmax(np.where(np.isnan(p), -1, p), 1)])
                    ok = pred == labels_a
                    for n in names:
                        hits[n][jn].setdefault(view, []).extend(ok[owner_a == n].tolist())
    return {n: {j: {v: float(np.mean(a)) for v, a in per.items()} for j, per in by_j.items()} for n, by_j in hits.items()}


def main() -> None:
    """Select each emotion's variant on the selection grid, then validate old vs new on held-out judges and identities."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="benchmarks/results/prototype_selection.json")
    args = ap.parse_args()
    t0 = time.time()
    poses = {f"{e}: {v}": (e, aus) for e, vs in VARIANTS.items() for v, aus in vs.items()}
    poses["neutral"] = ("neutral", "")
    sel = read_grid(poses, SELECT_IDS, ("front", "three-quarter"), SELECT_JUDGES + HELD_OUT_JUDGES, CROPS)
    print(f"selection grid (ids {SELECT_IDS}, front + three-quarter, crops {CROPS}); the pick uses {SELECT_JUDGES} only")
    chosen: dict[str, str] = {}
    for e, vs in VARIANTS.items():
        scores = {}
        for v in vs:
            r = sel[f"{e}: {v}"]
            scores[v] = float(np.mean([np.mean(list(r[j].values())) for j in SELECT_JUDGES]))
            extra = "  ".join(f"{j} {np.mean(list(r[j].values())):.2f}" for j in SELECT_JUDGES + HELD_OUT_JUDGES)
            print(f"  {e:9s} {v:34s} select {scores[v]:.3f}   {extra}")
        chosen[e] = str(pick(scores))
        print(f"  -> {e}: {chosen[e]}")
    old = {e: (e, next(iter(vs.values()))) for e, vs in VARIANTS.items()}
    new = {e: (e, VARIANTS[e][chosen[e]]) for e in VARIANTS}
    views = ("front", "three-quarter", "profile")
    judges = SELECT_JUDGES + HELD_OUT_JUDGES
    val_old = read_grid({**{f"old {e}": p for e, p in old.items()}, "neutral": ("neutral", "")}, VALIDATE_IDS, views, judges, (0.9, 1.0))
    val_new = read_grid({f"new {e}": p for e, p in new.items()}, VALIDATE_IDS, views, judges, (0.9, 1.0))
    print(f"\nvalidation (ids {VALIDATE_IDS}, crops 0.9 and 1.0): accuracy over front + three-quarter [profile]")
    table: dict[str, dict[str, dict[str, float]]] = {}
    for j in judges:
        row_o, row_n = [], []
        for e in ("neutral",) + tuple(VARIANTS):
            ro = val_old["neutral" if e == "neutral" else f"old {e}"][j]
            rn = val_old["neutral"][j] if e == "neutral" else val_new[f"new {e}"][j]
            fq_o, fq_n = (ro["front"] + ro["three-quarter"]) / 2, (rn["front"] + rn["three-quarter"]) / 2
            table.setdefault(j, {})[e] = {"old": fq_o, "new": fq_n, "old_profile": ro["profile"], "new_profile": rn["profile"]}
            row_o.append(fq_o)
            row_n.append(fq_n)
            print(f"  {j:20s} {e:9s} {fq_o:.2f} -> {fq_n:.2f}   [profile {ro['profile']:.2f} -> {rn['profile']:.2f}]")
        print(f"  {j:20s} {'MEAN':9s} {np.mean(row_o):.3f} -> {np.mean(row_n):.3f}")
    out = {"chosen": {e: {"variant": chosen[e], "aus": VARIANTS[e][chosen[e]]} for e in VARIANTS},
           "selection": sel, "validation": table, "select_judges": SELECT_JUDGES, "held_out_judges": HELD_OUT_JUDGES,
           "select_ids": SELECT_IDS, "validate_ids": VALIDATE_IDS, "crops": CROPS, "intensities": INTENSITIES,
           "seconds": round(time.time() - t0, 1)}
    from avatar.emotion import DEFAULT_PROTOTYPES

    for e in VARIANTS:
        same = ActionUnits.coerce(VARIANTS[e][chosen[e]]).to_dict() == DEFAULT_PROTOTYPES[e].to_dict()
        print(f"  {e:9s} the shipped default {'is' if same else 'is NOT'} this pick")
    write_json(args.output, out)
    print(f"wrote {args.output} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
