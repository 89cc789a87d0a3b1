"""Returns the outcome of a batch: validated jobs run on a local process pool (or Ray), resumably, with a report.

Order of work: read and validate the whole manifest (nothing written on a bad one); take the output
folder's lock; remove temp files a killed run left; skip jobs whose completion record matches; run the
rest with a progress bar (ETA); write the report. A job that fails is reported and the others go on.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar.app.judges import DEFAULT_RECOGNIZER
from avatar.app.batch.manifest import STATE_DIR, Job, read_manifest
from avatar.app.batch.report import summary, write_report
from avatar.app.batch.worker import read_record
from avatar.errors import AvatarInputError, OutputPathError

BACKENDS: tuple[str, ...] = ("local", "ray")

# What `avatar.io.atomic.atomic_path` names its temp files: .<stem>.<random>.part<suffix>
_TEMP = re.compile(r"^\..+\.part(\.[A-Za-z0-9]+)?$")


@dataclass
class BatchResult:
    """What a batch did: one result dict per job (manifest order), the counts, and the report paths."""

    results: list[dict[str, Any]]
    counts: dict[str, int]
    report_json: Path
    report_csv: Path
    seconds: float

    @property
    def ok(self) -> bool:
        """Return True when no job failed or was left unrun."""
        return self.counts.get("failed", 0) == 0 and self.counts.get("not_run", 0) == 0


def clean_stale_temp(out_root: Path, jobs: list[Job]) -> int:
    """Return how many temp files (left by a killed run) were removed from the folders the jobs write to."""
    folders = {(out_root / o).parent for j in jobs for o in j.outputs} | {out_root, out_root / STATE_DIR / "done"}
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.is_file() and _TEMP.match(p.name):
                p.unlink(missing_ok=True)
                removed += 1
    return removed


@contextmanager
def folder_lock(out_root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the output folder (two batches writing one folder would delete each other's temp files)."""
    import fcntl

    state = out_root / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise AvatarInputError(f"another batch is writing to {str(out_root)!r}: wait for it or choose another -o") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="batch", unit="clip", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def run_local(jobs: list[Job], out_root: Path, workers: int, judge: str | None, device: str,
              on_result: Callable[[dict[str, Any]], None]) -> None:
    """Run `jobs` on a pool of `workers` processes (spawned: each builds its own GL context once); call `on_result` per job."""
    import multiprocessing as mp

    from avatar.app.batch.worker import init_worker, run_job

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")  # no forked GL or torch state: each worker starts clean
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker, initargs=(threads, os.getpid()))
    pending: dict[Future, Job] = {}
    try:
        for job in jobs:
            pending[pool.submit(run_job, job.spec(), str(out_root), judge, device)] = job
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                try:
                    res = fut.result()
                except Exception as e:  # the worker process died (e.g. killed by the OOM killer)
                    res = {"id": job.id, "line": job.line, "status": "failed", "seconds": 0.0, "outputs": list(job.outputs),
                           "score": None, "warnings": [], "error": f"worker died: {type(e).__name__}: {e}"}
                on_result(res)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_batch(manifest: str | os.PathLike, out_root: str | os.PathLike, workers: int = 1, backend: str = "local",
              ray_address: str | None = None, judge: str | None = DEFAULT_RECOGNIZER, device: str = "auto",
              progress: bool = True, log: Callable[[str], None] | None = None, cavity: bool | None = None,
              brow_lowerer: float | None = None) -> BatchResult:
    """Return the BatchResult of running every job of `manifest` into `out_root` (resuming a killed run).

    `cavity` False renders every job without cavity shading (faster), whatever its line says; None keeps each line's.
    `brow_lowerer` (0..2) is the strength of the jobs whose line gives none (a line's own `brow_lowerer` wins); None
    leaves them at the shipped head's default.

    Raises `ManifestError` (every problem, with line numbers) before anything is written when the
    manifest is bad, and `AvatarInputError` for bad settings. Jobs that fail are in the result.
    """
    from avatar.validation import check_choice

    t0 = time.perf_counter()
    say = log or (lambda s: print(s, file=sys.stderr))
    check_choice(backend, BACKENDS, "backend")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise AvatarInputError(f"workers must be a whole number >= 1, got {workers!r}")
    if judge is not None:
        from avatar.app.judges import judge_name

        try:
            judge = judge_name(judge)
        except AvatarInputError as e:
            raise AvatarInputError(f"{e}, or --no-score") from None
    from avatar.brow_lowerer import check_brow_lowerer

    brow_lowerer = check_brow_lowerer(brow_lowerer)
    jobs = read_manifest(manifest)
    from dataclasses import replace

    if brow_lowerer is not None:
        jobs = [j if j.brow_lowerer is not None else replace(j, brow_lowerer=brow_lowerer) for j in jobs]
    if cavity is False:
        jobs = [replace(j, cavity=False) for j in jobs]
    root = Path(out_root).expanduser()
    if root.exists() and not root.is_dir():
        raise OutputPathError(f"output folder {str(out_root)!r} is a file: give a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create output folder {str(out_root)!r}: {e.strerror}") from None
    root = root.resolve()
    results: dict[str, dict[str, Any]] = {}
    with folder_lock(root):
        removed = clean_stale_temp(root, jobs)
        if removed:
            say(f"removed {removed} temp file{'s' * (removed != 1)} left by an interrupted run")
        todo: list[Job] = []
        for job in jobs:
            rec = read_record(root, job)
            if rec is None:
                todo.append(job)
            else:
                results[job.id] = {**{k: rec.get(k) for k in ("id", "line", "seconds", "outputs", "score", "warnings", "error")},
                                   "line": job.line, "status": "skipped"}
        if results:
            say(f"skipped {len(results)} of {len(jobs)} jobs finished in an earlier run")
        workers_used = max(1, min(workers, len(todo)))
        bar = _progress(len(todo), progress)

        def on_result(res: dict[str, Any]) -> None:
            results[res["id"]] = res
            if res["status"] == "failed":
                bar.write(f"emoavatar: job {res['id']!r} (line {res['line']}) failed: {res['error']}", file=sys.stderr)
            for w in res.get("warnings", []):
                bar.write(f"emoavatar: warning: job {res['id']!r}: {w}", file=sys.stderr)
            bar.update(1)

        try:
            if todo and backend == "ray":
                from avatar.app.batch.ray_backend import run_ray

                run_ray(todo, root, workers, ray_address, judge, device, on_result)
            elif todo:
                run_local(todo, root, workers_used, judge, device, on_result)
        finally:
            bar.close()
            ordered = [results.get(j.id) or {"id": j.id, "line": j.line, "status": "not_run", "seconds": 0.0,
                                             "outputs": list(j.outputs), "score": None, "warnings": [], "error": "interrupted"}
                       for j in jobs]
            seconds = round(time.perf_counter() - t0, 3)
            meta = {"manifest": str(Path(manifest).resolve()), "output": str(root), "backend": backend, "workers": workers,
                    "judge": judge, "device": device, "seconds": seconds, "run_now": len(todo)}
            rj, rc = write_report(root, ordered, meta)
    return BatchResult(ordered, summary(ordered), rj, rc, seconds)
