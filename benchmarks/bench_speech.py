"""Speech-animation quality and speed on espeak-ng sentences: lip closure, envelope correlation, timing, RTF.

Prints, for each path (phonetic with transcript, phonetic without, neural):
* closure share at bilabials: p/b/m phones (from forced alignment with the transcript) during which the
  posed mesh's inner lips touch (gap < 0.15 cm) on at least one frame, and the share of closure frames;
* Pearson correlation of the mouth opening (inner-lip gap) with the audio RMS envelope;
* timing offset (ms) of lip-closure onsets relative to bilabial phone onsets (measured at 100 fps);
* real-time factor (processing time / audio duration) on this CPU, warm.

    nice -n 10 python benchmarks/bench_speech.py [--voices en-us en-gb-x-rp+f3] [--emotions neutral surprise]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SENTENCES = [
    "papa bob buys maps",
    "my mother baked a blueberry pie for the picnic",
    "please bring me the big blue box by the window",
    "the brown puppy jumped over a pile of maple leaves",
    "maybe we should probably move the boat before the storm",
    "a member of the public paid for the bumpy bus trip",
    "remember to put the empty bottles back in the cupboard",
    "how much money did the mayor promise the museum",
]
CLOSED_CM = 0.15


def synth(text: str, voice: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True, capture_output=True)
    return path


def measure(seq, phones, audio, lips) -> dict:  # noqa: ANN001
    """Return closure, envelope correlation and closure-onset offsets for one sequence."""
    from generators.speech.audio import frame_rms_dbfs

    gap = lips.gap(seq.weights)
    fps = seq.fps
    t = np.arange(len(seq)) / fps
    bil = [p for p in phones if p.label in ("P", "B", "M")]
    hit, frames_in, frames_closed, offsets = 0, 0, 0, []
    for p in bil:
        inside = (t >= p.start) & (t < p.start + 0.8 * (p.end - p.start))
        if not inside.any():
            inside[min(len(t) - 1, int(round((p.start + p.end) / 2 * fps)))] = True
        closed = gap[inside] < CLOSED_CM
        hit += bool(closed.any())
        frames_in += int(inside.sum())
        frames_closed += int(closed.sum())
        near = (t >= p.start - 0.15) & (t <= p.end)
        idx = np.flatnonzero(near & (gap < CLOSED_CM))
        if len(idx):
            offsets.append((t[idx[0]] - p.start) * 1000.0)
    db = frame_rms_dbfs(audio.samples, audio.sample_rate, hop_s=0.01)
    env = np.interp(t, np.arange(len(db)) * 0.01, 10 ** (db / 20))
    corr = float(np.corrcoef(gap, env)[0, 1]) if gap.std() > 0 and env.std() > 0 else float("nan")
    return {"bilabials": len(bil), "hit": hit, "frames_in": frames_in, "frames_closed": frames_closed,
            "offsets": offsets, "corr": corr}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", nargs="+", default=["en-us", "en-gb-x-rp+f3", "en-us+m3"])
    ap.add_argument("--emotions", nargs="+", default=["neutral", "happy", "surprise", "fear", "sad"])
    ap.add_argument("--fps", type=float, default=100.0, help="measurement frame rate (high, for timing)")
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is required", file=sys.stderr)
        return 1

    from generators.speech import animate
    from generators.speech.audio import load_audio
    from generators.speech.shipped import weights_available
    from generators.speech.phonetic import phones_from_audio
    from generators.speech.visemes import default_lip_model

    lips = default_lip_model()
    paths = [("phonetic+text", "phonetic", True), ("phonetic, no text", "phonetic", False)]
    if weights_available():
        paths.append(("neural", "neural", False))
    with tempfile.TemporaryDirectory() as td:
        clips = []
        for i, text in enumerate(SENTENCES):
            for j, voice in enumerate(args.voices):
                wav = synth(text, voice, Path(td) / f"s{i}_{j}.wav")
                audio = load_audio(wav)
                clips.append((wav, text, audio, phones_from_audio(audio, text)))
        total_s = sum(c[2].duration for c in clips)
        print(f"{len(clips)} clips, {total_s:.1f} s of espeak-ng speech, voices {args.voices}")
        for name, method, use_text in paths:
            # Warm up once (decoder and model loading are one-time costs, reported separately).
            t0 = time.perf_counter()
            animate(clips[0][0], text=clips[0][1] if use_text else None, method=method, life=False)
            cold = time.perf_counter() - t0
            for emotion in args.emotions:
                agg = {"bilabials": 0, "hit": 0, "frames_in": 0, "frames_closed": 0, "offsets": [], "corr": []}
                elapsed = 0.0
                for wav, text, audio, phones in clips:
                    t0 = time.perf_counter()
                    seq = animate(wav, text=text if use_text else None, emotion=emotion, method=method,
                                  fps=args.fps, life=True)
                    elapsed += time.perf_counter() - t0
                    m = measure(seq, phones, audio, lips)
                    for k in ("bilabials", "hit", "frames_in", "frames_closed"):
                        agg[k] += m[k]
                    agg["offsets"] += m["offsets"]
                    agg["corr"].append(m["corr"])
                off = np.array(agg["offsets"]) if agg["offsets"] else np.array([np.nan])
                print(f"{name:18s} {emotion:9s} closure {100 * agg['hit'] / max(1, agg['bilabials']):5.1f}% of "
                      f"{agg['bilabials']} bilabials ({100 * agg['frames_closed'] / max(1, agg['frames_in']):5.1f}% "
                      f"of frames) | envelope r {np.nanmean(agg['corr']):.2f} | closure onset offset "
                      f"median {np.median(off):+.0f} ms, mean {np.mean(off):+.0f} ms | RTF {elapsed / total_s:.3f} "
                      f"(first call {cold:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
