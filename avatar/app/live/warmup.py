"""Returns the time spent warming a streaming animator's code path, so the first live frame is not late.

The first frames of a `StreamingAnimator` pay for lazy imports and the lip solver's first call (about 2-3 s
on a busy 2-core machine): in a live stream every frame after them would then be late too, and a paced
file would send them in a burst while it catches up. A twin that shares the model runs 0.4 s of quiet
noise first, before the stream's clock starts; the real animator's state is untouched.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def warm_up(anim: Any, seconds: float = 0.4) -> float:
    """Return the seconds spent pushing `seconds` of quiet noise through a twin of `anim` (same model, rate, fps, head)."""
    from generators.speech.streaming import StreamingAnimator

    t0 = time.perf_counter()
    twin = StreamingAnimator(anim.net, fps=anim.fps, life=anim.life, sample_rate=anim.in_rate, lip_model=anim.lips)
    noise = (0.01 * np.random.default_rng(0).standard_normal(int(seconds * anim.in_rate))).astype(np.float32)
    step = max(1, anim.in_rate // 50)
    for i in range(0, len(noise), step):
        twin.push(noise[i : i + step])
    twin.flush()
    return time.perf_counter() - t0
