"""Returns the Portrait tab: diffusion portraits of an emotion, AUs or valence/arousal through `avatar.portrait`, each scored.

The shipped model is 128x128 (a 64 px diffusion base and a 2x upsampler) and trained on renders of our head (not
photographs): the gallery shows its output scaled up, with each judge's reading. Generation runs on the playground's GL worker (the optional start render
needs the GL context); the session's judges are reused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError

if TYPE_CHECKING:
    from avatar.app.playground.state import Playground

MODES: tuple[str, ...] = ("emotion", "action units", "valence/arousal")
MAX_IMAGES = 8
SHOW_SIZE = 192
"""Gallery size of each portrait (128 px from the shipped model; bicubic), so the faces are visible."""


def generate(pg: Playground, mode: str, emotion: str, intensity: float, aus: str, va: str, n: Any, seed: Any,
             guidance: float, from_render: bool, identity: Any) -> tuple[list[tuple[Any, str]], str]:
    """Return (gallery items [(image (S, S, 3) uint8, caption)], a markdown summary) of one portrait request."""
    import numpy as np
    from PIL import Image

    from avatar.app.portrait import portrait

    if mode not in MODES:
        raise AvatarInputError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    count = int(n)
    if not 1 <= count <= MAX_IMAGES:
        raise AvatarInputError(f"{n!r} portraits: the playground makes 1..{MAX_IMAGES}; use `emoavatar portrait` for more")
    cond: dict[str, Any] = {"emotion": emotion} if mode == "emotion" else {"aus": aus} if mode == "action units" else {"va": va}
    ident = None if identity in (None, "") or not from_render else int(identity)
    out = pg.run(lambda session: portrait(**cond, intensity=float(intensity), n=count, seed=int(seed), critic_guidance=float(guidance),
                                          from_render=bool(from_render), identity=ident, device=pg.device, session=session,
                                          progress=False))
    items = []
    for img, score in zip(out.images, out.scores):
        big = np.asarray(Image.fromarray(img).resize((SHOW_SIZE, SHOW_SIZE), Image.BICUBIC))
        caption = ", ".join(f"{j}: {r['label']}" + (f" {r['p_target']:.2f}" if "p_target" in r else "") for j, r in score.items())
        items.append((big, caption))
    summary = out.to_dict()["summary"]
    target = out.settings["condition"].get("target_emotion")
    lines = [f"**{count} portraits** in {out.seconds:.1f} s, target: {target or 'AUs only'}; "
             f"AUs: {', '.join(f'{k}={v:.2f}' for k, v in out.settings['condition']['aus'].items()) or 'none (neutral)'}"]
    for judge, s in summary.items():
        tag = " (steered)" if judge == out.critic else ""
        acc = f"read as {target}: {s['accuracy']:.0%} (mean p {s['mean_p_target']:.2f})" if "accuracy" in s else ""
        err = f" ARKit error {s['mean_arkit_error']:.3f}" if "mean_arkit_error" in s else ""
        lines.append(f"- {judge}{tag}: {acc}{err}")
    return items, "\n".join(lines)


def build(pg: Playground) -> None:
    """Lay out the Portrait tab in the current Blocks and wire its Generate button."""
    import gradio as gr

    from avatar.app.playground.errors import user_errors

    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            mode = gr.Radio(list(MODES), value="emotion", label="Condition", elem_id="portrait-mode")
            emotion = gr.Dropdown(list(EMOTIONS), value="happy", label="Emotion", elem_id="portrait-emotion")
            intensity = gr.Slider(0, 1, value=1.0, step=0.05, label="Intensity", elem_id="portrait-intensity")
            aus = gr.Textbox(value="AU4=1,AU5=0.6,AU23=0.7", label="Action units", elem_id="portrait-aus")
            va = gr.Textbox(value="-0.6,0.7", label="Valence, arousal", elem_id="portrait-va")
            n = gr.Slider(1, MAX_IMAGES, value=4, step=1, label="Portraits", elem_id="portrait-n")
            seed = gr.Number(value=0, precision=0, label="Seed", elem_id="portrait-seed")
            guidance = gr.Slider(0, 10, value=0, step=0.5, label="Critic guidance (steered by FER2013)", elem_id="portrait-critic-guidance")
            from_render = gr.Checkbox(value=False, label="Start from a render of the head", elem_id="portrait-from-render")
            identity = gr.Number(value=0, precision=0, label="Identity of the start render", elem_id="portrait-identity")
            button = gr.Button("Generate", variant="primary", elem_id="portrait-run")
        with gr.Column(scale=6, min_width=360):
            gallery = gr.Gallery(label="Portraits (128 px, shown larger)", columns=4, elem_id="portrait-gallery")
            summary = gr.Markdown(elem_id="portrait-summary")

    @user_errors(pg.root)
    def on_run(*values: Any) -> tuple[Any, str]:
        return generate(pg, *values)

    button.click(on_run, [mode, emotion, intensity, aus, va, n, seed, guidance, from_render, identity], [gallery, summary],
                 api_name="portrait")
