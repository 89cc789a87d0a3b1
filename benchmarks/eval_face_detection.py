"""Prints face detection rates and timings of MTCNN, Haar and "auto" on renders (by view) and skimage's photos.

    python benchmarks/eval_face_detection.py [--identities 0,7,21,80,95] [--size 512] [--json out.json]

Renders: the default head with the given PCA identities, the 8 emotion prototypes at intensity 1.0
and 0.5, cameras "front", "three-quarter" (35 deg) and "profile" (90 deg). A render counts as found
when the largest detected face's centre lies inside the face box the renderer knows
(`GLRenderer.face_boxes`). Photos shipped with scikit-image: the astronaut and the cameraman
(faces), the 100 LFW-subset faces (25 x 25, upscaled 4x and padded with their border to 160 x 160),
and images without a human face (the 100 LFW-subset non-faces treated the same way, chelsea the cat,
coffee, rocket, immunohistochemistry) where every detection is a false positive.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np


def renders(identities: list[int], size: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return {view: (frames (N, H, W, 3) uint8, known face boxes (N, 4))}."""
    from avatar.emotion import EMOTIONS, emotion_to_arkit
    from avatar.head import default_head
    from renderers.cameras import Camera
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    base = default_head()
    weights = np.stack([emotion_to_arkit(e, k) for k in (1.0, 0.5) for e in EMOTIONS]).astype(np.float32)
    out: dict[str, list] = {}
    with GLRenderer(base, RendererOptions(width=size, height=size)) as r:
        for ident in identities:
            r.set_head(base.with_identity(ident) if ident else base)
            for view in ("front", "three-quarter", "profile"):
                r.set_camera(Camera.preset(view))
                frames = r.render(weights)
                boxes = r.face_boxes(weights)
                out.setdefault(view, []).append((frames, boxes))
    return {v: (np.concatenate([f for f, _ in x]), np.concatenate([b for _, b in x])) for v, x in out.items()}


def photos() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Return ({name: RGB uint8 image} with faces, {name: image} without a human face)."""
    import cv2
    import skimage.data as d

    def lfw(img: np.ndarray) -> np.ndarray:
        up = cv2.resize(np.round(img * 255).astype(np.uint8), (100, 100), interpolation=cv2.INTER_CUBIC)
        return np.repeat(cv2.copyMakeBorder(up, 30, 30, 30, 30, cv2.BORDER_REPLICATE)[..., None], 3, 2)

    faces = {"astronaut": d.astronaut(), "camera": np.repeat(d.camera()[..., None], 3, 2)}
    lfw_all = d.lfw_subset()
    faces.update({f"lfw face {i}": lfw(x) for i, x in enumerate(lfw_all[:100])})
    others = {"chelsea": d.chelsea(), "coffee": d.coffee(), "rocket": d.rocket(), "immunohistochemistry": d.immunohistochemistry()}
    others.update({f"lfw non-face {i}": lfw(x) for i, x in enumerate(lfw_all[100:])})
    return faces, others


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identities", default="0,7,21,80,95")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from recognizers.faces import FaceDetector, FaceDetectorOptions

    base = FaceDetectorOptions(max_faces=None, return_crops=False, align_eyes=False, min_face_size=20, device="cpu")
    detectors = {b: FaceDetector.create_from_options(replace(base, backend=b)) for b in ("mtcnn", "haar", "auto")}
    t0 = time.time()
    views = renders([int(i) for i in args.identities.split(",")], args.size)
    print(f"rendered {sum(len(f) for f, _ in views.values())} frames at {args.size} px in {time.time() - t0:.0f} s")
    faces, others = photos()
    report: dict = {}
    for name, det in detectors.items():
        rows: dict = {}
        for view, (frames, known) in views.items():
            hit, t = 0, time.perf_counter()
            for img, box in zip(frames, known):
                r = det.detect(img)
                if len(r):
                    c = (r.boxes[0, :2] + r.boxes[0, 2:]) / 2
                    hit += int(box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3])
            rows[view] = {"found": hit, "n": len(frames), "ms_per_image": 1000 * (time.perf_counter() - t) / len(frames)}
        t = time.perf_counter()
        found = {k: len(det.detect(v)) for k, v in faces.items()}
        photo_ms = 1000 * (time.perf_counter() - t) / len(faces)
        false = {k: len(det.detect(v)) for k, v in others.items()}
        lfw_hits = sum(found[k] > 0 for k in found if k.startswith("lfw"))
        rows["photos"] = {
            "astronaut": found["astronaut"], "camera": found["camera"], "lfw_faces_found": lfw_hits,
            "ms_per_lfw_image": photo_ms,
            "false_positives_on_non_faces": sum(false.values()),
            "non_face_images_with_a_detection": sum(v > 0 for v in false.values()), "non_face_images": len(false),
        }
        report[name] = rows
        print(f"\n[{name}]")
        for view in ("front", "three-quarter", "profile"):
            v = rows[view]
            print(f"  {view:14s} {v['found']:3d}/{v['n']} ({v['found'] / v['n']:.0%})  {v['ms_per_image']:.0f} ms/image")
        p = rows["photos"]
        print(f"  astronaut {p['astronaut']} face(s), camera {p['camera']}, LFW faces {p['lfw_faces_found']}/100, "
              f"{p['ms_per_lfw_image']:.0f} ms/photo; non-face images with a detection {p['non_face_images_with_a_detection']}/{p['non_face_images']} "
              f"({p['false_positives_on_non_faces']} boxes)")
    for det in detectors.values():
        det.close()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
