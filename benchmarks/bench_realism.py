"""Speech motion against real people: per clip and per speaker, our lip gap and jaw against a person's.

    python benchmarks/bench_realism.py [--audio AUDIO_DIR] [--tracks T.npz ...] [--methods hybrid+text,hybrid,neural]
        [--model CKPT] [--compare-model CKPT] [--emotion-intensity 0.5] [--noise pink10]

For every clip of the tracks files (measured by `scripts/track_lips.py`; the shipped ones are in
benchmarks/data/realism/, see its README for sources, licences and which speakers are held out) whose audio
<AUDIO_DIR>/<clip id>.wav exists: animate the audio (audio only: `hybrid`, `neural`; with the transcript:
`hybrid+text`, what `animate` does with one, or the rules' `phonetic+text`; `stream`: the causal `StreamingAnimator`
fed 20 ms chunks),
pose both on the shipped head (`generators.speech.realism`) and print Pearson r of the inner-lip gap and of
the jaw opening at the best lag within +-133 ms, our p50/p90 opening over the person's (speech frames), the
share of frames on which both agree the lips are shut, the rest gap in pauses (ours / theirs) and the r of
the audio's smoothed RMS envelope with the person's gap (the loudness-only baseline). Then the mean per
speaker. --out writes the table as markdown. The held-out speakers' audio is shipped with their tracks, so
with no --audio the benchmark runs on them (and on any s1 clip whose audio is in benchmarks/data/realism/).
--compare-model scores a second speech checkpoint's audio-only paths ("hybrid", "neural") on the same clips,
in the same run, as rows "<method>@cmp" (`hybrid+text@cmp` too).

A camera or phone take is not a studio recording: `--noise` gives every method and the RMS baseline the clip with
noise at a set SNR (white20, pink10, brown15, babble10: the other speakers' clips mixed) or through a room
(reverb50), seeded per clip (`generators.speech.noise`); the person's lips and the frames scored stay the clean
recording's.

Whether the reference itself can be trusted: `--second-tracker` (default: the shipped MediaPipe Face Mesh gaps of
the held-out and validation clips, `scripts/track_lips_mediapipe.py`) gives each clip's agreement between two
independent trackers ("trackers r"). A speaker whose clips agree under `realism.RELIABLE_AGREEMENT` (median) is
still scored and printed, and the summary gives the speakers' means twice: over every speaker, and over the
reliably measured ones, and once more without the speakers of acted-emotion corpora (the GRID rows as before
those were added).

Emotion (issue 22 part 4: emotion must not shrink speech's opening): a clip whose tracks carry the emotion the
person spoke with (`RealClip.emotion`, CREMA-D's held-out actor 1001 saying one sentence in six emotions) is
animated twice per method: neutral (its rows in the tables above, like every other clip) and with that emotion,
as `animate --emotion E --intensity I` would, I the clip's own level or, where the corpus leaves it unspecified
(CREMA-D's "XX"), --emotion-intensity (default 0.5: CREMA-D's own "medium", 50 of 100; the crowd rated these
clips' audio-visual emotion level 42-58 of 100 where it recognised the emotion). The per-emotion table gives the
person's p50/p90 lip gap over speech frames relative to their neutral take (both trackers), ours with the emotion
relative to ours neutral on the same audio (the emotion layer alone), ours with the emotion relative to ours on
the neutral take (the whole chain, like for like with the person's), the gap r with and without the emotion, and
the rest gap in the pauses (ours with the emotion / the person's).
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

DATA = ROOT / "benchmarks" / "data" / "realism"
SECOND_TRACKER = DATA / "second_tracker" / "mediapipe_gaps.npz"


DEFAULT_EMOTION_INTENSITY = 0.5
"""Intensity for clips whose corpus gives an emotion but no level (CREMA-D "XX"): CREMA-D's "medium" (50 of 100)."""


def emotion_table(data: dict, speakers_methods: list[tuple[str, str]] | None = None) -> list[str]:
    """Return the per-emotion table's markdown lines from `data[(speaker, method)][emotion]` (dicts of the person's
    and our p50/p90 cm, r, "intensity"), one row per emotion a speaker has, neutral first; [] with no such data.

    Ratios are to the same speaker's neutral take: the person's ("ref", and "ref2" from the second tracker), ours
    with the emotion over ours neutral on the same audio ("emo" / "neu"), and ours with the emotion over ours on
    the neutral take. A speaker without a neutral take gets one line saying so.
    """
    if not data:
        return []
    lines = ["", "Opening per emotion (p50 / p90 lip gap over speech frames, each relative to the same speaker's neutral; "
             "ours: animated with the take's emotion):", "",
             "| speaker | method | emotion @ intensity | person p50, p90 / neutral take | person (2nd tracker) | "
             "ours: emotion layer p50, p90 (same audio, / ours neutral) | ours: this take with its emotion / neutral take | "
             "gap r with the emotion | gap r animated neutral | RMS r | rest gap in pauses ours with the emotion/theirs cm |",
             "|" + "---|" * 11]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if np.isfinite(a) and np.isfinite(b) and b > 1e-9 else "nan"

    for key in speakers_methods or sorted(data):
        spk, m = key
        per = data.get(key, {})
        neu = per.get("neutral")
        if neu is None:
            lines.append(f"| {spk} | {m} | (no neutral take: ratios need one) | | | | | | | | |")
            continue
        for e in ["neutral"] + sorted(x for x in per if x != "neutral"):
            d = per[e]
            lines.append(
                f"| {spk} | {m} | {e} @ {d['intensity']} | {ratio(d['ref50'], neu['ref50'])}, {ratio(d['ref90'], neu['ref90'])} | "
                f"{ratio(d['ref2_50'], neu['ref2_50'])}, {ratio(d['ref2_90'], neu['ref2_90'])} | "
                f"{ratio(d['emo50'], d['neu50'])}, {ratio(d['emo90'], d['neu90'])} | "
                f"{ratio(d['emo50'], neu['neu50'])}, {ratio(d['emo90'], neu['neu90'])} | {d['r_emo']:.2f} | {d['r_neu']:.2f} | "
                f"{d['rms_r']:.2f} | {d['rest_emo']:.2f}/{d['rest_ref']:.2f} |")
    return lines


def _second_tracker_opening(gap2: np.ndarray, wav: Path, fps: float) -> tuple[float, float]:
    """Return the second tracker's p50 and p90 gap over the clip's speech frames (its own frame rate; NaN-safe)."""
    from generators.speech.audio import load_audio
    from generators.speech.talking import frame_activity

    voiced = (frame_activity(load_audio(str(wav)), len(gap2), fps) > 0.5) & np.isfinite(gap2)
    if voiced.sum() < 3:
        return float("nan"), float("nan")
    return float(np.percentile(gap2[voiced], 50)), float(np.percentile(gap2[voiced], 90))


def _intensity_arg(value: str) -> float | str:
    """Return 'auto' or the intensity in 0..1 (argparse type)."""
    if value == "auto":
        return value
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not 0.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"intensity must be a number in 0..1 or 'auto', got {value!r}")
    return x


def main(argv: list[str] | None = None) -> int:
    from avatar.errors import AvatarInputError
    from generators.speech.realism import RELIABLE_AGREEMENT, clip_audio, load_clips, measure_clip, tracker_agreement

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--audio", action="append", default=None,
                    help=f"folder of <clip id>.wav or .flac (repeatable; default: {DATA.relative_to(ROOT)} and its audio/)")
    ap.add_argument("--tracks", action="append", default=None, help="tracks .npz (repeatable; default: the shipped set)")
    ap.add_argument("--methods", default="hybrid+text,hybrid,phonetic+text",
                    help="comma-separated: hybrid, neural, phonetic, and hybrid+text / phonetic+text (with the "
                         "clip's transcript); hybrid+text is what animate does with a transcript; stream: the causal "
                         "StreamingAnimator in 20 ms chunks")
    ap.add_argument("--speakers", default="", help="comma-separated speakers to score (default: all)")
    ap.add_argument("--limit", type=int, default=0, help="at most N clips per speaker")
    ap.add_argument("--out", default=None, help="write the table as markdown here")
    ap.add_argument("--model", default=None, help="speech checkpoint folder for hybrid/neural (default: the shipped one)")
    ap.add_argument("--compare-model", default=None, help="a second checkpoint: its hybrid/neural rows are <method>@cmp")
    ap.add_argument("--emotion-intensity", type=_intensity_arg, default=DEFAULT_EMOTION_INTENSITY,
                    help="intensity for clips with an emotion but no level (CREMA-D XX), a number in 0..1 or 'auto' "
                         f"(default {DEFAULT_EMOTION_INTENSITY}: CREMA-D's medium)")
    ap.add_argument("--second-tracker", default=str(SECOND_TRACKER),
                    help="a second tracker's gaps (.npz of one array per clip id, scripts/track_lips_mediapipe.py); "
                         "'' to skip the agreement check")
    ap.add_argument("--noise", default="clean",
                    help="what both we and the RMS baseline hear instead of the clean recording, as a camera or phone "
                         "take would give it: white20, pink10, brown15, babble10 (noise at that SNR in dB; babble mixes "
                         "the other speakers' clips), reverb50 (a room, reverberance 0-100); default clean")
    args = ap.parse_args(argv)
    args.audio = args.audio or [str(DATA), str(DATA / "audio")]
    try:
        from generators.speech.noise import parse_condition

        noise_kind, _ = parse_condition(args.noise)
    except AvatarInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tracks = args.tracks or sorted(str(p) for p in DATA.glob("*.npz"))
    if not tracks:
        print(f"error: no tracks files in {DATA}; pass --tracks", file=sys.stderr)
        return 2
    try:
        clips = [c for t in tracks for c in load_clips(t)]
    except AvatarInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    second = {}
    if args.second_tracker:
        try:
            with np.load(args.second_tracker) as z:
                second = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            print(f"error: cannot read the second tracker's gaps {args.second_tracker} ({exc}); pass --second-tracker ''"
                  " to skip the check", file=sys.stderr)
            return 2
    voices: dict[str, list[np.ndarray]] = defaultdict(list)  # speaker -> clips' samples, the babble of the others
    if noise_kind == "babble":
        from generators.speech.audio import load_audio

        for c in clips:
            w = clip_audio(c, args.audio)
            if w is not None:
                voices[c.speaker].append(load_audio(str(w)).samples)
    agreement: dict[str, list[float]] = defaultdict(list)
    want = {s for s in args.speakers.split(",") if s}
    methods = [m for m in args.methods.split(",") if m]
    if args.compare_model:
        methods += [f"{m}@cmp" for m in methods if m in ("hybrid", "neural", "hybrid+text")]
    rows, per_speaker, counts = [], defaultdict(lambda: defaultdict(list)), defaultdict(int)
    emotional: dict = defaultdict(dict)  # (speaker, method) -> emotion -> openings and r (clips with an emotion)
    acted = set()  # speakers from acted-emotion corpora
    header = ("| clip | speaker | method | gap r | lag ms | jaw r | RMS r | p50 ratio | p90 ratio | shut agree | "
              "rest gap ours/theirs cm | trackers r |")
    print(header)
    print("|" + "---|" * 12)
    for clip in clips:
        spk = clip.speaker
        if want and spk not in want:
            continue
        stem = clip.name.split("/")[-1]
        wav = clip_audio(clip, args.audio)
        if wav is None or (args.limit and counts[spk] >= args.limit):
            continue
        counts[spk] += 1
        agree = tracker_agreement(clip.gap, second[stem]) if stem in second else float("nan")
        agreement[spk].append(agree)
        if clip.emotion:
            acted.add(spk)
            ref2 = _second_tracker_opening(second[stem], wav, clip.fps) if stem in second else (float("nan"),) * 2
            level = clip.intensity if np.isfinite(clip.intensity) else args.emotion_intensity
        for m in methods:
            if m.endswith("+text") and not clip.text:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                base, _, cmp = m.partition("@")
                heard = {"condition": args.noise, "voices": [v for sp, vs in voices.items() if sp != spk for v in vs]}
                res = measure_clip(clip, wav, base, model=args.compare_model if cmp else args.model, **heard)
                if clip.emotion:
                    emo = res if clip.emotion == "neutral" else measure_clip(
                        clip, wav, base, model=args.compare_model if cmp else args.model, emotion=clip.emotion,
                        intensity=level, **heard)
                    emotional[(spk, m)][clip.emotion] = {
                        "intensity": "-" if clip.emotion == "neutral" else level, "ref50": res["p50_ref_cm"],
                        "ref90": res["p90_ref_cm"], "ref2_50": ref2[0], "ref2_90": ref2[1], "neu50": res["p50_ours_cm"],
                        "neu90": res["p90_ours_cm"], "emo50": emo["p50_ours_cm"], "emo90": emo["p90_ours_cm"],
                        "r_emo": emo["gap"].r, "r_neu": res["gap"].r, "rms_r": res["rms_r"],
                        "rest_emo": emo["gap"].rest_ours_cm, "rest_ref": res["gap"].rest_ref_cm}
            g, j = res["gap"], res["jaw"]
            row = (f"| {clip.name} | {spk} | {m} | {g.r:.2f} | {g.lag_s * 1000:+.0f} | {j.r:.2f} | {res['rms_r']:.2f} | "
                   f"{g.p50_ratio:.2f} | {g.p90_ratio:.2f} | {g.shut_agreement:.2f} | {g.rest_ours_cm:.2f}/{g.rest_ref_cm:.2f} | "
                   f"{agree:.2f} |")
            print(row, flush=True)
            rows.append(row)
            for k, v in (("gap_r", g.r), ("jaw_r", j.r), ("rms_r", res["rms_r"]), ("p50", g.p50_ratio), ("p90", g.p90_ratio),
                         ("shut", g.shut_agreement), ("rest_ours", g.rest_ours_cm), ("rest_ref", g.rest_ref_cm)):
                per_speaker[(spk, m)][k].append(v)
    summary = ["", "| speaker | method | clips | gap r | jaw r | RMS r | gap r - RMS r | p50 ratio | p90 ratio | shut agree | "
               "rest gap ours/theirs cm |", "|" + "---|" * 11]
    for (spk, m), d in sorted(per_speaker.items()):
        mean = {k: float(np.nanmean(v)) for k, v in d.items()}
        summary.append(f"| {spk} | {m} | {len(d['gap_r'])} | {mean['gap_r']:.2f} | {mean['jaw_r']:.2f} | {mean['rms_r']:.2f} | "
                       f"{mean['gap_r'] - mean['rms_r']:+.2f} | {mean['p50']:.2f} | {mean['p90']:.2f} | {mean['shut']:.2f} | "
                       f"{mean['rest_ours']:.2f}/{mean['rest_ref']:.2f} |")
    # Every speaker counts once, however many clips it has: the speakers' mean, and how many meet the
    # issue's bars (r >= 0.65 audio only / 0.70 with text, >= 0.20 above RMS, p90 within +-25 %).
    # A speaker counts as reliably measured unless the two trackers disagree on most of its clips (no second
    # track: trusted, and the table's "trackers r" says nan).
    unreliable = {sp for sp, v in agreement.items() if np.isfinite(v).any() and np.nanmedian(v) < RELIABLE_AGREEMENT}
    overall = ["", "| method | speakers | mean gap r | speakers r >= bar | mean gap r - RMS r | speakers >= +0.20 | "
               "p90 ratio (geometric mean) | speakers p90 within +-25 % |", "|" + "---|" * 8]
    subsets = {"all": lambda sp: True, "reliable": lambda sp: sp not in unreliable,
               "read": lambda sp: sp not in acted, "read+reliable": lambda sp: sp not in acted and sp not in unreliable}
    labels = {"all": "", "reliable": " (reliably measured)", "read": " (without acted-emotion speakers)",
              "read+reliable": " (without acted-emotion speakers, reliably measured)"}
    for m, subset in ((m, subset) for m in methods for subset in subsets):
        spk = [d for (sp, mm), d in sorted(per_speaker.items()) if mm == m and subsets[subset](sp)]
        if (not spk or ("reliable" in subset and not unreliable) or ("read" in subset and not acted)
                or (subset == "read+reliable" and not (unreliable - acted))):
            continue
        r = np.array([np.nanmean(d["gap_r"]) for d in spk])
        adv = r - np.array([np.nanmean(d["rms_r"]) for d in spk])
        p90 = np.array([np.exp(np.nanmean(np.log(d["p90"]))) for d in spk])
        bar = 0.70 if m.startswith(("hybrid+text", "phonetic+text")) else 0.65
        label = m + labels[subset]
        overall.append(f"| {label} | {len(spk)} | {r.mean():.2f} | {(r >= bar).sum()} of {len(spk)} (>= {bar:.2f}) | "
                       f"{adv.mean():+.2f} | {(adv >= 0.2).sum()} of {len(spk)} | {np.exp(np.log(p90).mean()):.2f} | "
                       f"{((p90 >= 0.75) & (p90 <= 1.25)).sum()} of {len(spk)} |")
    summary += overall
    if unreliable:
        summary += ["", "Not reliably measured (two trackers' gaps agree under "
                    f"r = {RELIABLE_AGREEMENT:.2f} on most clips): " + ", ".join(
                        f"{sp} (median trackers r {np.nanmedian(agreement[sp]):.2f})" for sp in sorted(unreliable))]
    summary += emotion_table(emotional, [(sp, m) for m in methods for sp in sorted({k[0] for k in emotional})
                                         if (sp, m) in emotional])
    print("\n".join(summary))
    if args.out:
        out = Path(args.out)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("\n".join([header, "|" + "---|" * 12, *rows, *summary]) + "\n")
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
