"""Returns the result of one batch job, run inside a worker process (local pool or Ray) with its own reused Session.

A worker keeps one `Session` for its whole life, so every job it runs reuses the same GL context
(and recognizer). A job writes each output atomically (temp file + rename) and, after every output
exists, its completion record: the record is what makes a job "finished", so a kill at any moment
loses no finished job and a rerun redoes only unfinished ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from avatar.app.judges import DEFAULT_RECOGNIZER
from avatar.app.batch.manifest import IMAGE_SUFFIXES, STATE_DIR, VIDEO_SUFFIXES, Job

SCORED_FRAMES = 24
"""Frames of each clip the judge reads (spread evenly): enough for a per-clip accuracy, cheap on a CPU."""

_session: Any = None


def session() -> Any:
    """Return this process's Session (made on first use; one GL context per worker, reused by every job)."""
    global _session
    if _session is None:
        from avatar.app.session import Session

        _session = Session(max_renderers=2)
    return _session


def init_worker(threads: int, parent_pid: int | None = None) -> None:
    """Set up a pool worker: `threads` torch threads, and exit when the parent dies (SIGKILL leaves no orphans)."""
    import signal

    import torch

    torch.set_num_threads(max(1, int(threads)))
    # Unwind on SIGTERM (the pool's shutdown, a scheduler's stop) so atomic writes remove their temp files.
    signal.signal(signal.SIGTERM, _raise_exit)
    if parent_pid is not None:
        def watch() -> None:
            # A killed parent cannot stop its workers; an orphan finishing a job behind a rerun's back would race it.
            while os.getppid() == parent_pid:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def record_path(out_root: str | os.PathLike, job_id: str) -> Path:
    """Return the path of a job's completion record inside the output folder."""
    name = hashlib.sha1(job_id.encode()).hexdigest()[:20]
    return Path(out_root) / STATE_DIR / "done" / f"{name}.json"


def read_record(out_root: str | os.PathLike, job: Job) -> dict[str, Any] | None:
    """Return the completion record of `job` when it finished before with the same spec and its outputs exist, else None."""
    p = record_path(out_root, job.id)
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("digest") != job.digest() or not all((Path(out_root) / o).is_file() for o in job.outputs):
        return None
    return rec


def _sequence(job: Job) -> tuple[Any, list[str]]:
    """Return the job's ExpressionSequence and the warnings raised while making it (one line each)."""
    from avatar.emotion import Emotion
    from avatar.sequence import ExpressionSequence
    from generators.expression import Keyframe, timeline

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if job.audio is not None:
            import avatar.app.facade as P

            emotion: Any = Emotion(valence=job.va[0], arousal=job.va[1]) if job.va else (job.emotion or "neutral")
            seq = P.animate(job.audio, text=job.text, emotion=emotion, intensity=job.intensity,
                            emotion_track=job.emotion_track, fps=job.fps, seed=job.seed)
        else:
            still = all(Path(o).suffix.lower() in IMAGE_SUFFIXES for o in job.outputs) and job.duration is None
            duration = job.duration if job.duration is not None else (1.0 / job.fps if still else 3.0)
            frames = max(1, int(round(duration * job.fps)))
            if job.emotion_track:
                seq = timeline(job.emotion_track, fps=job.fps, duration=frames / job.fps, prototypes=job.prototypes)
            else:
                key = Keyframe(0.0, emotion=job.emotion, aus=job.aus, va=job.va, intensity=job.intensity)
                label = key.label()
                seq = ExpressionSequence.from_pose(key.weights(job.prototypes), frames=frames, fps=job.fps, label=label or None)
    notes = [str(w.message).splitlines()[0] for w in caught]
    return seq, notes


def _renderer(job: Job) -> Any:
    from avatar.appearance import Appearance

    view = job.yaw if job.yaw is not None else (job.view if job.view is not None else "front")
    look = Appearance(cavity=job.cavity, wrinkles=job.wrinkles, mouth_shadow=job.mouth_shadow, catch_lights=job.catch_lights,
                      mouth_interior=job.mouth_interior, eye_detail=job.eye_detail, teeth_shade=job.teeth_shade)
    return session().renderer(None, job.identity, job.size, job.size, job.background, job.skin, job.eyes, view,
                              appearance=look, brow_lowerer=job.brow_lowerer)


def _score(job: Job, renderer: Any, seq: Any, idx: np.ndarray, frames: list[np.ndarray], judge: str, device: Any) -> dict[str, Any] | None:
    """Return the judge's reading of the kept frames against the job's per-frame labels (None when there are none)."""
    import avatar.app.facade as P

    labels = list(seq.labels) if seq.labels is not None else []
    keep = [i for i, k in enumerate(idx) if labels and labels[k]]
    if not keep or not frames:
        return None
    sel = idx[keep]
    images = np.stack([frames[i][..., :3] for i in keep])
    boxes = renderer.face_boxes(seq.weights[sel], None if seq.head_pose is None else seq.head_pose[sel])
    s = P.score(images, expected=[labels[k] for k in sel], boxes=boxes, judge=judge, device=device, session=session())
    expected = sorted({labels[k] for k in sel})
    return {"judge": judge, "expected": ",".join(expected), "accuracy": round(float(s.accuracy), 4),
            "mean_expected_prob": round(float(s.mean_expected_prob), 4), "n": int(s.n), "no_face": int(s.n_no_face)}


def run_job(spec: dict[str, Any], out_root: str, judge: str | None = DEFAULT_RECOGNIZER, device: str = "auto") -> dict[str, Any]:
    """Return the result of one job: {id, line, status "ok"|"failed", seconds, outputs, score, warnings, error}.

    Outputs are written atomically; the completion record is written last, and only when every output
    exists. A failing job returns status "failed" with a one-line error instead of raising.
    """
    from avatar.io.atomic import atomic_path

    t0 = time.perf_counter()
    job = Job.from_spec(spec)
    root = Path(out_root)
    result: dict[str, Any] = {"id": job.id, "line": job.line, "status": "failed", "seconds": 0.0,
                              "outputs": list(job.outputs), "score": None, "warnings": [], "error": ""}
    if judge and job.judge:
        judge = job.judge  # the line's own judge wins over the batch's --judge (--no-score still turns scoring off)
    try:
        seq, notes = _sequence(job)
        result["warnings"] = notes
        score = None
        for rel in job.outputs:
            path = root / rel
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                score = _write_video(job, seq, path, judge, device) or score
            elif suffix in IMAGE_SUFFIXES:
                from renderers.writers import save_image

                renderer = _renderer(job)
                mid = len(seq) // 2
                img = renderer.render(seq.weights[mid], None if seq.head_pose is None else seq.head_pose[mid])
                save_image(img, path)
                if score is None and judge:
                    score = _score(job, renderer, seq, np.array([mid]), [img], judge, device)
            else:
                seq.save(path)
        result["score"] = score
        result["seconds"] = round(time.perf_counter() - t0, 3)
        missing = [o for o in job.outputs if not (root / o).is_file()]
        if missing:
            raise RuntimeError(f"outputs missing after the job ran: {', '.join(missing)}")
        result["status"] = "ok"
        record = {**result, "digest": job.digest(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with atomic_path(record_path(root, job.id)) as tmp:
            tmp.write_text(json.dumps(record, indent=1))
    except Exception as e:  # a failing job is reported and the batch goes on
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        result["error"] = f"{type(e).__name__}: {msg}" if not msg or type(e).__module__ == "builtins" else msg
        result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _write_video(job: Job, seq: Any, path: Path, judge: str | None, device: Any) -> dict[str, Any] | None:
    """Render `seq` into `path` (.mp4 with the job's audio, or .gif) and return the judge's score of a few frames."""
    from renderers.writers import save_frames

    renderer = _renderer(job)
    idx = np.unique(np.linspace(0, len(seq) - 1, min(len(seq), SCORED_FRAMES)).round().astype(int))
    wanted = set(idx.tolist())
    kept: list[np.ndarray] = []

    def frames() -> Any:
        # Streamed to the writer; only the frames the judge reads are kept in memory.
        for i, f in enumerate(renderer.iter_frames(seq.weights, seq.head_pose)):
            if i in wanted:
                kept.append(f)
            yield f

    audio = job.audio if path.suffix.lower() == ".mp4" else None
    save_frames(frames(), path, fps=seq.fps, audio=audio, total=len(seq))
    return _score(job, renderer, seq, idx, kept, judge, device) if judge else None
