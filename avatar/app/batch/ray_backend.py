"""Runs batch jobs as Ray tasks: a local Ray by default (offline, no dashboard), or a cluster at `--ray-address`.

The tasks call the same `avatar.app.batch.worker.run_job` as the local pool, so validation, atomic
outputs, completion records (resume) and the report are the same. Ray reuses its worker processes
across tasks, and each keeps its own Session, so a GL context is built once per worker. A cluster
must see the output folder at the same path (a shared file system), as render farms do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar.app.batch.manifest import Job
from avatar.errors import SetupError


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray backend needs ray: pip install 'emoavatar[batch]' (or pip install ray)") from None
    return ray


def _task(spec: dict[str, Any], out_root: str, judge: str | None, device: str, threads: int) -> dict[str, Any]:
    """Return run_job's result inside a Ray worker (torch threads set once per worker process)."""
    from avatar.app.batch import worker

    if not getattr(worker, "_threads_set", False):
        import torch

        torch.set_num_threads(max(1, threads))
        worker._threads_set = True  # type: ignore[attr-defined]
    return worker.run_job(spec, out_root, judge, device)


def _wants_gpu(device: str) -> bool:
    """Return True when the jobs run their judge on CUDA (then each task asks Ray for a GPU)."""
    if device == "cpu":
        return False
    if device.startswith("cuda"):
        return True
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def run_ray(jobs: list[Job], out_root: Path, workers: int, address: str | None, judge: str | None, device: str,
            on_result: Callable[[dict[str, Any]], None]) -> None:
    """Run `jobs` as Ray tasks (at most `workers` at once on a local Ray); call `on_result` with each result as it arrives."""
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # Ray reads this at init; set for the Ray processes only, never at import.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                # A private, offline single-node Ray: loopback only, no dashboard, a small object store
                # (results are a few hundred bytes; the outputs go straight to disk).
                ray.init(num_cpus=workers, num_gpus=None, include_dashboard=False, log_to_driver=False, configure_logging=False,
                         object_store_memory=80 * 1024 * 1024, _node_ip_address="127.0.0.1")
        except ConnectionError as e:
            raise SetupError(f"cannot reach the Ray cluster at {address!r}: {e}") from None
    try:
        gpu = _wants_gpu(device) and ray.cluster_resources().get("GPU", 0) > 0
        cpus = float(ray.cluster_resources().get("CPU", workers))
        threads = max(1, int(cpus // max(1, workers))) if not address else 1
        task = ray.remote(_task).options(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=1)
        refs = {task.remote(j.spec(), str(out_root), judge, "cuda" if gpu else ("cpu" if device == "auto" else device), threads): j
                for j in jobs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                job = refs.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as e:  # the task's worker died; the job is reported, the others go on
                    res = {"id": job.id, "line": job.line, "status": "failed", "seconds": 0.0, "outputs": list(job.outputs),
                           "score": None, "warnings": [], "error": f"ray task failed: {type(e).__name__}"}
                on_result(res)
    finally:
        if started_here:
            ray.shutdown()
