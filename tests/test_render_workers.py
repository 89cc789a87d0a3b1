"""Frame ranges rendered in worker processes (renderers.workers): every frame, in order, the serial path's pixels;
failures in a worker surface in the caller; `emoavatar animate --workers` writes the same MP4 as one process."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError, SetupError
from renderers.workers import CHUNK, MIN_SPLIT_FRAMES, RenderWorkers, parse_workers, resolve_workers

ROOT = Path(__file__).resolve().parents[1]


class _IndexRenderer:
    """Stands in for a GLRenderer: frame t of a sequence shows its row index (weights[:, 0] = t) and the worker's pid,
    so order, count and who rendered what can be read back. `die_after` frames: the process exits (a crash)."""

    def __init__(self, die_after: int | None = None, slow: float = 0.0) -> None:
        self.die_after, self.slow, self.drawn = die_after, slow, 0

    def iter_frames(self, weights: np.ndarray, head_pose: np.ndarray | None = None):
        for row, pose in zip(weights, head_pose if head_pose is not None else [None] * len(weights)):
            if self.die_after is not None and self.drawn >= self.die_after:
                os._exit(3)
            time.sleep(self.slow)
            self.drawn += 1
            img = np.zeros((4, 6, 3), np.uint8)
            t = int(round(float(row[0])))
            img[0, :2, 0] = t // 256, t % 256
            img[1, :3, 1] = np.frombuffer(os.getpid().to_bytes(3, "little"), np.uint8)
            img[2, 0, 2] = int(pose[0]) if pose is not None else 255
            yield img


def _sequence(n: int) -> tuple[np.ndarray, np.ndarray]:
    w = np.zeros((n, 52), np.float32)
    w[:, 0] = np.arange(n)
    hp = np.zeros((n, 6))
    hp[:, 0] = np.arange(n) % 7
    return w, hp


def test_frames_come_back_in_order_every_one_from_both_workers() -> None:
    n = 5 * CHUNK + 3  # a last chunk that is not full
    w, hp = _sequence(n)
    with RenderWorkers(lambda: _IndexRenderer(slow=0.002), 2) as pool:
        frames = list(pool.frames(w, hp))
    assert len(frames) == n
    assert [int(f[0, 0, 0]) * 256 + int(f[0, 1, 0]) for f in frames] == list(range(n))
    assert [int(f[2, 0, 2]) for f in frames] == [t % 7 for t in range(n)]  # the head pose travelled with its row
    pids = {int.from_bytes(f[1, :3, 1].tobytes(), "little") for f in frames}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers rendered, the caller did not


def test_a_worker_that_cannot_start_raises_its_error_here() -> None:
    def broken() -> _IndexRenderer:
        raise SetupError("cannot create a headless OpenGL context (test); install EGL/Mesa")

    with RenderWorkers(broken, 2) as pool, pytest.raises(SetupError, match="headless OpenGL context"):
        list(pool.frames(*_sequence(20)))


def test_a_worker_that_dies_is_an_error_not_missing_frames() -> None:
    with RenderWorkers(lambda: _IndexRenderer(die_after=3), 2) as pool, pytest.raises(RuntimeError, match="stopped before"):
        list(pool.frames(*_sequence(40)))


def test_closing_unused_workers_ends_them() -> None:
    pool = RenderWorkers(_IndexRenderer, 2)
    procs = list(pool._procs)
    pool.close()
    assert all(not p.is_alive() for p in procs)


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", "", True])
def test_bad_worker_counts_are_one_line_errors(bad: object) -> None:
    with pytest.raises(AvatarInputError, match="whole number >= 1 or 'auto'"):
        parse_workers(bad)  # type: ignore[arg-type]


def test_auto_splits_long_clips_on_two_cores_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import renderers.workers as rw

    assert parse_workers("auto") == "auto" and parse_workers("3") == 3 and parse_workers(2) == 2
    monkeypatch.setattr(rw, "can_fork", lambda: True)
    monkeypatch.setattr(rw, "usable_cores", lambda: 2)
    assert resolve_workers("auto", MIN_SPLIT_FRAMES) == 2
    assert resolve_workers("auto", MIN_SPLIT_FRAMES - 1) == 1
    assert resolve_workers("auto", None) == 2  # length unknown: assumed long
    assert resolve_workers(4, 2 * CHUNK) == 2  # no more workers than chunks
    monkeypatch.setattr(rw, "usable_cores", lambda: 1)
    assert resolve_workers("auto", 10 * MIN_SPLIT_FRAMES) == 1
    assert resolve_workers(2, 10 * MIN_SPLIT_FRAMES) == 2  # asked for: given
    monkeypatch.setattr(rw, "can_fork", lambda: False)  # a GL context exists here: never fork
    assert resolve_workers(2, 10 * MIN_SPLIT_FRAMES) == 1


def test_bad_workers_flag_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(["animate", "x.wav", "-o", "x.mp4", "--workers", "zero"])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--workers" in last and "whole number >= 1 or 'auto'" in last and "'zero'" in last
    assert "--workers N" in _animate_help()


def _animate_help() -> str:
    from avatar.app.cli import build_parser

    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["animate"].format_help()


GL_SPLIT = r"""
import sys, numpy as np
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
from renderers.workers import RenderWorkers
rng = np.random.default_rng(0)
n = 37
w = np.clip(rng.normal(0.2, 0.3, (n, 52)), 0, 1).astype(np.float32)
hp = np.zeros((n, 6)); hp[:, 1] = np.linspace(-0.3, 0.3, n); hp[:, 0] = 0.1 * np.sin(np.arange(n))
opts = RendererOptions(width=64, height=64, camera="three-quarter")
with RenderWorkers(lambda: GLRenderer(options=opts), 2) as pool:  # forked before this process has any GL
    split = np.stack(list(pool.frames(w, hp)))
with GLRenderer(options=opts) as r:
    serial = np.stack(list(r.iter_frames(w, hp)))
np.save(sys.argv[1], np.stack([split, serial]))
"""


@pytest.mark.gl
@pytest.mark.slow
def test_split_frames_are_the_serial_frames_bit_for_bit(tmp_path: Path) -> None:
    out = tmp_path / "frames.npy"
    done = subprocess.run([sys.executable, "-c", GL_SPLIT, str(out)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    split, serial = np.load(out)
    assert split.shape == serial.shape == (37, 64, 64, 3)
    assert np.array_equal(split, serial)
    assert len({f.tobytes() for f in serial}) == 37  # every frame differs: a shifted or repeated frame would show


@pytest.mark.gl
@pytest.mark.speech
@pytest.mark.slow
def test_animate_split_writes_the_serial_mp4(tmp_path: Path) -> None:
    """`--workers 2` and `--workers 1` give the same file: the same frames in the same order to the one encoder,
    the audio muxed to exactly the video's length."""
    from renderers.writers import probe_video

    wav = tmp_path / "speech.wav"
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_pipeline import make_speech
    finally:
        sys.path.pop(0)
    seconds = make_speech(wav, 3.0)
    outs = {}
    for workers in ("1", "2"):
        outs[workers] = tmp_path / f"talk{workers}.mp4"
        done = subprocess.run([sys.executable, "-m", "avatar", "animate", str(wav), "--method", "neural", "--size", "64",
                               "-o", str(outs[workers]), "--no-progress", "--workers", workers],
                              cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-2000:]
    assert outs["1"].read_bytes() == outs["2"].read_bytes()
    frames, video_s, audio_s = probe_video(outs["2"])
    assert frames == math.ceil(seconds * 30) and audio_s is not None and abs(audio_s - frames / 30) < 0.03


def test_a_consumer_that_stops_early_ends_the_workers_at_once() -> None:
    pool = RenderWorkers(lambda: _IndexRenderer(slow=0.01), 2)
    frames = pool.frames(*_sequence(400))
    assert int(next(frames)[0, 1, 0]) == 0
    frames.close()
    t = time.perf_counter()
    procs = list(pool._procs)
    pool.close()
    assert time.perf_counter() - t < 2.0 and all(not p.is_alive() for p in procs)


@pytest.mark.gl
@pytest.mark.slow
def test_render_sequence_split_writes_the_serial_mp4(tmp_path: Path) -> None:
    from avatar.sequence import ExpressionSequence
    from renderers.writers import probe_video

    rng = np.random.default_rng(3)
    n = 70
    w = np.clip(np.cumsum(rng.normal(0, 0.05, (n, 52)), 0), 0, 1).astype(np.float32)
    hp = np.zeros((n, 6))
    hp[:, 1] = 0.3 * np.sin(np.arange(n) / 10)
    ExpressionSequence(w, fps=30.0, head_pose=hp).save(tmp_path / "anim.npz")
    outs = {}
    for workers in ("1", "2"):
        outs[workers] = tmp_path / f"anim_{workers}.mp4"
        done = subprocess.run([sys.executable, "-m", "avatar", "render", "--sequence", str(tmp_path / "anim.npz"), "--size", "64",
                               "-o", str(outs[workers]), "--no-progress", "--workers", workers],
                              cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-2000:]
    assert outs["1"].read_bytes() == outs["2"].read_bytes()
    assert probe_video(outs["2"])[0] == n
