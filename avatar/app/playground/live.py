"""Returns the Live tab: the browser's microphone streams to the server, which streams the head's frames back.

Gradio's streaming microphone sends a chunk every `CHUNK_S` seconds; each visitor's chunks go through that
visitor's own `generators.speech.streaming.StreamingAnimator` (kept in the session's state, made on the
first chunk at the browser's sample rate). Every frame a chunk decides goes back to the page as JSON (a
hidden textbox), where `static/live_head.js` plays them at their frame rate on the exported GLB head in
WebGL with three.js (shipped in `static/three/`, MIT, served by this server: no CDN). The newest frame is
also rendered on the GL worker (the server's own picture, for browsers without WebGL), with its jawOpen
and the latency: the server's time from the chunk's arrival to its answer, plus the algorithmic latency.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
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

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""three.js (static/three, with its LICENSE) and the page's own script (static/live_head.js)."""


def file_url(path: Path) -> str:
    """Return the URL under which gradio serves an allowed local file."""
    return f"/gradio_api/file={Path(path).resolve().as_posix()}"


def page_head() -> str:
    """Return the HTML for the page's <head>: an import map naming the shipped three.js, and the Live tab's script."""
    three = file_url(STATIC_DIR / "three" / "build" / "three.module.js")
    return (f'<script type="importmap">{json.dumps({"imports": {"three": three}})}</script>\n'
            f'<script type="module" src="{file_url(STATIC_DIR / "live_head.js")}"></script>')


def write_head_glb(pg: Playground) -> Path:
    """Return the path of the GLB the page draws (the shipped head, its ARKit morph targets, no animation), written once."""
    from avatar.appearance import Appearance
    from avatar.io.gltf import export_gltf

    path = pg.root / "live" / "head.glb"
    if not path.is_file():
        path.parent.mkdir(exist_ok=True)
        export_gltf(None, path, appearance=Appearance(), min_delta=2e-4)  # 2e-4 cm: invisible, and 6 MB instead of 10
    return path


def frames_json(frames: list[Any], fps: float, seq: int) -> str:
    """Return the JSON the page's script plays: {"seq", "fps", "names", "frames": [{"w": 52 weights, "p": pitch, yaw, roll}]}."""
    from avatar.rig import ARKIT_NAMES

    return json.dumps({"seq": seq, "fps": fps, "names": list(ARKIT_NAMES),
                       "frames": [{"w": [round(float(v), 4) for v in f.weights], "p": [round(float(v), 4) for v in f.head_pose[:3]]}
                                  for f in frames]}, separators=(",", ":"))


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


def live_step(pg: Playground, chunk: Any, state: LiveState | None) -> tuple[np.ndarray | None, str, LiveState, str]:
    """Return (the newest frame's render or None, a one-line read-out, the updated state, the frames as JSON or "") after one chunk.

    `chunk` is gradio's (sample rate, samples) numpy audio. Raises AvatarInputError for a chunk that is not audio.
    """
    import avatar.app.facade as facade
    from generators.speech.streaming import StreamingAnimator

    arrived = time.perf_counter()
    state = state if isinstance(state, LiveState) else LiveState()
    if chunk is None:
        return None, "waiting for the microphone", state, ""
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
        return None, f"listening: {state.seconds:.1f} s heard, no frame decided yet", state, ""
    last = frames[-1]
    state.frames += len(frames)

    def draw(session: Any) -> np.ndarray:
        from avatar.constants import DEFAULT_BACKGROUND

        renderer = facade.get_renderer(None, None, LIVE_SIZE, LIVE_SIZE, DEFAULT_BACKGROUND, view="front", session=session)
        return next(iter(renderer.iter_frames(last.weights[None], last.head_pose[None])))

    payload = frames_json(frames, state.animator.fps, state.chunks)
    image = pg.run(draw)
    took_ms = 1000.0 * (time.perf_counter() - arrived)
    state.latencies_ms.append(took_ms)
    from avatar.rig import index_of

    jaw = float(last.weights[index_of("jawOpen")])
    info = (f"jawOpen {jaw:.2f} | frame {last.index} at {last.time:.2f} s | latency: server {took_ms:.0f} ms "
            f"(chunk in -> picture out) + algorithmic {1000 * state.animator.latency_s:.1f} ms | "
            f"{state.frames} frames from {state.seconds:.1f} s of audio")
    return image, info, state, payload


def build(pg: Playground) -> None:
    """Lay out the Live tab in the current Blocks and wire the microphone stream to `live_step`."""
    import gradio as gr

    from avatar.app.playground.errors import user_errors
    from avatar.constants import DEFAULT_BACKGROUND

    gr.Markdown("Press **Record** and talk: the head follows as you speak. The browser sends the microphone every "
                f"{CHUNK_S:g} s; the server streams every frame back, drawn here in WebGL (left) and the newest one "
                "rendered on the server (right). For Unreal or a VTuber app use `emoavatar stream --mic --livelink HOST` "
                "or `--vmc HOST` (docs/live.md).")
    glb = write_head_glb(pg)
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone", elem_id="live-mic")
            info = gr.Markdown("waiting for the microphone", elem_id="live-info")
            # The server render's backdrop (sRGB), so the two heads side by side stand on the same grey.
            backdrop = ",".join(f"{c:g}" for c in DEFAULT_BACKGROUND)
            gr.HTML(f'<div id="live-canvas" data-glb="{file_url(glb)}" data-background="{backdrop}" '
                    'style="width:320px;height:320px"></div>',
                    label="WebGL head (three.js)")
        with gr.Column(scale=4, min_width=300):
            image = gr.Image(label="Server render", elem_id="live-image", interactive=False, height=LIVE_SIZE + 40, format="jpeg")
    weights = gr.Textbox(visible="hidden", elem_id="live-weights")
    state = gr.State(None)

    @user_errors(pg.root)
    def on_chunk(chunk: Any, st: Any) -> tuple[Any, str, Any, Any]:
        picture, text, st, payload = live_step(pg, chunk, st)
        return (picture if picture is not None else gr.skip()), text, st, (payload or gr.skip())

    mic.stream(on_chunk, [mic, state], [image, info, state, weights], stream_every=CHUNK_S, time_limit=MAX_LIVE_SECONDS,
               concurrency_limit=None, api_name="live", show_progress="hidden")
    mic.start_recording(lambda: None, None, state, api_visibility="private")
