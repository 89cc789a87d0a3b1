"""Returns the Live tab: the browser's microphone streams to the server, which answers each chunk with the head's new frame.

Gradio's streaming microphone sends a chunk every `CHUNK_S` seconds; each visitor's chunks go through that
visitor's own `generators.speech.streaming.StreamingAnimator` (kept in the session's state, made on the
first chunk at the browser's sample rate), and the newest frame it decided is rendered on the GL worker
(the server's own renders, the same pictures as every other tab) with its jawOpen and timings beside it:
the server's time from the chunk's arrival to its picture, plus the animator's algorithmic latency.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.errors import AvatarInputError

if TYPE_CHECKING:
    from avatar.app.playground.state import Playground

CHUNK_S = 0.25
"""How often the browser sends microphone audio, in seconds (gradio's `stream_every`)."""

LIVE_SIZE = 256
"""Side of the live render in pixels: small, so a frame renders well within one chunk on a CPU."""

MAX_LIVE_SECONDS = 300
"""A live session's time limit in seconds (gradio stops the stream after it)."""


@dataclass
class LiveState:
    """One visitor's live stream: its animator, the sample rate it was made for, and running counts."""

    animator: Any = None
    rate: int = 0
    frames: int = 0
    chunks: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)


def _mono_float(samples: np.ndarray) -> np.ndarray:
    """Return (N,) float32 in [-1, 1] from gradio's (N,) or (N, channels) int16/int32/float chunk."""
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=1) if x.dtype.kind == "f" else x.astype(np.float64).mean(axis=1).astype(x.dtype)
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    if x.dtype == np.int32:
        return x.astype(np.float32) / 2147483648.0
    return np.clip(x.astype(np.float32), -1.0, 1.0)


def live_step(pg: Playground, chunk: Any, state: LiveState | None) -> tuple[np.ndarray | None, str, LiveState]:
    """Return (the newest frame's render or None, a one-line read-out, the updated state) after one microphone chunk.

    `chunk` is gradio's (sample rate, samples) numpy audio. Raises AvatarInputError for a chunk that is not audio.
    """
    import avatar.app.facade as facade
    from generators.speech.streaming import StreamingAnimator

    arrived = time.perf_counter()
    state = state if isinstance(state, LiveState) else LiveState()
    if chunk is None:
        return None, "waiting for the microphone", state
    try:
        rate, samples = chunk
        rate = int(rate)
    except (TypeError, ValueError):
        raise AvatarInputError("the microphone sent something that is not audio: reload the page and allow the microphone") from None
    if rate <= 0:
        raise AvatarInputError(f"the microphone reports a sample rate of {rate}: reload the page")
    x = _mono_float(samples)
    if state.animator is None or state.rate != rate:
        state = LiveState(animator=StreamingAnimator(sample_rate=rate, seed=0), rate=rate)
    frames = state.animator.push(x)
    state.chunks += 1
    state.seconds += len(x) / rate
    if not frames:
        return None, f"listening: {state.seconds:.1f} s heard, no frame decided yet", state
    last = frames[-1]
    state.frames += len(frames)

    def draw(session: Any) -> np.ndarray:
        from avatar.constants import DEFAULT_BACKGROUND

        renderer = facade.get_renderer(None, None, LIVE_SIZE, LIVE_SIZE, DEFAULT_BACKGROUND, view="front", session=session)
        return next(iter(renderer.iter_frames(last.weights[None], last.head_pose[None])))

    image = pg.run(draw)
    took_ms = 1000.0 * (time.perf_counter() - arrived)
    state.latencies_ms.append(took_ms)
    from avatar.rig import index_of

    jaw = float(last.weights[index_of("jawOpen")])
    info = (f"jawOpen {jaw:.2f} | frame {last.index} at {last.time:.2f} s | latency: server {took_ms:.0f} ms "
            f"(chunk in -> picture out) + algorithmic {1000 * state.animator.latency_s:.1f} ms | "
            f"{state.frames} frames from {state.seconds:.1f} s of audio")
    return image, info, state


def build(pg: Playground) -> None:
    """Lay out the Live tab in the current Blocks and wire the microphone stream to `live_step`."""
    import gradio as gr

    from avatar.app.playground.errors import user_errors

    gr.Markdown("Talk into the microphone: the head follows as you speak (the browser sends the microphone every "
                f"{CHUNK_S:g} s; each chunk's newest frame is rendered on the server). For Unreal or a VTuber app, "
                "use `emoavatar stream --mic --livelink HOST` or `--vmc HOST` instead (docs/live.md).")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone", elem_id="live-mic")
            info = gr.Markdown("waiting for the microphone", elem_id="live-info")
        with gr.Column(scale=5, min_width=300):
            image = gr.Image(label="Live head", elem_id="live-image", interactive=False, height=LIVE_SIZE + 40, format="jpeg")
    state = gr.State(None)

    @user_errors(pg.root)
    def on_chunk(chunk: Any, st: Any) -> tuple[Any, str, Any]:
        picture, text, st = live_step(pg, chunk, st)
        return (picture if picture is not None else gr.skip()), text, st

    mic.stream(on_chunk, [mic, state], [image, info, state], stream_every=CHUNK_S, time_limit=MAX_LIVE_SECONDS,
               concurrency_limit=None, api_name="live", show_progress="hidden")
    mic.start_recording(lambda: None, None, state, api_visibility="private")
