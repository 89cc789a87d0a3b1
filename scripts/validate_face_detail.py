"""Prints (and writes as JSON) how real-face judges read the default emotions on held-out identities, for a before/after
check of a change to the face's look (issue 19: mouth interior, eye detail, the smile).

Nothing is selected here. The code under test is whatever `PYTHONPATH` puts first, so the same script reads the base
commit and the change in one session (`git archive BASE | tar -x -C /tmp/base; PYTHONPATH=/tmp/base python
scripts/validate_face_detail.py ...`). It reads the shipped defaults (`avatar.pose`, the default prototype table;
`avatar.appearance.Appearance()`) rendered by the GL renderer at 256 px, two ways:

- **boxed**: the renderer's face box at crops 0.9 / 1.0 (how `avatar.score(avatar.render(...))` reads), intensities
  0.6 / 1.0 (docs/legibility.md's validation grid);
- **detected**: each judge finds the face itself (MTCNN, as `emoavatar score image.png` does), 512 px renders,
  happy at 0.33 / 0.5 / 0.8 and every emotion at 0.8.

    PYTHONPATH=. python scripts/validate_face_detail.py --identities 30,45,60,70,90 --skin medium -o /tmp/after.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

EMOTIONS7 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
JUDGES = ("fer2013", "face-classification", "face-api")
VIEWS = ("front", "three-quarter")


def boxed(identities: list[int], skin: str, judges: dict[str, Any], switches: dict[str, bool] | None = None,
          items: list[dict[str, Any]] | None = None, views: tuple[str, ...] = VIEWS,
          options: dict[str, Any] | None = None,
          pose: Callable[[str, float], np.ndarray] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Return {judge: {view: {emotion: accuracy}}} over identities x `views` (front + three-quarter unless told) x
    intensities 0.6 / 1.0 x crops 0.9 / 1.0 (256 px; `switches` are `Appearance` fields, `options` other
    `RendererOptions` fields over the defaults: lighting, exposure, background),
    and append to `items` one row per image and judge (identity, view, emotion, intensity, crop, the judge's
    probability of the posed emotion and its reading), for a paired before/after comparison of two runs. `pose`
    (emotion, intensity) -> (52,) weights replaces `avatar.pose` (a candidate prototype table)."""
    import avatar
    from avatar.appearance import Appearance
    from avatar.emotion import EMOTIONS
    from avatar.io.headfile import load_head
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    pose = pose or avatar.pose
    w = np.stack([pose(e, i) for e in EMOTIONS7 for i in (0.6, 1.0)]).astype(np.float32)
    labels = np.array([e for e in EMOTIONS7 for _ in (0.6, 1.0)])
    hits: dict[str, dict[str, dict[str, list[bool]]]] = {j: {v: {e: [] for e in EMOTIONS7} for v in views} for j in judges}
    for ident in identities:
        for view in views:
            opts = RendererOptions(width=256, height=256, camera=view, appearance=Appearance(skin=skin, **(switches or {})),
                                   **(options or {}))
            with GLRenderer(load_head(None, identity=ident), opts) as r:
                res = r.render_sequence(w)
            for jn, judge in judges.items():
                for s in (0.9, 1.0):
                    b = res.face_boxes.astype(np.float64)
                    c, half = (b[:, :2] + b[:, 2:]) / 2, (b[:, 2:] - b[:, :2]) / 2 * s
                    p = np.asarray(judge(res.images, boxes=np.concatenate([c - half, c + half], 1).astype(np.float32)).emotion_probs)
                    pred = np.array([EMOTIONS[k] for k in np.nanargmax(np.where(np.isnan(p), -1, p), 1)])
                    if items is not None:
                        for k, e in enumerate(labels):
                            items.append({"judge": jn, "identity": ident, "view": view, "emotion": str(e),
                                          "intensity": (0.6, 1.0)[k % 2], "crop": s,
                                          "p_true": float(p[k, EMOTIONS.index(e)]), "reading": str(pred[k])})
                    for e in EMOTIONS7:
                        hits[jn][view][e].extend((pred[labels == e] == e).tolist())
    return {j: {v: {e: float(np.mean(a)) for e, a in per.items()} for v, per in by.items()} for j, by in hits.items()}


def detected(identities: list[int], skin: str, judges: dict[str, Any], background: Any = None) -> dict[str, Any]:
    """Return {judge: {"happy@I": p(happy) mean and accuracy, "EMOTION@0.8": accuracy}} with each judge's own face detector
    on 512 px renders (front + three-quarter), as a PNG is scored (`background` None: the shipped one)."""
    import avatar
    from avatar.emotion import EMOTIONS

    poses = [("happy", 0.33), ("happy", 0.5)] + [(e, 0.8) for e in EMOTIONS7]
    imgs, labels = [], []
    for ident in identities:
        for view in VIEWS:
            frames = avatar.render(np.stack([avatar.pose(e, i) for e, i in poses]), view=view, identity=ident, skin=skin,
                                   **({} if background is None else {"background": background}))
            imgs.append(np.asarray(frames))
            labels += [f"{e}@{i}" for e, i in poses]
    x = np.concatenate(imgs)
    lab = np.array(labels)
    out: dict[str, Any] = {}
    hi = EMOTIONS.index("happy")
    for jn, judge in judges.items():
        p = np.asarray(judge(x).emotion_probs)
        found = ~np.isnan(p).all(1)  # a class the judge lacks (contempt) is NaN on every row
        pred = np.array([EMOTIONS[k] if f else "none" for k, f in zip(np.nanargmax(np.where(np.isnan(p), -1, p), 1), found)])
        row = {}
        for name in dict.fromkeys(labels):
            m = lab == name
            e = name.split("@")[0]
            row[name] = {"accuracy": float(np.mean(pred[m] == e)), "p_happy": float(np.nanmean(p[m, hi])) if found[m].any() else None,
                         "not_found": int((~found[m]).sum())}
        out[jn] = row
    return out


def main() -> None:
    """Read both grids for one skin tone and identity set and write them as JSON."""
    from avatar.app.judges import make_recognizer
    from avatar.validation import parse_colour, parse_identities

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", default="30,45,60,70,90")
    ap.add_argument("--skin", default="medium")
    ap.add_argument("--views", default=",".join(VIEWS),
                    help="boxed grid's cameras, comma-separated (front, three-quarter, profile); default front,three-quarter")
    ap.add_argument("--skip-detected", action="store_true")
    ap.add_argument("--on", default="", help="Appearance switches to turn on, comma-separated (e.g. mouth_interior,eye_detail)")
    ap.add_argument("--background", default=None,
                    help="the renders' backdrop (avatar.validation.parse_colour: #rrggbb, r,g,b, a name); default the shipped one")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    ids = list(parse_identities(args.identities))
    t0 = time.time()
    views = tuple(v for v in args.views.split(",") if v)
    result: dict[str, Any] = {"identities": ids, "skin": args.skin, "views": list(views)}
    judges = {j: make_recognizer(j, "cpu", detect_faces=False) for j in JUDGES}
    switches = {name: True for name in args.on.split(",") if name}
    result["switches"] = switches
    background = parse_colour(args.background)
    result["background"] = list(background) if background is not None else None
    result["boxed_items"] = []
    result["boxed"] = boxed(ids, args.skin, judges, switches, result["boxed_items"], views, options={"background": background})
    for j, by in result["boxed"].items():
        fq = {e: float(np.mean([by[v][e] for v in views])) for e in EMOTIONS7}
        print(f"boxed {j:20s} mean {np.mean(list(fq.values())):.3f}  " + " ".join(f"{e} {a:.2f}" for e, a in fq.items()))
    if not args.skip_detected:
        result["detected"] = detected(ids, args.skin, {j: make_recognizer(j, "cpu", detect_faces=True) for j in JUDGES},
                                      background)
        for j, row in result["detected"].items():
            print(f"detected {j:20s} " + " ".join(f"{k} {v['accuracy']:.2f}" + (f"/p{v['p_happy']:.2f}" if k.startswith("happy") and v['p_happy'] is not None else "")
                                                   for k, v in row.items()))
    print(f"{time.time() - t0:.0f} s")
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    import os

    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
