"""Fit the speech rules' opening per viseme class and the rest posture to real people's lips (training speakers only).

    python scripts/fit_realism.py --audio WAVS [--tracks benchmarks/data/realism/grid_s1.npz] [--speakers s1]

For every training clip (default: GRID s1, the one training speaker of benchmarks/data/realism; A, B and C
are held out and never read here) it aligns the transcript (`phonetic.phones_from_audio`), animates it with
the rules (`phonetic`, life off) and reads, at the middle of each phone, the person's inner-lip gap and
ours, both in cm on the shipped head (`generators.speech.realism`). It prints, per viseme class, the median
of theirs over ours (the gain the rules' opening needs, shrunk toward 1 by the class's count, clipped to
0.8-1.25; visemes.REAL_OPENING_GAIN holds AA to 1.10 for the release speed), and the person's median gap in
pauses at least 150 ms from speech: the rest gap. Deterministic (pocketsphinx alignment with the project's
seeded dither).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHRINK_N = 20
"""A class seen n times moves n / (n + SHRINK_N) of the way to its measured gain."""


def main(argv: list[str] | None = None) -> int:
    from avatar.head import default_head
    from generators.speech.audio import load_audio
    from generators.speech.phonetic import phones_from_audio
    from generators.speech.realism import head_tracks, load_clips, resample_track
    from generators.speech.talking import animate, frame_activity
    from generators.speech.visemes import REAL_OPENING_GAIN, VISEME_OF

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--audio", required=True)
    ap.add_argument("--tracks", default=str(ROOT / "benchmarks" / "data" / "realism" / "grid_s1.npz"))
    ap.add_argument("--speakers", default="s1")
    args = ap.parse_args(argv)
    speakers = set(args.speakers.split(","))
    fps = 30.0
    head = default_head()
    theirs, ours = defaultdict(list), defaultdict(list)
    rest = []
    for clip in load_clips(args.tracks):
        wav = Path(args.audio) / f"{clip.name.split('/')[-1]}.wav"
        if clip.speaker not in speakers or not wav.is_file() or not clip.text:
            continue
        audio = load_audio(str(wav))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phones = phones_from_audio(audio, clip.text)
            seq = animate(audio, text=clip.text, method="phonetic", fps=fps, life=False)
        n = seq.weights.shape[0]
        gap, _, eye_cm = head_tracks(seq.weights, head)
        ref = resample_track(clip.on_head(eye_cm)[0], clip.fps, n, fps)
        for p in phones:
            vis = VISEME_OF.get(p.label, "sil").split("+")[0]
            if vis == "sil":
                continue
            i = min(n - 1, int(round(0.5 * (p.start + p.end) * fps)))
            theirs[vis].append(ref[i])
            ours[vis].append(gap[i])
        act = frame_activity(audio, n, fps) > 0.5
        far = ~np.convolve(act.astype(float), np.ones(int(0.15 * fps) * 2 + 1), "same").astype(bool)
        rest += list(ref[far])
        print(f"{clip.name}: {len(phones)} phones", file=sys.stderr)
    print("| viseme | n | their median gap cm | our median gap cm | gain (shrunk, clipped) |")
    print("|---|---|---|---|---|")
    for vis in sorted(theirs):
        n = len(theirs[vis])
        # Ours already carry REAL_OPENING_GAIN: report the total gain over the uncalibrated rules (the opening
        # channels dominate the gap, so this is close to exact).
        g = float(np.median(theirs[vis]) / max(np.median(ours[vis]), 0.05)) * REAL_OPENING_GAIN.get(vis, 1.0)
        shrunk = 1.0 + (g - 1.0) * n / (n + SHRINK_N)
        print(f"| {vis} | {n} | {np.median(theirs[vis]):.2f} | {np.median(ours[vis]):.2f} | {np.clip(shrunk, 0.8, 1.25):.2f} |")
    print(f"rest gap in pauses (>= 150 ms from speech): median {np.median(rest):.3f} cm over {len(rest)} frames "
          f"(p25 {np.percentile(rest, 25):.3f}, p75 {np.percentile(rest, 75):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
