"""The batch renderer behind `emoavatar batch`: a manifest of jobs -> rendered clips, exports and a report.

`manifest` parses and validates every line before any work; `runner` runs the jobs on a local pool of
processes (one GL context per worker, reused), `ray_backend` runs the same jobs as Ray tasks, and
`report` writes the summary. Finished jobs are recorded atomically, so a rerun skips them.
"""

from __future__ import annotations

from avatar.app.batch.manifest import Job, ManifestError, read_manifest
from avatar.app.batch.runner import BatchResult, run_batch

__all__ = ["BatchResult", "Job", "ManifestError", "read_manifest", "run_batch"]
