"""Prints (and writes as JSON) how the teeth, the tongue and the whites of the eyes are exposed on each skin tone, with grids.

Issue 19: on dark skin the exposure's lift (x2.8) clipped the default's front teeth to flat white and paled the tongue
to salmon. For each skin tone, view (front, yaw 30) and pose (happy 0.8, surprise 1.0, anger 1.0, fear 1.0), GL 256 px,
default `Appearance` otherwise, it reads per pixel (a visibility pass of the same posed head through the same camera,
each pixel's ICT part): the share of the teeth's pixels with any channel >= 254, the teeth's median luma over the
cheek's median luma, the gums' and tongue's mean sRGB colour, and the cheek's median luma; for the eyes (the same lift
clipped the whites), the share of the eyeballs' pixels with a channel >= 254 and of the sclera's alone (the catch
lights on the iris spheres are meant to reach white), the sclera's median luma over the cheek's and its spread (luma
p90 - p10), and the catch light's luma. It also saves a grid of the renders (rows: tone x view, columns: pose), one of
the mouths and one of the eyes enlarged, and an .npz of the frames, so a before and an after can be compared pixel for
pixel (`--compare`: changed pixels off the mouth, off the eyes and off both, and the eyes' change per tone).

Nothing is selected here. The code under test is whatever `PYTHONPATH` puts first, so the same script reads the base
commit and the change in one session (`git archive BASE | tar -x -C /tmp/base`):

    PYTHONPATH=/tmp/base python benchmarks/bench_mouth_exposure.py -o /tmp/before   # -> /tmp/before.json, .png, .npz
    PYTHONPATH=. python benchmarks/bench_mouth_exposure.py -o /tmp/after --compare /tmp/before.npz
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import numpy as np

POSES = (("happy", 0.8), ("surprise", 1.0), ("anger", 1.0), ("fear", 1.0))
SKINS = ("dark", "brown", "medium", "light")
VIEWS: tuple[str | float, ...] = ("front", 30.0)
LUMA = np.array([0.2126, 0.7152, 0.0722])


def _cheek_vertices(head: Any) -> np.ndarray:
    """Return a (V,) bool mask of the face vertices within 1.5 cm of either cheek's middle (halfway from the nose wing,
    landmarks 31/35, to the jaw's contour, 2/14), on the generic neutral."""
    from avatar.head import ICT_PARTS

    rest = head.generic_neutral
    lm = rest[np.asarray(head.landmarks68)]
    centres = [(lm[2] + lm[31]) / 2, (lm[14] + lm[35]) / 2]
    a, b = ICT_PARTS["face"]
    near = np.zeros(len(rest), bool)
    for c in centres:
        near[a:b] |= np.linalg.norm(rest[a:b] - c, axis=1) < 1.5
    return near


def render_parts(skin: str, view: str | float, weights: np.ndarray, size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (the (P, H, W, 3) uint8 GL frames, (P, H, W) int64 the first vertex of each pixel's triangle, -1 off the head)
    for the poses `weights` (P, 52) of the default head and look on `skin` seen from `view`."""
    from avatar.appearance import Appearance
    from avatar.head import default_head
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions
    from renderers.visibility import GLVisibilityRasterizer

    head = default_head()
    frames, firsts = [], []
    with GLRenderer(head, RendererOptions(width=size, height=size, camera=view, appearance=Appearance(skin=skin))) as r:
        for w in weights:
            frames.append(r.render(w))
            verts = r._poser.pose(w).copy()
            with GLVisibilityRasterizer(r._faces, len(verts), size, size, r.camera) as vis:
                tri = vis.rasterize(verts)
            firsts.append(np.where(tri >= 0, r._faces[np.maximum(tri, 0), 0], -1))
    return np.stack(frames), np.stack(firsts), _cheek_vertices(head)


def measure(frame: np.ndarray, first: np.ndarray, cheek: np.ndarray) -> dict[str, Any]:
    """Return the teeth's clipped share and median luma over the cheek's, the gums' and tongue's mean colour, for one frame."""
    from avatar.head import ICT_PARTS

    def part(name: str) -> np.ndarray:
        a, b = ICT_PARTS[name]
        return (first >= a) & (first < b)

    img = frame.astype(np.float64)
    teeth, tongue = part("teeth"), part("gums_tongue")
    cheeks = (first >= 0) & cheek[np.maximum(first, 0)]
    y_cheek = float(np.median(img[cheeks] @ LUMA))
    y_teeth = float(np.median(img[teeth] @ LUMA)) if teeth.any() else float("nan")
    eyes = _eye_measures(img, frame, first, y_cheek)
    return {**eyes, "teeth_px": int(teeth.sum()), "clipped": float((frame[teeth] >= 254).any(1).mean()) if teeth.any() else 0.0,
            "teeth_luma": y_teeth, "cheek_luma": y_cheek, "teeth_over_cheek": y_teeth / y_cheek,
            "teeth_spread": float(np.subtract(*np.percentile(img[teeth] @ LUMA, [90, 10]))) if teeth.any() else float("nan"),
            "tongue_px": int(tongue.sum()), "tongue_rgb": [float(x) for x in img[tongue].mean(0)] if tongue.any() else None,
            "tongue_spread": float(np.subtract(*np.percentile(img[tongue] @ LUMA, [90, 10]))) if tongue.any() else float("nan")}


def _eye_measures(img: np.ndarray, frame: np.ndarray, first: np.ndarray, y_cheek: float) -> dict[str, Any]:
    """Return the eyeballs' clipped share (any channel >= 254), the clipped share of the sclera alone, the sclera's
    median luma over the cheek's and its spread (luma p90 - p10), and the iris sphere's brightest luma (its catch light)."""
    from avatar.appearance import ICT_SCLERA_IRIS
    from avatar.head import ICT_PARTS

    ball = (first >= ICT_PARTS["eyeball_left"][0]) & (first < ICT_PARTS["eyeball_right"][1])
    sclera = np.zeros_like(ball)
    iris = np.zeros_like(ball)
    for (s0, s1), (i0, i1) in ICT_SCLERA_IRIS:
        sclera |= (first >= s0) & (first < s1)
        iris |= (first >= i0) & (first < i1)
    luma = img @ LUMA
    nan = float("nan")
    return {"eye_px": int(ball.sum()), "eye_clipped": float((frame[ball] >= 254).any(1).mean()) if ball.any() else 0.0,
            "sclera_px": int(sclera.sum()),
            "sclera_clipped": float((frame[sclera] >= 254).any(1).mean()) if sclera.any() else 0.0,
            "sclera_over_cheek": float(np.median(luma[sclera])) / y_cheek if sclera.any() else nan,
            "sclera_luma": float(np.median(luma[sclera])) if sclera.any() else nan,
            "sclera_rgb": [float(x) for x in np.median(img[sclera], 0)] if sclera.any() else None,
            "sclera_spread": float(np.subtract(*np.percentile(luma[sclera], [90, 10]))) if sclera.any() else nan,
            "catch_light": float(luma[iris].max()) if iris.any() else nan}


def eye_crop(frame: np.ndarray, first: np.ndarray, out: int = 128) -> np.ndarray:
    """Return both eyes (the eyeballs, with a margin of lid) enlarged to out x (out / 2) (nearest)."""
    from avatar.head import ICT_PARTS

    ball = (first >= ICT_PARTS["eyeball_left"][0]) & (first < ICT_PARTS["eyeball_right"][1])
    ys, xs = np.nonzero(ball)
    if len(ys) == 0:
        return np.zeros((out // 2, out, 3), np.uint8)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = (xs.max() - xs.min()) / 2 + 6
    yy = np.clip(np.round(cy + np.linspace(-half / 2, half / 2, out // 2)), 0, frame.shape[0] - 1).astype(int)
    xx = np.clip(np.round(cx + np.linspace(-half, half, out)), 0, frame.shape[1] - 1).astype(int)
    return frame[yy][:, xx]


def mouth_crop(frame: np.ndarray, first: np.ndarray, out: int = 128) -> np.ndarray:
    """Return the mouth (the teeth, gums, tongue and socket, with a margin of lip) enlarged to out x out (nearest)."""
    from avatar.head import ICT_PARTS

    inside = (first >= ICT_PARTS["mouth_socket"][0]) & (first < ICT_PARTS["teeth"][1]) & ~(
        (first >= ICT_PARTS["eye_sockets"][0]) & (first < ICT_PARTS["eye_sockets"][1]))
    ys, xs = np.nonzero(inside)
    if len(ys) == 0:
        return np.zeros((out, out, 3), np.uint8)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = max(ys.max() - ys.min(), xs.max() - xs.min()) / 2 + 8
    idx = np.linspace(-half, half, out)
    yy = np.clip(np.round(cy + idx), 0, frame.shape[0] - 1).astype(int)
    xx = np.clip(np.round(cx + idx), 0, frame.shape[1] - 1).astype(int)
    return frame[yy][:, xx]


def _save_png(img: np.ndarray, path: str) -> None:
    from PIL import Image

    tmp = path + ".tmp.png"
    Image.fromarray(img).save(tmp)
    os.replace(tmp, path)


def save_results(prefix: str, frames: np.ndarray, first: np.ndarray, figures: dict[str, Any]) -> None:
    """Write PREFIX.npz (the frames and each pixel's first vertex, for a later --compare) and PREFIX.json, each atomically."""
    np.savez_compressed(prefix + ".tmp.npz", frames=frames, first=first)
    os.replace(prefix + ".tmp.npz", prefix + ".npz")
    with open(prefix + ".json.tmp", "w") as fh:
        json.dump(figures, fh, indent=1)
    os.replace(prefix + ".json.tmp", prefix + ".json")


def _pooled(cells: list[dict[str, Any]], count: str, share: str) -> float:
    """Return the share `share` pooled over the cells, each weighted by its pixel count `count`."""
    px = np.array([c[count] for c in cells], float)
    return float(np.sum(px * [c[share] for c in cells]) / max(px.sum(), 1.0))


def main() -> None:
    """Render the grid, print the per-tone figures and write the JSON, the two PNG grids and the frames."""
    import avatar

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True, help="path prefix: writes PREFIX.json, PREFIX.png, PREFIX_mouths.png, PREFIX_eyes.png, PREFIX.npz")
    ap.add_argument("--compare", help="an earlier run's .npz: report how many pixels changed off the mouth, off the eyes, off both, and on the eyes")
    args = ap.parse_args()
    weights = np.stack([avatar.pose(e, i) for e, i in POSES]).astype(np.float32)
    rows, mouths, eyes, frames, firsts, result = [], [], [], [], [], {}
    for skin in SKINS:
        for view in VIEWS:
            f, first, cheek = render_parts(skin, view, weights)
            frames.append(f)
            firsts.append(first)
            rows.append(np.concatenate(list(f), 1))
            mouths.append(np.concatenate([mouth_crop(a, b) for a, b in zip(f, first)], 1))
            eyes.append(np.concatenate([eye_crop(a, b, 256) for a, b in zip(f, first)], 1))
            for (e, i), a, b in zip(POSES, f, first):
                result[f"{skin}/{view}/{e}@{i}"] = measure(a, b, cheek)
    summary = {}
    for skin in SKINS:
        cells = [v for k, v in result.items() if k.startswith(skin + "/")]
        px = np.array([c["teeth_px"] for c in cells], float)
        tongue = np.array([c["tongue_rgb"] for c in cells if c["tongue_rgb"] is not None])
        tw = np.array([c["tongue_px"] for c in cells if c["tongue_rgb"] is not None], float)
        summary[skin] = {"clipped": float(np.sum(px * [c["clipped"] for c in cells]) / px.sum()),
                         "teeth_over_cheek": float(np.median([c["teeth_over_cheek"] for c in cells])),
                         "cheek_luma": float(np.median([c["cheek_luma"] for c in cells])),
                         "tongue_rgb": [float(x) for x in (tongue * tw[:, None]).sum(0) / tw.sum()],
                         "happy_front_clipped": result[f"{skin}/front/happy@0.8"]["clipped"],
                         "teeth_spread": float(np.nanmedian([c["teeth_spread"] for c in cells])),
                         "tongue_spread": float(np.nanmedian([c["tongue_spread"] for c in cells])),
                         "eye_clipped": _pooled(cells, "eye_px", "eye_clipped"),
                         "sclera_clipped": _pooled(cells, "sclera_px", "sclera_clipped"),
                         "sclera_over_cheek": float(np.nanmedian([c["sclera_over_cheek"] for c in cells])),
                         "sclera_spread": float(np.nanmedian([c["sclera_spread"] for c in cells])),
                         "catch_light": float(np.nanmedian([c["catch_light"] for c in cells])),
                         "surprise_front_eye_clipped": result[f"{skin}/front/surprise@1.0"]["eye_clipped"]}
        s = summary[skin]
        print(f"{skin:7s} teeth clipped {s['clipped']:6.1%} (happy front {s['happy_front_clipped']:6.1%})  "
              f"teeth/cheek luma {s['teeth_over_cheek']:.2f}  cheek luma {s['cheek_luma']:.1f}  "
              f"tongue rgb ({', '.join(f'{x:.0f}' for x in s['tongue_rgb'])})  "
              f"luma p90-p10 teeth {s['teeth_spread']:.0f} tongue {s['tongue_spread']:.0f}")
        print(f"{'':7s} eyeballs clipped {s['eye_clipped']:6.1%} (sclera {s['sclera_clipped']:6.1%}, surprise front "
              f"{s['surprise_front_eye_clipped']:6.1%})  sclera/cheek luma {s['sclera_over_cheek']:.2f}  "
              f"sclera p90-p10 {s['sclera_spread']:.0f}  catch light luma {s['catch_light']:.0f}")
    out: dict[str, Any] = {"poses": POSES, "views": VIEWS, "summary": summary, "cells": result}
    stack, first = np.stack(frames), np.stack(firsts)
    if args.compare:
        from avatar.head import ICT_PARTS

        old = np.load(args.compare)["frames"]
        mouth = (first >= ICT_PARTS["mouth_socket"][0]) & (first < ICT_PARTS["teeth"][1])
        ball = (first >= ICT_PARTS["eyeball_left"][0]) & (first < ICT_PARTS["eyeball_right"][1])
        diff = np.abs(stack.astype(int) - old.astype(int)).max(-1)
        out["compare"] = {}
        for name, where in (("mouth", mouth), ("eyes", ball), ("mouth_eyes", mouth | ball)):
            near = where.copy()  # the part and the pixels next to it (the supersampled edge mixes them)
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    near |= np.roll(where, (dy, dx), axis=(-2, -1))
            out["compare"][f"changed_off_{name}"] = int((diff[~near] > 0).sum())
            out["compare"][f"max_diff_off_{name}"] = int(diff[~near].max())
        for k, skin in enumerate(SKINS):
            rows_of = slice(k * len(VIEWS), (k + 1) * len(VIEWS))
            d, b = diff[rows_of], ball[rows_of]
            out["compare"][f"eyes_{skin}"] = {"changed": float((d[b] > 0).mean()), "mean": float(d[b].mean()),
                                              "max": int(d[b].max())}
        print("compare:", out["compare"])
    _save_png(np.concatenate(rows, 0), args.output + ".png")
    _save_png(np.concatenate(mouths, 0), args.output + "_mouths.png")
    _save_png(np.concatenate(eyes, 0), args.output + "_eyes.png")
    save_results(args.output, stack, first, out)


if __name__ == "__main__":
    main()
