"""Calibrate a speech checkpoint's lip-opening amplitude on real talkers: its `opening_gain`, written into config.json.

    python scripts/calibrate_opening.py --model CKPT [--tracks benchmarks/data/realism/val/grid_val.npz]
        [--audio benchmarks/data/realism/audio] [--method neural] [--write]

Pearson r with a person's lips does not see scale, so a fine-tune can follow people closely and still open the
mouth too little (the p90 term of `finetune_speech_real.py` fits the training talkers' clips one by one, and the
mean of log ratios it minimises is not the speakers' typical amplitude). This script measures the checkpoint on
the tracks' speakers (the validation speakers by default: never trained on, and not the held-out ones the
benchmark reports) at a few gains, each clip as `bench_realism.py` scores it (`realism.measure_clip`: our p90 lip
gap over the person's on speech frames), takes per speaker the geometric mean over clips and over speakers the
geometric mean again, and solves for the gain that makes that 1.0 (log p90 is near linear in log gain; the answer
is then measured to confirm). `--write` stores it as the checkpoint's `opening_gain` (atomically: a temp file,
then rename), which every path applies (`net_numpy.apply_opening_gain`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data" / "realism"
GAINS = (0.8, 1.0, 1.25, 1.6)


def speakers_p90(model, clips: list, audio: dict[str, Path], method: str) -> tuple[float, dict[str, float]]:  # noqa: ANN001
    """Return (geometric mean over speakers, {speaker: geometric mean over clips}) of our p90 gap over the person's."""
    from generators.speech.realism import measure_clip

    per = defaultdict(list)
    for clip in clips:
        res = measure_clip(clip, audio[clip.name], method, model=model)
        if np.isfinite(res["gap"].p90_ratio) and res["gap"].p90_ratio > 0:
            per[clip.speaker].append(np.log(res["gap"].p90_ratio))
    spk = {s: float(np.exp(np.mean(v))) for s, v in sorted(per.items())}
    return float(np.exp(np.mean(np.log(list(spk.values()))))), spk


def solve_gain(gains: list[float], ratios: list[float]) -> float:
    """Return the gain at which the fitted line log(ratio) = a + b log(gain) reaches ratio 1."""
    b, a = np.polyfit(np.log(gains), np.log(ratios), 1)
    if b <= 0:
        raise SystemExit("the p90 ratio does not grow with the gain on these clips: nothing to calibrate")
    return float(np.exp(-a / b))


def write_gain(folder: Path, gain: float) -> None:
    """Store `gain` as config.json's opening_gain (temp file then rename)."""
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["opening_gain"] = round(gain, 3)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    from avatar.errors import AvatarInputError
    from generators.speech.neural import SpeechToARKit
    from generators.speech.realism import clip_audio, load_clips

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="speech checkpoint folder (config.json + safetensors)")
    ap.add_argument("--tracks", action="append", default=None,
                    help="tracks .npz of the calibration speakers (default: the validation speakers')")
    ap.add_argument("--audio", action="append", default=None, help="folder of <clip id>.wav/.flac (default: the shipped audio)")
    ap.add_argument("--method", default="neural", help="the path whose amplitude is calibrated (default: neural, the model alone)")
    ap.add_argument("--write", action="store_true", help="store the gain in the checkpoint's config.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    folder = Path(args.model)
    if not (folder / "config.json").is_file():
        raise SystemExit(f"{folder} is not a speech checkpoint: pass a folder written by SpeechToARKit.save_pretrained")
    tracks = args.tracks or [str(DATA / "val" / "grid_val.npz")]
    dirs = [Path(d) for d in (args.audio or [str(DATA / "audio"), str(DATA)])]
    try:
        clips = [c for t in tracks for c in load_clips(t)]
    except AvatarInputError as exc:
        raise SystemExit(str(exc)) from None
    audio = {c.name: path for c in clips if (path := clip_audio(c, dirs)) is not None}
    clips = [c for c in clips if c.name in audio]
    if not clips:
        raise SystemExit(f"no clip of {tracks} has audio in {[str(d) for d in dirs]}: pass --audio FOLDER")
    model = SpeechToARKit.from_pretrained(folder)
    start = float(model.config.get("opening_gain", 1.0))
    print(f"{len(clips)} clips, {len({c.speaker for c in clips})} speakers; checkpoint's opening_gain now {start}")
    ratios = []
    for g in GAINS:
        model.register_to_config(opening_gain=g)
        ratio, spk = speakers_p90(model, clips, audio, args.method)
        ratios.append(ratio)
        print(f"gain {g:.2f}: p90 ratio {ratio:.3f} (" + ", ".join(f"{s} {v:.2f}" for s, v in spk.items()) + ")", flush=True)
    gain = float(np.clip(solve_gain(list(GAINS), ratios), 0.25, 4.0))
    model.register_to_config(opening_gain=gain)
    ratio, spk = speakers_p90(model, clips, audio, args.method)
    print(f"calibrated gain {gain:.3f}: p90 ratio {ratio:.3f} (" + ", ".join(f"{s} {v:.2f}" for s, v in spk.items()) + ")")
    if args.write:
        write_gain(folder, gain)
        print(f"wrote opening_gain {gain:.3f} into {folder / 'config.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
