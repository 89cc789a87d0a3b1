"""Returns frames on time: a pacer that holds each frame until its absolute deadline on the audio clock.

Each deadline is `start + frame_time + delay`, computed from the frame's own time, never by adding a sleep
per frame: an oversleep or a slow frame delays only that frame, and the stream never drifts from the audio
however long it runs (a sleep-per-frame loop accumulates every oversleep).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Waits until `start + t + delay` for a frame at stream time `t`; `late` counts frames whose deadline had passed.

    Args:
        delay: seconds added to every deadline (the stream's algorithmic latency: a frame at t exists
            only once audio up to t + delay has been heard).
        clock, sleep: injectable for tests (default `time.perf_counter`, `time.sleep`).
    """

    def __init__(self, delay: float = 0.0, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay = float(delay)
        self.clock, self.sleep = clock, sleep
        self.start: float | None = None
        self.late = 0

    def begin(self, start: float | None = None) -> float:
        """Return the start of the stream's clock (now unless given); deadlines count from it."""
        self.start = self.clock() if start is None else float(start)
        return self.start

    def deadline(self, t: float) -> float:
        """Return the clock time at which the frame at stream time `t` is due."""
        if self.start is None:
            self.begin()
        return self.start + float(t) + self.delay  # type: ignore[operator]

    def wait(self, t: float) -> float:
        """Return the clock time after waiting for the frame at stream time `t` to be due (at once when it is late)."""
        due = self.deadline(t)
        now = self.clock()
        if now < due:
            self.sleep(due - now)
            now = self.clock()
        else:
            self.late += 1
        return now
