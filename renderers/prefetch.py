"""Runs an iterator on a worker thread a few items ahead of its consumer: GLRenderer's numpy posing overlaps drawing.

On a CPU rasterizer (llvmpipe) a frame is numpy work on the calling thread (blend the shapes, normals, wrinkle
amplitude, cornea normals: ~8 ms at 512 px) and then GL work (binning, rasterising on llvmpipe's threads, read-back).
Done in turn, one core idles during each; with the numpy part of frame t + 1 computed on a worker while frame t is
drawn (numpy and moderngl release the GIL in their C loops), both cores stay busy. Items come out in order, every
one of them; an exception in the worker is raised in the consumer; a consumer that stops early stops the worker.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(make: Callable[[], Iterable[T]], depth: int = 2) -> Iterator[T]:
    """Yield the items of the iterable `make()` returns, produced on a worker thread at most `depth` items ahead."""
    items: queue.Queue[object] = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in make():
                if not put(item):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            put(_Failure(e))
            return
        put(_END)

    worker = threading.Thread(target=work, name="emoavatar-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5.0)
