"""Returns the playground's long-lived state: its temp folder, its GL worker, and the settings every tab reads.

One `Playground` per server process. It owns a `TemporaryDirectory` (gradio's uploads and cache
and every file the tabs write live under it, and it is removed on `close()`), the `GLWorker` whose
single Session serves every request, and the process environment gradio reads (analytics off,
its temp folder inside ours), restored on `close()`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from avatar.app.playground.worker import GLWorker

# What gradio reads from the environment: GRADIO_TEMP_DIR when it builds components and the app, so
# these are set before the Blocks are built. Analytics off also stops gradio's version check.
_GRADIO_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
}


class Playground:
    """Owns the temp folder, the GL worker and the render settings of one playground server; `close()` releases all."""

    def __init__(self, image_size: int = 384, video_size: int = 320, device: str = "auto", keep_outputs: int = 16) -> None:
        self.image_size = int(image_size)
        self.video_size = int(video_size)
        self.device = device
        self.keep_outputs = int(keep_outputs)
        self._tmp = tempfile.TemporaryDirectory(prefix="emoavatar-playground-")
        self.root = Path(self._tmp.name).resolve()
        self.gradio_dir = self.root / "gradio"
        self.outputs_dir = self.root / "outputs"
        self.gradio_dir.mkdir()
        self.outputs_dir.mkdir()
        self.worker = GLWorker()
        self._counter = itertools.count(1)
        self._out_lock = threading.Lock()
        self._saved_env: dict[str, str | None] = {}
        env = dict(_GRADIO_ENV, GRADIO_TEMP_DIR=str(self.gradio_dir))
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self.closed = False

    def new_output_dir(self) -> Path:
        """Return a fresh folder for one request's files; only the newest `keep_outputs` folders are kept."""
        with self._out_lock:
            folder = self.outputs_dir / f"{next(self._counter):06d}"
            folder.mkdir()
            # Folder names count up, so sorting by name is by age; gradio has already copied older
            # results into its own cache (under our root), so they can go.
            old = sorted(self.outputs_dir.iterdir())[:-self.keep_outputs]
        for stale in old:
            shutil.rmtree(stale, ignore_errors=True)
        return folder

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Return `fn(session, *args, **kwargs)` run on the GL worker (see `GLWorker.run`)."""
        return self.worker.run(fn, *args, **kwargs)

    def close(self) -> None:
        """Close the GL worker's Session, delete the temp folder and restore the environment; idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self.worker.close()
        finally:
            self._tmp.cleanup()
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def __enter__(self) -> Playground:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
