"""Measure the inner-lip gap of talking-face videos with a second, independent tracker (MediaPipe Face Mesh).

    python scripts/track_lips_mediapipe.py VIDEO [VIDEO ...] --out gaps.npz

`scripts/track_lips.py` measures the reference tracks with dlib's 68-point predictor. Where a person's lips are
small in the frame, dark or hidden by a moustache, one tracker's gap can be mostly noise, and no animation can
follow noise. This script measures the same quantity (inner-lip gap over outer eye-corner distance, landmarks
13/14 and 33/263 of the 468-point mesh) with MediaPipe's Face Mesh, trained on other data by other people, and
writes one (T,) track per video, keyed by the file's stem. `benchmarks/bench_realism.py --agreement` then
reports each clip's agreement (Pearson r between the two trackers) and which speakers are measured reliably.

Needs `mediapipe==0.10.14` (Apache-2.0; the last release whose wheel carries the Face Mesh model files, so
nothing is downloaded) and OpenCV, best in their own virtual environment (they pin numpy and protobuf):

    python -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.14 opencv-python-headless
    /tmp/mp/bin/python scripts/track_lips_mediapipe.py clips/*.mpg --out gaps.npz
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

INNER_LIPS = (13, 14)  # upper and lower inner-lip midpoints of the 468-point mesh
EYE_CORNERS = (33, 263)  # outer eye corners


def track(path: Path) -> np.ndarray:
    """Return the (T,) inner-lip gap in eye-corner units of every frame of `path` (NaN where no face is found)."""
    try:
        import cv2
        import mediapipe as mp
    except ImportError as exc:
        raise SystemExit(f"error: {exc.name} is not installed: pip install mediapipe==0.10.14 opencv-python-headless "
                         "(in a separate venv, see this script's docstring)") from None

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"error: cannot read video {path}: pass a file OpenCV can decode (mpg, mp4, webm)")
    out = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True,
                                         min_detection_confidence=0.5, min_tracking_confidence=0.5) as mesh:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            res = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if not res.multi_face_landmarks:
                out.append(np.nan)
                continue
            h, w = frame.shape[:2]
            lm = res.multi_face_landmarks[0].landmark
            p = np.array([[lm[i].x * w, lm[i].y * h] for i in (*INNER_LIPS, *EYE_CORNERS)])
            out.append(float(np.linalg.norm(p[0] - p[1]) / max(np.linalg.norm(p[2] - p[3]), 1e-6)))
    cap.release()
    return np.asarray(out, np.float64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("videos", nargs="+", help="video files; each track is keyed by the file's stem")
    ap.add_argument("--out", required=True, help=".npz to write (one array per video)")
    args = ap.parse_args(argv)
    tracks = {}
    for k, v in enumerate(args.videos, 1):
        tracks[Path(v).stem] = track(Path(v))
        print(f"[{k}/{len(args.videos)}] {Path(v).stem}: {len(tracks[Path(v).stem])} frames", file=sys.stderr, flush=True)
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **tracks)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
