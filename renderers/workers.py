"""Renders one sequence's frames in several processes, each with its own GL renderer, and yields them in order.

On a CPU rasterizer a GLRenderer frame is mostly llvmpipe's geometry work, which runs on one thread per draw: one
process renders on about one core's worth whatever the machine has. `RenderWorkers` forks worker processes before
the caller's slow work (speech analysis), so their imports and renderer set-up overlap it; each then takes the
next unclaimed chunk of `CHUNK` frames, renders it with its own renderer (the same settings: the frames are the
serial path's, bit for bit) and sends the pixels back through a pipe. The caller's iterator yields every frame in
order, so one encoder (one ffmpeg) gets exactly what the serial path would have given it. A worker is never more
than `WINDOW` chunks ahead of the consumer, which bounds the memory held.

The workers are forked, so their renderers are built after the fork (a GL context never crosses one) and the
caller's objects need no pickling; start them before this process makes a GL context of its own
(`can_fork` says whether that holds).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError

CHUNK = 8
"""Frames a worker renders per claim: small enough to balance two workers, large enough that posing stays ahead."""
WINDOW = 8
"""Chunks rendered ahead of the consumer at most (memory: WINDOW * CHUNK frames)."""
PRELOAD = ("moderngl", "scipy.sparse", "renderers.gl", "renderers.posing", "renderers.cavity", "renderers.draw_order")
"""Modules imported before forking, once, instead of in every worker (~0.25 CPU s each): what a GLRenderer needs."""
MIN_SPLIT_FRAMES = 60
"""Fewest frames that `workers="auto"` splits: below it a second renderer's set-up (~0.3-0.5 CPU s) gains little."""


def usable_cores() -> int:
    """Return the CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_workers(value: int | str) -> int | str:
    """Return a worker count (int >= 1) or "auto" from an option value; raises AvatarInputError naming the value."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        n = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        n = None
    if n is None or n < 1 or (isinstance(value, float) and value != n):
        raise AvatarInputError(f"workers must be a whole number >= 1 or 'auto', got {value!r}")
    return n


def can_fork() -> bool:
    """Return True where worker processes can be forked safely: fork exists and no GL context was made here yet."""
    from renderers.gl_context import contexts_made

    return hasattr(os, "fork") and contexts_made() == 0


def resolve_workers(workers: int | str, frames: int | None) -> int:
    """Return how many processes render `frames` frames (None: not known yet, assumed long): `workers` as given
    (checked), or for "auto" 2 where there are 2 cores or more, at least `MIN_SPLIT_FRAMES` frames and forking is
    safe, else 1. More processes than cores do not help (llvmpipe also rasterises on its own threads)."""
    n = parse_workers(workers)
    if n == "auto":
        long_enough = frames is None or frames >= MIN_SPLIT_FRAMES
        return 2 if usable_cores() >= 2 and long_enough and can_fork() else 1
    if frames is not None:
        n = min(n, max(1, -(-frames // CHUNK)))
    return n if n == 1 or can_fork() else 1


class RenderWorkers:
    """Worker processes that render frames with renderers from `make_renderer` (called in each, after the fork).

    Create it early (before slow work that the set-up should overlap), call `frames` once, then `close()` (or use
    `with`). A failure in a worker is raised by `frames` in this process, with the worker's message.
    """

    def __init__(self, make_renderer: Callable[[], Any], workers: int = 2) -> None:
        import multiprocessing

        if workers < 1:
            raise AvatarInputError(f"workers must be a whole number >= 1, got {workers!r}")
        import importlib

        for name in PRELOAD:
            importlib.import_module(name)
        mp = multiprocessing.get_context("fork")
        self._next = mp.Value("q", 0)  # the next unclaimed chunk (with its own lock)
        self._window = mp.Semaphore(WINDOW)
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        self._used = self._finished = False
        for i in range(workers):
            ours, theirs = mp.Pipe(duplex=True)
            proc = mp.Process(target=_serve, args=(make_renderer, theirs, self._next, self._window),
                              name=f"emoavatar-render-{i}", daemon=True)
            with warnings.catch_warnings():
                # Python 3.12+ warns when forking a process with threads: in `emoavatar animate` / `render` those
                # are OpenBLAS's, which it re-creates in the child (pthread_atfork); the child only builds a renderer.
                warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
                proc.start()
            theirs.close()
            self._conns.append(ours)
            self._procs.append(proc)

    @property
    def workers(self) -> int:
        """Return the number of worker processes."""
        return len(self._procs)

    def frames(self, weights: np.ndarray, head_pose: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Yield one (H, W, C) uint8 frame per row of (T, 52) `weights` (and (T, 6) `head_pose`), in order: the
        frames the workers' renderers' `iter_frames` give."""
        if self._used:
            raise RuntimeError("RenderWorkers.frames runs once: make another RenderWorkers for another sequence")
        self._used = True
        w = np.ascontiguousarray(np.atleast_2d(np.asarray(weights, np.float32)))
        hp = None if head_pose is None else np.ascontiguousarray(np.asarray(head_pose, np.float64).reshape(len(w), 6))
        chunks = -(-len(w) // CHUNK)
        got: dict[int, list[np.ndarray]] = {}
        failure: list[BaseException] = []
        ready = threading.Condition()
        for conn in self._conns:
            try:
                conn.send((w, hp, CHUNK))
            except OSError:  # the worker already ended (its set-up failed): its reader reports why
                pass
        readers = [threading.Thread(target=_read, args=(i, conn, got, failure, ready), daemon=True,
                                    name=f"emoavatar-render-reader-{i}") for i, conn in enumerate(self._conns)]
        for r in readers:
            r.start()
        for c in range(chunks):
            count = min(CHUNK, len(w) - c * CHUNK)
            for k in range(count):
                with ready:
                    while len(got.get(c, ())) <= k and not failure:
                        ready.wait()
                    if len(got.get(c, ())) <= k:
                        raise failure[0]
                    frame = got[c][k]
                yield frame
            with ready:
                got.pop(c, None)
            self._window.release()  # one more chunk may be rendered ahead
        for r in readers:
            r.join()
        self._finished = True

    def close(self) -> None:
        """Stop the workers (those still waiting for a sequence are told there is none) and wait for them; workers
        whose frames were not all taken (the consumer stopped early) are ended at once."""
        if self._used and not self._finished:
            for proc in self._procs:
                proc.terminate()
        for conn in self._conns:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            proc.join(timeout=5.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=1.0)
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []

    def __enter__(self) -> RenderWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read(index: int, conn: Any, got: dict[int, list[np.ndarray]], failure: list[BaseException],
          ready: threading.Condition) -> None:
    """Receive worker `index`'s chunks into `got` (frames as they arrive) until it is done or fails."""
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "done":
                return
            if msg[0] == "error":
                raise msg[1]
            _, c, count, shape = msg
            with ready:
                got[c] = []
            for _ in range(count):
                frame = np.frombuffer(conn.recv_bytes(), np.uint8).reshape(shape)
                with ready:
                    got[c].append(frame)
                    ready.notify_all()
    except EOFError:
        error: BaseException = RuntimeError(f"render worker {index} stopped before it finished its frames")
    except BaseException as e:  # the worker's own error, raised again here
        error = e
    with ready:
        failure.append(error)
        ready.notify_all()


def _serve(make_renderer: Callable[[], Any], conn: Any, next_chunk: Any, window: Any) -> None:
    """A worker's life: build the renderer, wait for a sequence, render the chunks it claims, send their pixels."""
    renderer = None
    try:
        renderer = make_renderer()
        job = conn.recv()
        if job is None:
            return
        weights, head_pose, chunk = job
        chunks = -(-len(weights) // chunk)
        while True:
            window.acquire()
            with next_chunk.get_lock():
                c = next_chunk.value
                next_chunk.value = c + 1
            if c >= chunks:
                window.release()
                break
            a, b = c * chunk, min(len(weights), (c + 1) * chunk)
            header = False
            for img in renderer.iter_frames(weights[a:b], None if head_pose is None else head_pose[a:b]):
                if not header:
                    conn.send(("chunk", c, b - a, img.shape))
                    header = True
                conn.send_bytes(np.ascontiguousarray(img).reshape(-1))  # 1-D: send_bytes counts the first axis
        conn.send(("done",))
    except EOFError:
        return  # the parent went away
    except BaseException as e:
        try:
            conn.send(("error", e))
        except Exception:
            conn.send(("error", RuntimeError(f"render worker failed: {type(e).__name__}: {e}")))
    finally:
        if renderer is not None:
            close = getattr(renderer, "close", None)
            if close is not None:
                close()
