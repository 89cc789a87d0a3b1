"""Live latency: from an audio chunk's arrival to the Live Link packet of each frame it decides, at 30 fps.

A speech clip (espeak-ng) is replayed in real time in 20 ms chunks through the same path as
`emoavatar stream --livelink` (a warmed `StreamingAnimator`, `LiveLinkSender` to a UDP socket on 127.0.0.1
that this script reads), and prints, per frame:

* processing: the chunk's arrival (the moment its audio was "heard") -> the frame's packet received;
* end to end: the moment the frame's own instant was spoken (start + t) -> its packet received, which is
  the algorithmic latency (look-ahead; 92.5 ms for the shipped model) + waiting for the chunk that holds
  it (up to one chunk) + processing.

Frames are sent as soon as they are decided (a live source: no pacing delay added), so "end to end" is the
lowest latency the stream can have; `--realtime` on a file adds one chunk to keep an even cadence.

    nice -n 10 python benchmarks/bench_live.py [--chunk-ms 20] [--fps 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = "papa bob buys maps by the pond, and mama pam opens the big window wide to let the morning in"


def run(samples: np.ndarray, rate: int, chunk_ms: float, fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Return (processing ms per frame, end-to-end ms per frame, algorithmic latency ms) of one real-time replay."""
    from generators.speech.streaming import StreamingAnimator

    from avatar.app.live.livelink import LiveLinkSender
    from avatar.app.live.target import parse_target
    from avatar.app.live.warmup import warm_up
    from avatar.io.livelink_packet import decode_packet

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    sender = LiveLinkSender(parse_target(f"127.0.0.1:{rx.getsockname()[1]}", 11111, "--livelink"), fps)
    anim = StreamingAnimator(fps=fps, sample_rate=rate)
    warm_up(anim)
    n = max(1, int(round(chunk_ms / 1000 * rate)))
    arrival: dict[int, float] = {}
    received: dict[int, float] = {}

    def drain() -> None:
        while True:
            try:
                data = rx.recv(4096)
            except BlockingIOError:
                return
            received[decode_packet(data).frame_number - sender.frame0] = time.perf_counter()

    start = time.perf_counter()
    for k, i in enumerate(range(0, len(samples), n)):
        heard = start + (i + len(samples[i : i + n])) / rate  # the chunk exists once its last sample is spoken
        while time.perf_counter() < heard:
            time.sleep(max(0.0, min(0.002, heard - time.perf_counter())))
        t_in = time.perf_counter()
        for f in anim.push(samples[i : i + n]):
            arrival[f.index] = t_in
            sender.send(f.index, f.weights, f.head_pose)
        drain()
    time.sleep(0.05)
    drain()
    sender.close()
    rx.close()
    idx = sorted(set(arrival) & set(received))
    processing = np.array([received[i] - arrival[i] for i in idx]) * 1000
    end_to_end = np.array([received[i] - (start + i / fps) for i in idx]) * 1000
    return processing, end_to_end, 1000 * anim.latency_s


def main() -> int:
    """Print the latency table; return 0."""
    from benchmarks._machine import machine
    from generators.speech.audio import load_audio

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunk-ms", type=float, default=20.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        print("needs espeak-ng", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), TEXT], check=True, capture_output=True)
        clip = load_audio(wav)
    print(f"machine: {machine()}")
    print(f"clip: {len(clip.samples) / clip.sample_rate:.2f} s espeak-ng en-us; chunks {args.chunk_ms:g} ms; {args.fps:g} fps; "
          f"{args.repeats} real-time replays")
    proc_all, e2e_all = [], []
    for r in range(args.repeats):
        proc, e2e, algo = run(clip.samples, clip.sample_rate, args.chunk_ms, args.fps)
        proc_all.append(proc)
        e2e_all.append(e2e)
        print(f"  run {r + 1}: {len(proc)} frames; processing median {np.median(proc):.1f} ms p95 {np.percentile(proc, 95):.1f} ms; "
              f"end to end median {np.median(e2e):.1f} ms p95 {np.percentile(e2e, 95):.1f} ms")
    proc, e2e = np.concatenate(proc_all), np.concatenate(e2e_all)
    print(f"algorithmic latency (model look-ahead + half window + one 50 Hz step): {algo:.1f} ms")
    print(f"processing (chunk in -> its packets out): median {np.median(proc):.1f} ms, p95 {np.percentile(proc, 95):.1f} ms, "
          f"max {proc.max():.1f} ms")
    print(f"end to end (instant spoken -> its packet): median {np.median(e2e):.1f} ms, p95 {np.percentile(e2e, 95):.1f} ms, "
          f"max {e2e.max():.1f} ms (target <= 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
