"""Prints (and writes as JSON) how the side teeth and the tongue are shaded on medium, brown and dark skin, with grids.

Issue 19 part 0: at three-quarter the side teeth were speckled (adjacent faces alternating light and dark), and on dark
skin the tongue rendered brighter than the cheek and flat. For each skin tone, view (front, yaw 30) and pose (happy
0.8, surprise 1.0, anger 1.0, fear 1.0), GL 384 px, default `Appearance` otherwise, it reads per pixel (a visibility pass
of the same posed head, `bench_mouth_exposure.render_parts`):

- the side teeth's speckle (rest |x| > 1 cm): the mean |luma - its 3 x 3 mean inside the mask| over the mask eroded
  by a pixel (`tests/test_face_detail.side_teeth_speckle`), and the luma's reversals along the rows (the share of
  pixel triples inside the mask whose two steps, each over 2 levels, turn in opposite directions);
- the tongue's (gums' and tongue's) mean luma against the cheek's median luma, its luma p90 - p10, and the drop of its
  luma from the front of its visible part to the back (mean luma of its front third by rest depth over its back third).

It also saves a grid of the mouths enlarged and an .npz of the frames, so a before and an after can be compared pixel
for pixel (`--compare`: the pixels changed off the mouth and on the cheeks). Nothing is selected here; the code under
test is whatever `PYTHONPATH` puts first:

    PYTHONPATH=/tmp/base python benchmarks/bench_mouth_form.py -o /tmp/form_before
    PYTHONPATH=. python benchmarks/bench_mouth_form.py -o /tmp/form_after --compare /tmp/form_before.npz
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

POSES = (("happy", 0.8), ("surprise", 1.0), ("anger", 1.0), ("fear", 1.0))
SKINS = ("dark", "brown", "medium")
VIEWS: tuple[str | float, ...] = ("front", 30.0)
LUMA = np.array([0.2126, 0.7152, 0.0722])
SIZE = 384


def speckle(luma: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Return (the mean |luma - 3 x 3 mean| inside the eroded mask, the share of reversals along rows) or NaNs."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(mask, np.ones((3, 3), bool))
    if inner.sum() < 30:
        return float("nan"), float("nan")
    m = mask.astype(np.float64)
    k = np.ones((3, 3))
    local = ndimage.convolve(luma * m, k, mode="constant") / np.maximum(ndimage.convolve(m, k, mode="constant"), 1)
    high = float(np.abs(luma - local)[inner].mean())
    d0, d1 = luma[:, 1:-1] - luma[:, :-2], luma[:, 2:] - luma[:, 1:-1]
    triple = mask[:, :-2] & mask[:, 1:-1] & mask[:, 2:]
    turn = triple & (np.abs(d0) > 2) & (np.abs(d1) > 2) & (np.sign(d0) != np.sign(d1))
    return high, float(turn.sum() / max(triple.sum(), 1))


def measure(frame: np.ndarray, first: np.ndarray, cheek: np.ndarray, rest: np.ndarray) -> dict[str, Any]:
    """Return one frame's side-teeth speckle and the tongue's luma against the cheek's."""
    from avatar.head import ICT_PARTS

    def part(name: str) -> np.ndarray:
        a, b = ICT_PARTS[name]
        return (first >= a) & (first < b)

    luma = frame.astype(np.float64) @ LUMA
    x = np.abs(rest[np.maximum(first, 0), 0])
    high, turns = speckle(luma, part("teeth") & (x > 1.0))
    tongue = part("gums_tongue")
    cheeks = (first >= 0) & cheek[np.maximum(first, 0)]
    y_cheek = float(np.median(luma[cheeks]))
    out: dict[str, Any] = {"speckle": high, "reversals": turns, "cheek_luma": y_cheek, "tongue_px": int(tongue.sum())}
    if tongue.sum() >= 30:
        y = luma[tongue]
        depth = rest[first[tongue], 2]  # rest z: larger is further forward
        front, back = depth >= np.percentile(depth, 67), depth <= np.percentile(depth, 33)
        out.update({"tongue_luma": float(y.mean()), "tongue_over_cheek": float(y.mean() / y_cheek),
                    "tongue_p90": float(np.percentile(y, 90)),
                    "tongue_spread": float(np.subtract(*np.percentile(y, [90, 10]))),
                    "tongue_back_over_front": float(y[back].mean() / max(y[front].mean(), 1e-6))})
    return out


def main() -> None:
    """Render the grid, print the per-tone figures and write the JSON, the PNG grid and the frames."""
    import avatar
    from avatar.head import ICT_PARTS, default_head
    from benchmarks.bench_mouth_exposure import _save_png, mouth_crop, render_parts, save_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True, help="path prefix: writes PREFIX.json, PREFIX_mouths.png, PREFIX.npz")
    ap.add_argument("--compare", help="an earlier run's .npz: report the pixels changed off the mouth and on the cheeks")
    args = ap.parse_args()
    weights = np.stack([avatar.pose(e, i) for e, i in POSES]).astype(np.float32)
    rest = default_head().generic_neutral
    rows, frames, firsts, result = [], [], [], {}
    cheek = None
    for skin in SKINS:
        for view in VIEWS:
            f, first, cheek = render_parts(skin, view, weights, SIZE)
            frames.append(f)
            firsts.append(first)
            rows.append(np.concatenate([mouth_crop(a, b, 256) for a, b in zip(f, first)], 1))
            for (e, i), a, b in zip(POSES, f, first):
                result[f"{skin}/{view}/{e}@{i}"] = measure(a, b, cheek, rest)
    summary = {}
    for skin in SKINS:
        cells = {k: v for k, v in result.items() if k.startswith(skin + "/")}
        side = [v for k, v in cells.items() if "/30.0/" in k]
        tongue = [v for v in cells.values() if "tongue_luma" in v]
        summary[skin] = {"speckle_yaw30": float(np.nanmean([c["speckle"] for c in side])),
                         "reversals_yaw30": float(np.nanmean([c["reversals"] for c in side])),
                         "tongue_over_cheek": float(np.mean([c["tongue_over_cheek"] for c in tongue])),
                         "tongue_over_cheek_max": float(np.max([c["tongue_over_cheek"] for c in tongue])),
                         "tongue_p90_over_cheek_max": float(np.max([c["tongue_p90"] / c["cheek_luma"] for c in tongue])),
                         "tongue_spread": float(np.median([c["tongue_spread"] for c in tongue])),
                         "tongue_back_over_front": float(np.median([c["tongue_back_over_front"] for c in tongue])),
                         "cheek_luma": float(np.median([c["cheek_luma"] for c in cells.values()]))}
        s = summary[skin]
        print(f"{skin:7s} side teeth at yaw 30: speckle {s['speckle_yaw30']:.2f} reversals {s['reversals_yaw30']:.3f}  "
              f"tongue/cheek luma {s['tongue_over_cheek']:.2f} (max {s['tongue_over_cheek_max']:.2f}, p90 max "
              f"{s['tongue_p90_over_cheek_max']:.2f})  tongue p90-p10 {s['tongue_spread']:.0f}  back/front "
              f"{s['tongue_back_over_front']:.2f}  cheek luma {s['cheek_luma']:.1f}")
    out: dict[str, Any] = {"poses": POSES, "views": VIEWS, "size": SIZE, "summary": summary, "cells": result}
    stack, first = np.stack(frames), np.stack(firsts)
    if args.compare:
        old = np.load(args.compare)["frames"]
        mouth = (first >= ICT_PARTS["mouth_socket"][0]) & (first < ICT_PARTS["teeth"][1])
        near = mouth.copy()  # the mouth and the pixels next to it (the supersampled edge mixes them)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                near |= np.roll(mouth, (dy, dx), axis=(-2, -1))
        diff = np.abs(stack.astype(int) - old.astype(int)).max(-1)
        cheeks = (first >= 0) & cheek[np.maximum(first, 0)]
        out["compare"] = {"changed_off_mouth": int((diff[~near] > 0).sum()), "max_diff_off_mouth": int(diff[~near].max()),
                          "changed_on_cheeks": int((diff[cheeks] > 0).sum()), "cheek_pixels": int(cheeks.sum())}
        print("compare:", out["compare"])
    _save_png(np.concatenate(rows, 0), args.output + "_mouths.png")
    save_results(args.output, stack, first, out)


if __name__ == "__main__":
    main()
