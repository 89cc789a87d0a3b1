"""Prints how far the lips open while talking under each emotion, as a ratio to neutral on the same clips.

For each clip (bench_speech's sentences, spoken by synthetic voices) and emotion: `animate` (life off), the
inner-lip gap on the shipped head (`LipModel.gap`, midline landmarks 62-66, cm) over the frames where the voice is
active and no bilabial or f/v is being held (frames inside the transcript alignment's closure and tuck margins are
left out), pooled over the clips. "gap" is that gap; "rest gap" the same frames with the speech taken out (the
emotion's own mouth as `compose` leaves it while the voice is active: a snarl or a grin parts the lips by itself);
"speech opening" = gap - rest gap, what talking adds, with its p50 and p90 as a ratio to neutral's: that is what
an emotion must not shrink. "shut" is the share of aligned p/b/m frames whose lips touch (gap < 0.15 cm): an
emotion must keep speech's opening *and* its closures.

Voices: espeak-ng en-us (the voice the emotion layer was tuned on, with sentences 0-3) and the held-out
en-gb-x-gbcwmd+m7 (never trained or tuned on); `--split` picks tuning (sentences 0-3, en-us), held-out
(sentences 4-7, gbcwmd+m7) or all.

    nice -n 10 python benchmarks/bench_emotion_opening.py [--split held-out] [--methods phonetic neural hybrid] [--intensity 0.8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_speech import SENTENCES  # noqa: E402

EMOTIONS = ["neutral", "happy", "sad", "anger", "fear", "surprise", "disgust", "contempt"]
SPLITS = {"tuning": (("en-us",), range(0, 4)), "held-out": (("en-gb-x-gbcwmd+m7",), range(4, 8)),
          "all": (("en-us", "en-gb-x-gbcwmd+m7"), range(0, 8))}
TOUCH_CM = 0.15


def opening_table(clips: list[tuple[Path, str]], emotions: list[str], method: str, intensity: float,
                  fps: float = 30.0) -> dict[str, dict[str, float]]:
    """Return {emotion: {p50, p90 (cm), shut (share of p/b/m frames touching), frames}} pooled over `clips`."""
    from generators.speech import animate
    from generators.speech.audio import load_audio
    from generators.speech.emotion_layer import compose, emotion_curves
    from generators.speech.phonetic import phones_from_audio
    from generators.speech.talking import frame_activity
    from generators.speech.visemes import bilabial_frames, default_lip_model, labiodental_frames

    lips = default_lip_model()
    masks = []
    for wav, text in clips:
        audio = load_audio(wav)
        n = int(np.ceil(audio.duration * fps - 1e-9))
        phones = phones_from_audio(audio, text)  # the transcript's alignment marks where the lips must be held
        shut, tuck = bilabial_frames(phones, fps, n), labiodental_frames(phones, fps, n)
        act = frame_activity(audio, n, fps)
        masks.append(((act > 0.5) & ~shut & ~tuck, shut, act))
    out = {}
    for e in emotions:
        gaps, speech, shut_ok = [], [], []
        for (wav, text), (open_mask, shut, act) in zip(clips, masks):
            seq = animate(wav, text=text if method == "phonetic" else None, emotion=e, intensity=intensity,
                          method=method, life=False, fps=fps)
            gap = lips.gap(seq.weights)
            # The same frames with the speech taken out: the emotion's own mouth while the voice is active.
            emo, _ = emotion_curves(len(seq), fps, e, intensity)
            rest = lips.gap(compose(np.zeros_like(emo), emo, np.zeros(len(seq), bool), act, fps=fps))
            gaps.append(gap[open_mask])
            speech.append(gap[open_mask] - rest[open_mask])
            shut_ok.append(gap[shut] < TOUCH_CM)
        g, d, s = np.concatenate(gaps), np.concatenate(speech), np.concatenate(shut_ok)
        out[e] = {"p50": float(np.percentile(g, 50)), "p90": float(np.percentile(g, 90)),
                  "speech_p50": float(np.percentile(d, 50)), "speech_p90": float(np.percentile(d, 90)),
                  "rest": float(np.median(g - d)), "shut": float(s.mean()), "frames": float(len(g))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=tuple(SPLITS), default="all")
    ap.add_argument("--methods", nargs="+", default=["phonetic", "neural"],
                    help="phonetic (with the transcript), neural, hybrid (audio only: the neural mouth, slower)")
    ap.add_argument("--emotions", nargs="+", default=EMOTIONS)
    ap.add_argument("--intensity", type=float, default=0.8)
    args = ap.parse_args(argv)
    from benchmarks._machine import machine

    voices, sentences = SPLITS[args.split]
    emotions = ["neutral"] + [e for e in args.emotions if e != "neutral"]
    print(f"machine: {machine()}")
    print(f"split {args.split}: voices {', '.join(voices)}; sentences {sentences.start}-{sentences.stop - 1}; "
          f"intensity {args.intensity}")
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for v in voices:
            for i in sentences:
                wav = Path(tmp) / f"{v}_{i}.wav"
                subprocess.run(["espeak-ng", "-v", v, "-s", "160", "-w", str(wav), SENTENCES[i]], check=True, capture_output=True)
                clips.append((wav, SENTENCES[i]))
        for method in args.methods:
            t0 = time.perf_counter()
            table = opening_table(clips, emotions, method, args.intensity)
            base = table["neutral"]
            print(f"\n{method}{' + transcript' if method == 'phonetic' else ', audio only'} "
                  f"({int(base['frames'])} open frames per emotion, {time.perf_counter() - t0:.0f} s)")
            print("| emotion | rest gap cm | gap p50 cm | gap p90 cm | speech opening p50 cm | p90 cm | "
                  "opening p50 / neutral | p90 / neutral | p/b/m shut |")
            print("|---|---|---|---|---|---|---|---|---|")
            for e, row in table.items():
                print(f"| {e} | {row['rest']:.2f} | {row['p50']:.2f} | {row['p90']:.2f} | {row['speech_p50']:.2f} | "
                      f"{row['speech_p90']:.2f} | {row['speech_p50'] / base['speech_p50']:.2f} | "
                      f"{row['speech_p90'] / base['speech_p90']:.2f} | {100 * row['shut']:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
