"""Print the streaming normaliser's prior (`streaming.PRIOR_SHAPE_40`, `PRIOR_STD_40`) measured on a folder of voices.

    python scripts/fit_stream_prior.py VOICES_DIR [--speakers-every 2 --speakers-offset 0] [--exclude PREFIX ...]

Every <speaker>__<utterance>.wav (or .flac) of VOICES_DIR is cut into the speech model's 40-band log-mel
(`net_numpy.raw_log_mel`: the features before `log_mel`'s per-utterance normalisation); per clip the band means less their
mean over bands (the gain-free shape) and the band standard deviations; averaged per speaker first and then over
speakers, so that one speaker with many clips weighs as much as one with a single clip. `--speakers-every N
--speakers-offset K` keeps every Nth speaker by sorted name from the Kth (the others are left for checking the
result). Prints the two arrays as Python, ready to paste into generators/speech/streaming.py.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from avatar.errors import AvatarInputError
    from generators.speech.audio import load_audio
    from generators.speech.net_numpy import as_numpy_model, raw_log_mel, resample

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("voices", help="folder of <speaker>__<utterance>.wav/.flac clips")
    ap.add_argument("--speakers-every", type=int, default=1, help="keep every Nth speaker (sorted by name)")
    ap.add_argument("--speakers-offset", type=int, default=0, help="...starting from the Kth")
    ap.add_argument("--exclude", action="append", default=[], help="leave out speakers whose name starts with this")
    args = ap.parse_args(argv)
    folder = Path(args.voices)
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".wav", ".flac")) if folder.is_dir() else []
    if not files:
        print(f"error: {folder} holds no .wav or .flac clips; name a folder of <speaker>__<utterance>.wav files",
              file=sys.stderr)
        return 2
    speakers = sorted({p.stem.split("__")[0] for p in files if not any(p.stem.startswith(e) for e in args.exclude)})
    keep = set(speakers[args.speakers_offset :: max(1, args.speakers_every)])
    config = as_numpy_model(None).config
    shapes, stds = defaultdict(list), defaultdict(list)
    for p in files:
        spk = p.stem.split("__")[0]
        if spk not in keep:
            continue
        try:
            audio = load_audio(str(p))
        except AvatarInputError as exc:
            print(f"skipping {p.name}: {exc}", file=sys.stderr)
            continue
        mel = raw_log_mel(resample(audio.samples, audio.sample_rate, int(config["sample_rate"])), config)
        mu = mel.mean(axis=1)
        shapes[spk].append(mu - mu.mean())
        stds[spk].append(mel.std(axis=1))
    if not shapes:
        print("error: no clip could be read; check the folder and --exclude", file=sys.stderr)
        return 2
    shape = np.mean([np.mean(v, axis=0) for v in shapes.values()], axis=0)
    std = np.sqrt(np.mean([np.mean(np.square(v), axis=0) for v in stds.values()], axis=0))
    clips = sum(len(v) for v in shapes.values())
    print(f"# {len(shapes)} speakers, {clips} clips from {folder}")
    for name, arr in (("PRIOR_SHAPE_40", shape), ("PRIOR_STD_40", std)):
        print(f"{name} = np.array([\n    " + ", ".join(f"{v:.3f}" for v in arr) + "])")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
