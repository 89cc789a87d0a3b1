"""Returns results of GL and recognizer work run on one thread: the worker that owns the playground's Session.

Gradio runs callbacks on a pool of threads. An EGL context is current on one thread at a time and
moderngl tracks the current context per process, not per thread, so every render and every judge
call goes through this worker's single thread: one Session (its GL contexts built once, reused by
every request) and calls that never interleave inside a context.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from avatar.app.session import Session

T = TypeVar("T")


class GLWorker:
    """Runs `fn(session, *args)` on its own thread; `close()` closes the Session there and stops the thread."""

    def __init__(self, max_renderers: int = 3) -> None:
        self.max_renderers = int(max_renderers)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emoavatar-gl")
        self._session: Session | None = None
        self._closed = False
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return `fn(session, *args, **kwargs)`, computed on the worker thread (exceptions re-raised here)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the playground is shutting down")
            # The caller's context goes along, so gradio's per-request progress tracker works on this thread.
            future = self._pool.submit(contextvars.copy_context().run, self._call, fn, args, kwargs)
        return future.result()

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if self._session is None:
            self._session = Session(max_renderers=self.max_renderers)
        return fn(self._session, *args, **kwargs)

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def close(self) -> None:
        """Close the Session on its own thread (its GL contexts live there) and stop the thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pool.submit(self._close_session).result()
        self._pool.shutdown(wait=True)
