"""Prints batch throughput (clips per minute) for a fixed manifest of 3 s clips at 256x256: 1 and 2 workers, local and Ray.

    python benchmarks/bench_batch.py            # 100 clips per configuration
    python benchmarks/bench_batch.py --quick    # 10 clips
    python benchmarks/bench_batch.py --baseline DIR --clips 20 --repeats 3   # local configurations only, each run
                                                # interleaved with an earlier checkout's (git worktree add DIR <commit>)

Each configuration renders into a fresh folder (wall time includes starting the workers, and for Ray the
cluster). Where the time goes is read from the report: the mean job seconds (worker-side: pose, render,
encode, score) against the wall time per clip; a second, unscored local run shows what the judge costs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine  # noqa: E402

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


def manifest(path: Path, n: int) -> Path:
    """Write the fixed manifest: n clips of 3 s at 256x256, 30 fps, cycling emotions, intensities and views."""
    rows = []
    for i in range(n):
        rows.append({"id": f"clip{i:03d}", "emotion": EMOTIONS[i % 8], "intensity": (0.5, 0.75, 1.0)[i % 3],
                     "view": ("front", "three-quarter")[i % 2], "size": 256, "fps": 30, "duration": 3.0,
                     "output": f"clips/clip{i:03d}.mp4"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def run(man: Path, workers: int, backend: str, score: bool) -> dict[str, float]:
    """Return wall seconds, clips per minute and mean job seconds of one batch run into a fresh folder."""
    from avatar.app.batch import run_batch

    out = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        t0 = time.perf_counter()
        res = run_batch(man, out, workers=workers, backend=backend, judge="fer2013" if score else None, device="cpu", progress=False,
                        log=lambda s: None)
        wall = time.perf_counter() - t0
        assert res.ok, res.counts
        jobs = [r["seconds"] for r in res.results]
        return {"wall": wall, "cpm": 60.0 * len(jobs) / wall, "job_s": sum(jobs) / len(jobs)}
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_in(root: Path, man: Path, workers: int, backend: str, score: bool) -> dict[str, float]:
    """Return `run`'s figures measured in a fresh process importing the checkout `root` (this one or a baseline)."""
    out = subprocess.run([sys.executable, __file__, "--one", str(man), str(workers), backend, str(int(score))],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    if out.returncode:
        raise SystemExit(f"batch run failed in {root}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(man: Path, baseline: Path, repeats: int) -> None:
    """Print clips per minute of the local configurations, this checkout against `baseline`, interleaved, medians."""
    roots = {"this checkout": Path(__file__).resolve().parents[1], "baseline": baseline.resolve()}
    print(f"{'backend':8s} {'workers':>7s} {'score':>5s} {'checkout':>14s} {'clips/min (median)':>19s} {'runs':>24s}")
    for backend, workers, score in [("local", 2, False), ("local", 2, True)]:
        cpm: dict[str, list[float]] = {k: [] for k in roots}
        for _ in range(repeats):
            for k, root in reversed(roots.items()):
                cpm[k].append(run_in(root, man, workers, backend, score)["cpm"])
        for k, v in cpm.items():
            print(f"{backend:8s} {workers:7d} {'yes' if score else 'no':>5s} {k:>14s} {statistics.median(v):19.1f} "
                  f"{', '.join(f'{x:.1f}' for x in v):>24s}", flush=True)
        print(f"  this checkout / baseline: {statistics.median(cpm['this checkout']) / statistics.median(cpm['baseline']):.2f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 clips instead of 100")
    ap.add_argument("--clips", type=int, default=None, help="clips in the manifest (default 100, --quick 10)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray configurations")
    ap.add_argument("--baseline", type=Path, default=None, help="an earlier checkout to compare with (local configurations)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per checkout with --baseline")
    ap.add_argument("--one", nargs=4, metavar=("MANIFEST", "WORKERS", "BACKEND", "SCORE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        man, workers, backend, score = args.one
        print(json.dumps(run(Path(man), int(workers), backend, bool(int(score)))))
        return
    n = args.clips or (10 if args.quick else 100)
    print(f"machine: {machine()}")
    print(f"machine load average {os.getloadavg()[0]:.1f}")
    print(f"manifest: {n} clips x 3 s at 256x256, 30 fps (90 frames each), MP4; judge fer2013 on 24 frames per clip")
    with tempfile.TemporaryDirectory() as tmp:
        man = manifest(Path(tmp) / "bench.jsonl", n)
        if args.baseline:
            compare(man, args.baseline, args.repeats)
            return
        configs = [("local", 1, True), ("local", 2, True), ("local", 2, False)]
        if not args.no_ray:
            try:
                import ray  # noqa: F401

                configs += [("ray", 1, True), ("ray", 2, True)]
            except ImportError:
                print("ray not installed: pip install 'emoavatar[batch]'")
        print(f"{'backend':8s} {'workers':>7s} {'score':>5s} {'wall s':>8s} {'clips/min':>10s} {'job s':>7s}")
        for backend, workers, score in configs:
            r = run(man, workers, backend, score)
            print(f"{backend:8s} {workers:7d} {'yes' if score else 'no':>5s} {r['wall']:8.1f} {r['cpm']:10.1f} {r['job_s']:7.2f}", flush=True)


if __name__ == "__main__":
    main()
