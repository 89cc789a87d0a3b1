"""Prints how well each emotion reads while talking vs as a static pose (the cost of talking), with ExpressionNet.

For every emotion: animate espeak-ng speech with that emotion (phonetic path with the transcript), render
every 3rd frame at 192x192, recognize with the in-loop scorer, and compare with the static pose of the same
emotion and intensity rendered the same way. Also prints animate + render frames/s end to end.

    python benchmarks/bench_talking_emotion.py [--intensity 0.8]
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
    ap.add_argument("--every", type=int, default=3)
    args = ap.parse_args()
    import avatar
    from avatar.emotion import EMOTIONS
    from avatar.app.facade import get_renderer
    from recognizers.expression_net import ExpressionNetRecognizer
    from recognizers.scoring import EmotionScorer

    print(f"machine: {machine()}")
    rec = ExpressionNetRecognizer.from_default(device="cpu")
    r = get_renderer(width=192, height=192)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), TEXT], check=True)
        print(f"{'emotion':10s} {'static':>8s} {'talking':>8s}   frames")
        total_frames, t_total = 0, 0.0
        talk_scorer, static_scorer = EmotionScorer(device="cpu"), EmotionScorer(device="cpu")
        for e in EMOTIONS:
            t0 = time.perf_counter()
            seq = avatar.animate(str(wav), text=TEXT, emotion=e, intensity=args.intensity, seed=0)
            w = seq.weights[:: args.every]
            hp = None if seq.head_pose is None else seq.head_pose[:: args.every]
            frames = np.stack(list(r.iter_frames(w, hp)))
            t_total += time.perf_counter() - t0
            total_frames += len(frames)
            talk = rec(frames, boxes=r.face_boxes(w, hp))
            still_w = avatar.pose(emotion=e, intensity=args.intensity)[None]
            still = rec(r.render(still_w), boxes=r.face_boxes(still_w))
            talk_acc = float(np.mean([lab == e for lab in talk.labels]))
            print(f"{e:10s} {float(still.labels[0] == e):8.2f} {talk_acc:8.2f}   {len(frames)}")
            talk_scorer.update(talk, [e] * len(frames))
            static_scorer.update(still, [e])
        print(f"overall: static accuracy {static_scorer.compute().accuracy:.3f}, talking {talk_scorer.compute().accuracy:.3f}")
        print(f"animate + render (192x192, every {args.every}th frame rendered): {total_frames / t_total:.1f} rendered frames/s")


if __name__ == "__main__":
    main()
