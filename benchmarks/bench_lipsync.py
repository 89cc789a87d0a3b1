"""Lip-sync quality under an independent alignment, per voice family and emotion; speed of each path; streaming.

Scoring (`generators.speech.evaluation`): a second pocketsphinx alignment with other decoder settings
(`independent_alignment`), its boundaries further jittered by up to ±30 ms (seeded), judges the posed mesh:
* closed: p/b/m phones with the inner lips touching (gap < 0.15 cm) on at least one frame inside the phone;
  held: on every frame inside it;
* tucked: f/v phones with the lower inner lip within 0.2 cm of its place against the upper teeth;
* onset: first touching frame minus the phone start (ms; negative = before the sound);
* pop: largest opening speed in the 100 ms after a closure ends (cm per 10 ms);
* vowels shut: vowels with the lips touching at their middle frame (false closures);
* envelope r: Pearson correlation of the inner-lip gap with the audio RMS envelope.
Voices are the ones the shipped neural model never trained on (`scripts/train_speech_model.py`: espeak-ng
en-gb-x-gbcwmd with variants m7/f4/Alicia/benjamin, flite rms, festival ked_diphone), espeak-ng en-us-nyc+Michael
(held out from the closure rules' tuning and from training: a trained accent with a variant never trained on),
plus real human speech: the public-domain LibriVox clips (and CMU's "cards" recordings, BSD-2) of Debian's
pocketsphinx-testdata. "hybrid-before" is the hybrid merge as it was before `closure.py` (the model's flag or
the decoded phones, no peaks, no two-frame hold), measured in the same run; `--model DIR` scores another
checkpoint, `--compare-model DIR` adds another checkpoint's neural and hybrid paths to the table.

    nice -n 10 python benchmarks/bench_lipsync.py [--families espeak flite festival human] [--emotions neutral sad]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_speech import SENTENCES  # noqa: E402

TESTDATA = Path("/usr/share/pocketsphinx/test/data")
HELD_OUT = {
    "espeak": [("espeak", "en-gb-x-gbcwmd+m7"), ("espeak", "en-gb-x-gbcwmd+f4")],
    "flite": [("flite", "rms")],
    "festival": [("festival", "ked_diphone")],
    "espeak-new": [("espeak", "en-us-nyc+Michael")],
}
EMOTIONS = ["neutral", "happy", "sad", "fear", "surprise"]


def synth(kind: str, voice: str, text: str, path: Path) -> Path | None:
    """Write `text` spoken by a voice of `kind` to `path`; None when the synthesiser is missing."""
    if kind == "espeak" and shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True, capture_output=True)
    elif kind == "flite" and shutil.which("flite"):
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True)
    elif kind == "festival" and shutil.which("text2wave"):
        subprocess.run(["text2wave", "-eval", f"(voice_{voice})", "-o", str(path)], input=text.encode(), check=True,
                       capture_output=True)
    else:
        return None
    return path


def human_clips() -> list[tuple[str, Path, str]]:
    """Return (voice, wav, transcript) of the human recordings in pocketsphinx-testdata (empty when not installed)."""
    out = []
    for folder, voice in (("librivox", "librivox reader"), ("cards", "cards speaker")):
        listing = TESTDATA / folder / ("transcription" if folder == "librivox" else "cards.transcription")
        if not listing.is_file():
            continue
        for line in listing.read_text().splitlines():
            if "(" not in line:
                continue
            text, name = line.rsplit("(", 1)
            wav = TESTDATA / folder / f"{name.strip(' )')}.wav"
            if wav.is_file():
                out.append((voice, wav, text.replace("<s>", "").replace("</s>", "").strip()))
    return out


def envelope_r(gap: np.ndarray, samples: np.ndarray, fps: float) -> float:
    from generators.speech.audio import frame_rms_dbfs

    db = frame_rms_dbfs(samples, 16000, hop_s=0.01)
    t = np.arange(len(gap)) / fps
    env = np.interp(t, np.arange(len(db)) * 0.01, 10 ** (db / 20))
    return float(np.corrcoef(gap, env)[0, 1]) if gap.std() > 0 and env.std() > 0 else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="+", default=["espeak", "espeak-new", "flite", "festival", "human"])
    ap.add_argument("--emotions", nargs="+", default=EMOTIONS)
    ap.add_argument("--sentences", type=int, default=len(SENTENCES), help="how many of bench_speech's sentences")
    ap.add_argument("--jitter-ms", type=float, default=30.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--rtf-clips", type=int, default=6, help="clips timed for the real-time factors")
    ap.add_argument("--paths", nargs="+", default=["phonetic+text", "hybrid+text", "phonetic", "neural", "hybrid", "hybrid-before"],
                    help="which of phonetic+text, hybrid+text (the default with a transcript), phonetic, neural, hybrid, "
                         "hybrid-before to measure")
    ap.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure streaming against the offline neural path")
    ap.add_argument("--model", default=None, help="speech model checkpoint folder (default: the shipped one)")
    ap.add_argument("--compare-model", default=None, help="a second checkpoint whose neural and hybrid paths are measured too")
    args = ap.parse_args(argv)

    from benchmarks._machine import machine
    from generators.speech import animate
    from generators.speech.audio import load_audio
    from generators.speech.evaluation import ClosureReport, closure_report, independent_alignment, jitter_phones
    from generators.speech.shipped import weights_available
    from generators.speech.visemes import default_lip_model

    print(machine())
    lips = default_lip_model()
    paths = [("phonetic+text", "phonetic", True, None), ("phonetic audio-only", "phonetic", False, None)]
    if weights_available(args.model) if args.model else weights_available():
        paths += [("hybrid+text", "hybrid", True, args.model),
                  ("neural audio-only", "neural", False, args.model), ("hybrid audio-only", "hybrid", False, args.model),
                  ("hybrid-before audio-only", "hybrid-before", False, args.model)]
    paths = [p for p in paths if p[0].split()[0] in args.paths]
    if args.compare_model:
        paths += [("neural (compare-model) audio-only", "neural", False, args.compare_model),
                  ("hybrid (compare-model) audio-only", "hybrid", False, args.compare_model)]
    with tempfile.TemporaryDirectory() as td:
        clips: list[tuple[str, str, Path, str]] = []  # family, voice, wav, text
        for fam in args.families:
            if fam == "human":
                clips += [("human", v, w, t) for v, w, t in human_clips()]
                continue
            for kind, voice in HELD_OUT.get(fam, []):
                for i, text in enumerate(SENTENCES[: args.sentences]):
                    wav = synth(kind, voice, text, Path(td) / f"{fam}_{voice}_{i}.wav".replace("+", "_"))
                    if wav is not None:
                        clips.append((fam, voice, wav, text))
        judged = []
        for fam, voice, wav, text in clips:
            audio = load_audio(wav)
            phones = independent_alignment(audio, text)
            if phones is None:
                print(f"  (independent alignment failed on {wav.name}; skipped)")
                continue
            judged.append((fam, voice, wav, text, audio, jitter_phones(phones, zlib.crc32(wav.name.encode()) % 1000, args.jitter_ms / 1000)))
        fams = sorted({c[0] for c in judged}, key=args.families.index)
        print(f"{len(judged)} clips: " + ", ".join(f"{f} {sum(c[0] == f for c in judged)} "
                                                   f"({', '.join(sorted({c[1] for c in judged if c[0] == f}))})" for f in fams))
        print(f"judge: independent pocketsphinx alignment + ±{args.jitter_ms:g} ms jitter; {args.fps:g} fps\n")
        print("| path | family | emotion | closed | held | tucked f/v | vowels shut | onset median ms | pop median | envelope r |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        # Real-time factors first, uncached (warm: one call per path before timing), on the first clips.
        rtf: dict[str, float] = {}
        timed = judged[: args.rtf_clips]
        for name, method, use_text, model in paths if timed else []:  # --rtf-clips 0: no timing
            with _merge(method):
                animate(timed[0][2], text=timed[0][3] if use_text else None, method=_method(method), model=model)
                t0 = time.perf_counter()
                for _, _, wav, text, _, _ in timed:
                    animate(wav, text=text if use_text else None, emotion="happy", method=_method(method), fps=args.fps,
                            model=model)
            rtf[name] = (time.perf_counter() - t0) / sum(c[4].duration for c in timed)
        # Phones do not depend on the emotion: decode each clip once per path for the quality table.
        import generators.speech.phonetic as phonetic

        cache: dict = {}
        decode = phonetic.phones_from_audio

        def cached(audio, text=None):  # noqa: ANN001, ANN202
            key = (audio.path, len(audio.samples), text)
            if key not in cache:
                cache[key] = decode(audio, text)
            return cache[key]

        phonetic.phones_from_audio = cached
        for name, method, use_text, model in paths:
            for fam in fams:
                for emotion in args.emotions:
                    rep, corr = ClosureReport(), []
                    for f, voice, wav, text, audio, phones in judged:
                        if f != fam:
                            continue
                        with _merge(method):
                            seq = animate(wav, text=text if use_text else None, emotion=emotion, intensity=0.6,
                                          method=_method(method), fps=args.fps, model=model)
                        rep = rep + closure_report(seq.weights, seq.fps, phones, lips)
                        corr.append(envelope_r(lips.gap(seq.weights), audio.samples, seq.fps))
                    on = np.median(rep.onsets_ms) if rep.onsets_ms else float("nan")
                    pop = np.median(rep.pops) if rep.pops else float("nan")
                    print(f"| {name} | {fam} | {emotion} | {100 * rep.closed_rate:.0f}% of {rep.bilabials} | "
                          f"{100 * rep.held_rate:.0f}% | {100 * rep.tucked_rate:.0f}% of {rep.labiodentals} | "
                          f"{100 * rep.false_shut_rate:.0f}% | {on:+.0f} | "
                          f"{pop:.3f} | {np.nanmean(corr):.2f} |", flush=True)
        phonetic.phones_from_audio = decode
        print(f"\n| path | real-time factor (animate, warm, life on, {len(timed)} clips) |")
        print("|---|---|")
        for name, value in rtf.items():
            print(f"| {name} | {value:.3f} |")
        if args.stream and weights_available():
            stream_report([(w, a) for _, _, w, _, a, _ in judged], lips, args.fps)
    return 0


def _method(method: str) -> str:
    """Return the `animate` method of a benchmark path ("hybrid-before" runs "hybrid" with the old merge)."""
    return "hybrid" if method == "hybrid-before" else method


@contextlib.contextmanager
def _merge(method: str):  # noqa: ANN202
    """Within the block, "hybrid-before" merges as before closure.py: the model's flag or the decoded phones."""
    if method != "hybrid-before":
        yield
        return
    import generators.speech.closure as closure

    original = closure.hybrid_closure

    def before(logit, phones, fps, *, peaks=True, snr_db=float("inf")):  # noqa: ANN001, ANN202, ARG001 - hybrid_closure's signature
        from generators.speech.visemes import bilabial_frames, labiodental_frames

        shut = (np.asarray(logit) > 0.0) | bilabial_frames(phones, fps, len(logit))
        return shut, labiodental_frames(phones, fps, len(logit)) & ~shut

    closure.hybrid_closure = before
    try:
        yield
    finally:
        closure.hybrid_closure = original


def stream_report(clips: list, lips, fps: float) -> None:  # noqa: ANN001
    """Print streaming latency, real-time factor and agreement with the offline neural path (20 ms chunks)."""
    from avatar.rig import index_of
    from generators.speech import animate
    from generators.speech.streaming import StreamingAnimator
    from generators.speech.visemes import SPEECH_COLUMNS

    cols = [index_of(n) for n in SPEECH_COLUMNS]
    el, sec, maes, agree, n = 0.0, 0.0, [], [], 0
    lat = None
    for wav, audio in clips:
        anim = StreamingAnimator(fps=fps, life=False)
        lat = anim.latency_s
        t0 = time.perf_counter()
        frames = []
        for i in range(0, len(audio.samples), 320):
            frames += anim.push(audio.samples[i : i + 320])
        frames += anim.flush()
        el += time.perf_counter() - t0
        sec += audio.duration
        w = np.stack([f.weights for f in frames])
        off = animate(wav, method="neural", fps=fps, life=False).weights
        maes.append(float(np.abs(w[:, cols] - off[:, cols]).mean()))
        agree.append(float(((lips.gap(w) < 0.15) == (lips.gap(off) < 0.15)).mean()))
        n += 1
    print(f"\nstreaming (20 ms chunks, {n} clips): algorithmic latency {1000 * lat:.1f} ms, RTF {el / max(sec, 1e-9):.3f}, "
          f"mouth-column MAE vs offline mean {np.mean(maes):.4f} (max {np.max(maes):.4f}), lips-touching frames agree "
          f"{100 * np.mean(agree):.1f}% (min {100 * np.min(agree):.1f}%)")


if __name__ == "__main__":
    raise SystemExit(main())
