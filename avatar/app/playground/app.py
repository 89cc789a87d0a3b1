"""Returns the playground's Blocks and launches them: tabs, queue, theme, limits, and the warm-up that times the first render.

`launch()` is what `emoavatar serve` calls; `build_app()` alone is for tests and embedding. Gradio
is kept offline: analytics off (which also skips its version check), no share tunnel, system fonts
instead of Google Fonts, no server-side rendering (it would start Node).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from avatar.app.playground.state import Playground
from avatar.errors import AvatarInputError

QUEUE_CONCURRENCY = 2
"""Events run at once; GL and judge work is serialised on the GL worker anyway, so more would only wait there."""

QUEUE_MAX_SIZE = 32
"""Requests waiting beyond this are turned away with gradio's "queue is full" message."""

SHARE_REFUSED = ("--share is not available: it downloads gradio's tunnel binary and opens a public link through "
                 "gradio.live, and emoavatar runs offline; use --host 0.0.0.0 on a network you trust instead")

INTRO = """# emoavatar playground
Pose the ARKit head by emotion, valence/arousal or FACS action units and see how the judges read it; animate it
from speech, or live from your microphone; sweep the emotions through the scorer. Everything runs locally;
uploads and outputs live in a temp folder removed when the server stops."""


def _theme() -> Any:
    """Return the theme: gradio's default look with system fonts (its default fonts come from Google Fonts)."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "DejaVu Sans", "sans-serif"],
                             font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"])


def build_app(pg: Playground) -> Any:
    """Return the playground's gr.Blocks (queued), its callbacks bound to `pg`."""
    import gradio as gr

    from avatar.app.playground import expression, fidelity, live, portrait, shading, speech
    from avatar.app.playground.errors import user_errors

    # Gradio deletes its cached copies of results older than an hour, every ten minutes; all under pg.root.
    with gr.Blocks(title="emoavatar playground", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            switches = shading.build()  # above the tabs: one choice for every render the Expression, Speech and Fidelity tabs make
            brow = shading.build_brow_lowerer()  # the head's shapes: the Expression, Speech and Fidelity renders
        with gr.Row():
            look = shading.build_look()  # skin tone, eyes, hair and clothing of those renders
        with gr.Tabs():
            with gr.Tab("Expression", id="expression"):
                load_fn, load_inputs, load_outputs = expression.build(pg, switches, brow, look)
            with gr.Tab("Speech", id="speech"):
                speech.build(pg, switches, brow, look)
            with gr.Tab("Live", id="live"):
                live.build(pg)
            with gr.Tab("Portrait", id="portrait"):
                portrait.build(pg)
            with gr.Tab("Fidelity", id="fidelity"):
                fidelity.build(pg, switches, brow, look)
        demo.load(user_errors(pg.root)(load_fn), load_inputs, load_outputs, api_visibility="private")
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    return demo


@dataclass(frozen=True)
class WarmUp:
    """How long the first render and the first full read-out took, in seconds, measured at start-up."""

    first_render: float
    first_readout: float
    since_start: float


def warm_up(pg: Playground, started: float) -> WarmUp:
    """Return the timings of the first render (GL context, head, one frame) and of a full Expression read-out (all judges built)."""
    import avatar.app.facade as facade
    from avatar.app.playground.expression import VIEWS, readout

    t0 = time.perf_counter()
    pg.run(lambda session: facade.render(None, width=pg.image_size, height=pg.image_size, session=session))
    t1 = time.perf_counter()
    readout(pg, "emotion", "happy", 0.8, 0.0, 0.0, VIEWS[0], 0.0, 0)
    t2 = time.perf_counter()
    return WarmUp(first_render=t1 - t0, first_readout=t2 - t1, since_start=t2 - started)


def launch(host: str = "127.0.0.1", port: int = 7860, share: bool = False, image_size: int = 384, video_size: int = 320,
           device: str = "auto", started: float | None = None, log: Any = print) -> tuple[Any, Playground, WarmUp]:
    """Return (the running Blocks, its Playground, the warm-up timings) once the server listens on host:port.

    The caller owns both: `demo.close()` then `pg.close()` (which removes the temp folder). The
    first render happens before the server listens, so the first visitor does not pay for it.
    """
    from avatar.app.playground.limits import MAX_UPLOAD_MB

    started = time.perf_counter() if started is None else started
    if share:
        raise AvatarInputError(SHARE_REFUSED)
    pg = Playground(image_size=image_size, video_size=video_size, device=device)
    try:
        log(f"uploads and outputs in {pg.root} (removed on exit)")
        timings = warm_up(pg, started)
        log(f"first render in {timings.first_render:.2f} s (GL context, head, {image_size}x{image_size}); "
            f"first read-out with every judge in {timings.first_readout:.2f} s; {timings.since_start:.2f} s since start")
        demo = build_app(pg)
        try:
            from avatar.app.playground.live import STATIC_DIR, page_head

            demo.launch(server_name=host, server_port=int(port), share=False, prevent_thread_lock=True, quiet=True,
                        theme=_theme(), allowed_paths=[str(pg.root), str(STATIC_DIR)], head=page_head(), max_file_size=f"{MAX_UPLOAD_MB}mb",
                        show_error=False, ssr_mode=False, mcp_server=False, enable_monitoring=False, pwa=False)
        except OSError as e:
            raise AvatarInputError(f"cannot listen on {host}:{port} ({' '.join(str(e).split())}): pick another --port") from None
    except BaseException:
        pg.close()
        raise
    return demo, pg, timings
