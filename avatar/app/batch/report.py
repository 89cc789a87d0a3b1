"""Writes the batch summary (JSON and CSV) into the output folder: status, seconds, outputs and scores per job."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from avatar.io.atomic import atomic_path

REPORT_JSON = "batch_report.json"
REPORT_CSV = "batch_report.csv"
CSV_COLUMNS: tuple[str, ...] = ("id", "line", "status", "seconds", "outputs", "judge", "expected", "accuracy",
                                "mean_expected_prob", "n_scored", "warnings", "error")


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    """Return counts of jobs by status: ok (run now), skipped (finished in an earlier run), failed, total."""
    counts = {"ok": 0, "skipped": 0, "failed": 0, "not_run": 0}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    counts["total"] = len(results)
    return counts


def _csv_row(r: dict[str, Any]) -> list[Any]:
    s = r.get("score") or {}
    return [r["id"], r.get("line", ""), r["status"], r.get("seconds", ""), ";".join(r.get("outputs", [])),
            s.get("judge", ""), s.get("expected", ""), s.get("accuracy", ""), s.get("mean_expected_prob", ""), s.get("n", ""),
            " | ".join(r.get("warnings", [])), r.get("error", "")]


def write_report(out_root: str | os.PathLike, results: list[dict[str, Any]], meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write batch_report.json and batch_report.csv (atomically) in `out_root`; return their paths.

    `results` holds one dict per job in manifest order (see `avatar.app.batch.worker.run_job`);
    `meta` (manifest, backend, workers, judge, seconds, ...) goes at the top of the JSON.
    """
    root = Path(out_root)
    doc = {**meta, "counts": summary(results), "jobs": results}
    with atomic_path(root / REPORT_JSON) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=str))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        w.writerow(_csv_row(r))
    with atomic_path(root / REPORT_CSV) as tmp:
        tmp.write_text(buf.getvalue())
    return root / REPORT_JSON, root / REPORT_CSV
