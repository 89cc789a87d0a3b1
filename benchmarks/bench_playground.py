"""Prints the playground's time to first render at start-up and the server's memory (RSS) over 50 requests.

Starts `emoavatar serve` on a free port as a user does, reads the start-up timings it prints, then
drives its Gradio API with gradio_client against 127.0.0.1: by default 40 Expression read-outs
(every emotion, intensities, views, identities; every judge), 5 Speech animations (a 2.5 s espeak-ng
clip -> MP4 + CSV + GLB) and 5 small Fidelity sweeps, interleaved. RSS and peak RSS (VmHWM) of the
server process are read from /proc after start-up and after every 10 requests.

    python benchmarks/bench_playground.py [--requests 50] [--expression-only] [--port 0]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
AU_SLIDERS = 16  # avatar.app.playground.expression.MAIN_AUS


def rss_mb(pid: int) -> tuple[float, float]:
    """Return (current RSS, peak RSS) of process `pid` in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> tuple[subprocess.Popen, str, float]:
    """Return (the server process, its start-up log, wall seconds until it listened)."""
    exe = shutil.which("emoavatar")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from avatar.app.cli import main; sys.exit(main())"]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*cmd, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = []
    while True:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit(f"emoavatar serve exited ({proc.wait()}):\n{''.join(log)}")
        log.append(line)
        if "open http://" in line:
            return proc, "".join(log), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--expression-only", action="store_true", help="only Expression read-outs (no speech, no sweeps)")
    ap.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gradio_client import Client, handle_file

    from avatar.app.playground.shading import default_switches

    shading = default_switches()  # the Shading group's value on an untouched page (each tab's handler takes it)

    print(machine())
    work = Path(tempfile.mkdtemp(prefix="bench-playground-"))
    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "hello there, how are you today, I am fine"], check=True)
    port = args.port or free_port()
    proc, log, listen_s = start_server(port)
    try:
        first = re.search(r"first render in ([\d.]+) s", log)
        readout = re.search(r"every judge in ([\d.]+) s", log)
        print(f"start-up: first render {first.group(1) if first else '?'} s, first read-out with every judge "
              f"{readout.group(1) if readout else '?'} s, listening after {listen_s:.1f} s (process start to URL)")
        rss0, _ = rss_mb(proc.pid)
        print(f"RSS after start-up: {rss0:.0f} MB")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        kinds: dict[str, list[float]] = {"expression": [], "animate": [], "fidelity": []}
        for i in range(args.requests):
            kind = "expression"
            if not args.expression_only and i % 10 == 4:
                kind = "animate"
            elif not args.expression_only and i % 10 == 9:
                kind = "fidelity"
            t = time.perf_counter()
            if kind == "expression":
                emotion = EMOTIONS[i % len(EMOTIONS)]
                view = ("front", "three-quarter", "profile", "yaw slider")[i % 4]
                client.predict("emotion", emotion, 0.4 + 0.6 * (i % 3) / 2, 0.0, 0.0, view, 10.0 * (i % 7), i % 5, shading,
                               *([0.0] * AU_SLIDERS), api_name="/expression")
            elif kind == "animate":
                client.predict(handle_file(str(wav)), "", EMOTIONS[i % 8], 0.7, "", 0, "front", i, shading, api_name="/animate")
            else:
                client.predict(list(EMOTIONS), ["1.0"], "0", ["front"], ["fer2013", "expression-net"], 128, shading, api_name="/fidelity")
            kinds[kind].append(time.perf_counter() - t)
            if (i + 1) % 10 == 0:
                rss, peak = rss_mb(proc.pid)
                print(f"after {i + 1:3d} requests: RSS {rss:.0f} MB (peak {peak:.0f} MB)")
        rss, peak = rss_mb(proc.pid)
        for kind, times in kinds.items():
            if times:
                print(f"{kind:10s}: {len(times):2d} requests, median {sorted(times)[len(times) // 2]:.2f} s, max {max(times):.2f} s")
        print(f"RSS after {args.requests} requests: {rss:.0f} MB (start-up {rss0:.0f} MB, growth {rss - rss0:+.0f} MB, peak {peak:.0f} MB)")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
