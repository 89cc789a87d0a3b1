"""Prints `emoavatar animate` speed end to end (real-time factor), where its time goes, and time to first frame.

Speech comes from espeak-ng when it is installed (a ~6 s sentence), otherwise from a synthetic voiced signal of the
same length. Measured, each in a fresh process (the user's experience):

- `python -m avatar animate speech.wav --emotion happy -o talk.mp4` (512x512): wall seconds, real-time factor
  (audio seconds / wall seconds; 2.0 means twice as fast as real time), and the MP4 checked (frames, video and
  audio length).
- The same job in stages: imports, `avatar.animate` (audio -> sequence), render + encode (`write_sequence_video`).
- Time to first frame: imports + head + GL context + shaders + one 512x512 frame in memory.

    python benchmarks/bench_pipeline.py [--size 512] [--repeats 2] [--baseline DIR] [--smoke]

--smoke: 1.5 s of audio at 128x128, once (tests/test_speed_paths.py runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from _machine import machine

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = "Hello there, it is lovely to see you again today. I brought news that will make everyone smile."

STAGES_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import avatar.app.facade as P
from avatar.app.cli.common import write_sequence_video
t1 = time.perf_counter()
seq = P.animate({wav!r}, emotion="happy")
t2 = time.perf_counter()
renderer = P.get_renderer(None, None, {size}, {size})
write_sequence_video(renderer, seq, {out!r}, seq.audio, False)
t3 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "animate": t2 - t1, "render_encode": t3 - t2, "frames": len(seq)}}))
"""

FIRST_FRAME_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
r = GLRenderer(options=RendererOptions(width={size}, height={size}))
img = r.render(np.zeros(52, np.float32))
print(time.perf_counter() - t0)
"""


def make_speech(path: Path, seconds: float) -> float:
    """Write a speech WAV to `path` (espeak-ng, or a synthetic voiced signal); return its duration in seconds."""
    espeak = shutil.which("espeak-ng")
    if espeak is not None and seconds >= 3:
        subprocess.run([espeak, "-v", "en-us", "-s", "165", "-w", str(path), SENTENCE], check=True, capture_output=True)
    else:
        sr = 16000
        t = np.arange(int(seconds * sr)) / sr
        pitch = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
        phase = 2 * np.pi * np.cumsum(pitch) / sr
        voice = sum(np.sin(k * phase) / k for k in range(1, 8))
        syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)  # ~4 syllables a second
        pcm = (voice * syllables * 6000).astype(np.int16)
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1), f.setsampwidth(2), f.setframerate(sr), f.writeframes(pcm.tobytes())
    with wave.open(str(path)) as f:
        return f.getnframes() / f.getframerate()


def run(cmd: list[str], root: Path = ROOT) -> float:
    """Return the wall seconds of a command run from the checkout `root` (this one or a baseline; fails loudly)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=root, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(root)})
    return time.perf_counter() - t0


def first_frame(size: int, root: Path = ROOT) -> float:
    """Return the seconds to the first frame in a fresh interpreter importing the checkout `root`."""
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME_SNIPPET.format(size=size)], cwd=root, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="1.5 s of audio at 128x128, once: checks that the script runs")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an earlier checkout (e.g. `git archive <commit> | tar -x -C DIR`) timed interleaved with this one")
    args = ap.parse_args()
    roots = {"this checkout": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    if args.smoke:
        args.size, args.repeats = 128, 1
    from renderers.writers import probe_video

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        wav, out = Path(tmp) / "speech.wav", Path(tmp) / "talk.mp4"
        audio_s = make_speech(wav, 1.5 if args.smoke else 6.0)
        cmd = [sys.executable, "-m", "avatar", "animate", str(wav), "--emotion", "happy", "--size", str(args.size),
               "-o", str(out), "--no-progress"]
        walls: dict[str, list[float]] = {k: [] for k in roots}
        for _ in range(args.repeats):
            for k, root in reversed(roots.items()):  # this checkout last, so `out` is its MP4
                walls[k].append(run(cmd, root))
        frames, video_s, audio_out = probe_video(out)
        for k, v in walls.items():
            best = min(v)
            print(f"\nemoavatar animate, {k} ({audio_s:.2f} s of speech -> {args.size}x{args.size} MP4), whole process: best "
                  f"{best:.2f} s of {args.repeats}; real-time factor {audio_s / best:.2f}x (target >= 2; load {os.getloadavg()[0]:.1f})")
        print(f"  the MP4: {frames} frames, video {video_s:.2f} s, audio {audio_out if audio_out is None else round(audio_out, 3)} s")
        stages = json.loads(subprocess.run([sys.executable, "-c", STAGES_SNIPPET.format(wav=str(wav), size=args.size, out=str(out))],
                                           cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(f"  stages in one process: imports {stages['imports']:.2f} s, audio -> sequence (avatar.animate) "
              f"{stages['animate']:.2f} s, render + encode {stages['render_encode']:.2f} s "
              f"({stages['frames'] / stages['render_encode']:.1f} frames/s)")
    firsts: dict[str, list[float]] = {k: [] for k in roots}
    for _ in range(max(1, args.repeats) + 1):
        for k, root in roots.items():
            firsts[k].append(first_frame(args.size, root))
    for k, v in firsts.items():
        print(f"\ntime to first frame, {k} ({args.size}x{args.size}, fresh process, from the first import; best of {len(v)}): "
              f"{min(v):.3f} s (target <= 0.3; load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
