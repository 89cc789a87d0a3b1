"""Prints how well each emotion reads while talking vs as a static pose (the cost of talking), per judge.

For every emotion: animate espeak-ng speech with that emotion (the default path with the transcript), render
every 3rd frame at 256x256 per identity and view, read the frames with each judge (the real-face judges by
default; `expression-net`, ours, can be added), and compare with the static pose of the same emotion and
intensity rendered the same way. Also prints animate + render frames/s end to end.

    python benchmarks/bench_talking_emotion.py [--intensity 0.8] [--judges fer2013,face-classification,face-api]
    PYTHONPATH=/path/to/older/checkout python benchmarks/bench_talking_emotion.py   # the same figures for another version
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from _machine import machine

TEXT = "please bring me the big blue box from the window, maybe we can move it before the storm"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--intensity", type=float, default=0.8)
    ap.add_argument("--every", type=int, default=3, help="render every n-th frame of the talking clip")
    ap.add_argument("--judges", default="fer2013,face-classification,face-api")
    ap.add_argument("--identities", default="0,21", help="head identities (never used to choose the prototypes)")
    ap.add_argument("--views", default="front,three-quarter")
    ap.add_argument("--emotions", default="neutral,happy,sad,surprise,fear,disgust,anger")
    args = ap.parse_args()
    import avatar
    from avatar.app.facade import get_renderer
    from avatar.app.judges import make_recognizer

    print(f"machine: {machine()}; avatar from {Path(avatar.__file__).parent.parent}")
    judges = {j: make_recognizer(j, "cpu", detect_faces=False) for j in args.judges.split(",")}
    emotions = tuple(args.emotions.split(","))
    hits = {j: {e: {"static": [], "talking": []} for e in emotions} for j in judges}
    total_frames, t_total = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), TEXT], check=True)
        for e in emotions:
            t0 = time.perf_counter()
            seq = avatar.animate(str(wav), text=TEXT, emotion=e, intensity=args.intensity, seed=0)
            t_total += time.perf_counter() - t0
            w = seq.weights[:: args.every]
            hp = None if seq.head_pose is None else seq.head_pose[:: args.every]
            still_w = avatar.pose(emotion=e, intensity=args.intensity)[None]
            for ident in (int(i) for i in args.identities.split(",")):
                for view in args.views.split(","):
                    r = get_renderer(identity=ident, width=256, height=256, view=view)
                    t0 = time.perf_counter()
                    frames = np.stack(list(r.iter_frames(w, hp)))
                    t_total += time.perf_counter() - t0
                    total_frames += len(frames)
                    boxes, still, still_box = r.face_boxes(w, hp), r.render(still_w), r.face_boxes(still_w)
                    for jn, judge in judges.items():
                        hits[jn][e]["talking"] += [lab == e for lab in judge(frames, boxes=boxes).labels]
                        hits[jn][e]["static"] += [judge(still, boxes=still_box).labels[0] == e]
    print(f"intensity {args.intensity}, identities {args.identities}, views {args.views}; accuracy static / talking")
    print(f"{'emotion':10s} " + " ".join(f"{j:>22s}" for j in judges))
    for e in emotions:
        cells = [f"{np.mean(hits[j][e]['static']):.2f} / {np.mean(hits[j][e]['talking']):.2f}" for j in judges]
        print(f"{e:10s} " + " ".join(f"{c:>22s}" for c in cells))
    for j in judges:
        s = np.mean([np.mean(hits[j][e]["static"]) for e in emotions])
        t = np.mean([np.mean(hits[j][e]["talking"]) for e in emotions])
        print(f"{j}: mean over emotions, static {s:.3f}, talking {t:.3f}")
    print(f"animate + render (256x256, every {args.every}th frame rendered): {total_frames / t_total:.1f} rendered frames/s")


if __name__ == "__main__":
    main()
