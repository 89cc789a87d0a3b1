"""Returns the Expression tab: emotion, intensity, valence/arousal, action units and view in; a render and the judges' read-out out.

The callback poses through `avatar.app.facade.pose`, renders through `avatar.app.facade.render`
(the GL worker's Session), and asks every judge in `avatar.app.judges.RECOGNIZERS` for its eight
probabilities at the renderer's own face box. Real-face judges are listed first: they say whether
the face reads as the emotion; ours (trained on renders) only says it matches our prototypes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError
from avatar.facs import AU_NAMES

if TYPE_CHECKING:
    import pandas as pd

    from avatar.app.playground.state import Playground
    from avatar.appearance import Appearance
    from avatar.app.session import Session

MODES: tuple[str, ...] = ("emotion", "valence / arousal", "action units")
"""What drives the face; touching a control in one group switches to it."""

VIEWS: tuple[str, ...] = ("front", "three-quarter", "profile", "yaw slider")
"""Camera presets, and "yaw slider" for any yaw in -90..90 degrees."""

MAIN_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)
"""The AUs with a slider: the ones the eight EMFACS prototypes are built from."""

RENDER_TRAINED_JUDGES: frozenset[str] = frozenset({"expression-net"})
"""Judges trained on our own renders (avatar.app.judges says which is ours); every other one learnt from real faces."""

MAX_IDENTITY = 99_999


def judge_order() -> tuple[str, ...]:
    """Return the judges' names, real-face judges first, then ours (in `RECOGNIZERS` order within each group)."""
    from avatar.app.judges import RECOGNIZERS

    return tuple(n for n in RECOGNIZERS if n not in RENDER_TRAINED_JUDGES) + tuple(n for n in RECOGNIZERS if n in RENDER_TRAINED_JUDGES)


def judge_caption(name: str) -> str:
    """Return a judge's name with what it was trained on, as the chart titles show it."""
    return f"{name} ({'ours, trained on renders' if name in RENDER_TRAINED_JUDGES else 'trained on real faces'})"


def condition_weights(mode: str, emotion: str, intensity: float, valence: float, arousal: float,
                      au_values: tuple[float, ...]) -> tuple[np.ndarray, str | None, str]:
    """Return (52,) ARKit weights from the facade, the commanded emotion (None for VA/AUs) and a description."""
    import avatar.app.facade as facade

    if mode == "emotion":
        return facade.pose(emotion=emotion, intensity=float(intensity)), emotion, f"{emotion} at intensity {float(intensity):.2f}"
    if mode == "valence / arousal":
        v, a = float(valence), float(arousal)
        return facade.pose(va=(v, a)), None, f"valence {v:+.2f}, arousal {a:+.2f}"
    if mode == "action units":
        aus = {n: float(x) for n, x in zip(MAIN_AUS, au_values) if x and float(x) > 0}
        text = ", ".join(f"AU{n}={x:.2f}" for n, x in aus.items()) or "no action units (neutral)"
        return (facade.pose(aus=aus) if aus else facade.pose()), None, text
    raise AvatarInputError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")


def camera_for(view: str, yaw: float) -> Any:
    """Return the camera of a view preset, or of the yaw slider's angle when the view is "yaw slider"."""
    from avatar.app.fidelity import view_camera

    if view == "yaw slider":
        return view_camera(f"yaw={float(yaw):g}")
    if view not in VIEWS:
        raise AvatarInputError(f"unknown view {view!r}: use one of {', '.join(VIEWS)}")
    return view_camera(view)


def check_identity(identity: Any) -> int | None:
    """Return the identity seed as an int (None for 0, the generic head); raise on anything else."""
    try:
        value = float(identity if identity is not None else 0)
    except (TypeError, ValueError):
        raise AvatarInputError(f"identity {identity!r} is not a number: use a whole number 0..{MAX_IDENTITY}") from None
    if value != int(value) or not 0 <= value <= MAX_IDENTITY:
        raise AvatarInputError(f"identity {identity!r}: use a whole number 0..{MAX_IDENTITY} (0 = the generic head)")
    return int(value) or None


def _render_and_judge(session: Session, weights: np.ndarray, camera: Any, identity: int | None, size: int,
                      judges: tuple[str, ...], device: str,
                      appearance: Appearance | None = None,
                      brow_lowerer: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return the (H, W, 3) render and each judge's (8,) probabilities (NaN where a judge lacks a class); runs on the GL worker."""
    import avatar.app.facade as facade

    # render's skin= and eyes= win over the appearance's colours: pass the appearance's own.
    colours = {} if appearance is None else {"skin": appearance.skin, "eyes": appearance.eyes}
    frames = facade.render(weights[None], view=camera, identity=identity, width=size, height=size, session=session,
                           appearance=appearance, brow_lowerer=brow_lowerer, **colours)
    probs: dict[str, np.ndarray] = {}
    for name in judges:
        result = session.recognizer(name, device, detect_faces=False)(np.asarray(frames), boxes=frames.face_boxes)
        p = result.emotion_probs
        probs[name] = np.asarray(p.detach().cpu() if hasattr(p, "detach") else p, np.float64)[0]
    return np.asarray(frames)[0], probs


def chart_frame(probs: np.ndarray) -> pd.DataFrame:
    """Return one judge's bar-chart data: emotion, probability, and which bar is its top reading (classes it lacks left out)."""
    import pandas as pd

    finite = np.isfinite(probs)
    top = int(np.nanargmax(probs)) if finite.any() else -1
    rows = [{"emotion": e, "probability": round(float(p), 4), "bar": "top reading" if k == top else "other"}
            for k, (e, p) in enumerate(zip(EMOTIONS, probs)) if finite[k]]
    return pd.DataFrame(rows, columns=["emotion", "probability", "bar"])


def summary_markdown(description: str, view: str, yaw: float, identity: int | None, commanded: str | None,
                     probs: dict[str, np.ndarray]) -> str:
    """Return the read-out under the image: what was posed, and per judge its top label and probability (and p(commanded))."""
    where = f"yaw {float(yaw):g} deg" if view == "yaw slider" else view
    lines = [f"**Posed:** {description} · {where} · identity {identity or 0}", "",
             "| judge | reads as | " + (f"p({commanded})" if commanded else "") + " |", "|---|---|---|"]
    for name, p in probs.items():
        if not np.isfinite(p).any():
            reading = "no face"
        else:
            k = int(np.nanargmax(p))
            reading = f"**{EMOTIONS[k]}** {p[k]:.2f}" + (" ✓" if commanded == EMOTIONS[k] else "")
        cell = ""
        if commanded:
            c = float(p[EMOTIONS.index(commanded)])
            cell = f"{c:.2f}" if np.isfinite(c) else "n/a"
        lines.append(f"| {name}{' (ours)' if name in RENDER_TRAINED_JUDGES else ''} | {reading} | {cell} |")
    missing = sorted({e for p in probs.values() if np.isfinite(p).any() for e, ok in zip(EMOTIONS, np.isfinite(p)) if not ok})
    if missing:
        without = [n for n, p in probs.items() if any(not np.isfinite(p[EMOTIONS.index(e)]) for e in missing)]
        lines += ["", f"No bar, n/a: {', '.join(missing)} is not a class of {', '.join(without)}."]
    return "\n".join(lines)


def readout(pg: Playground, mode: str, emotion: str, intensity: float, valence: float, arousal: float, view: str,
            yaw: float, identity: Any, *au_values: float, appearance: Appearance | None = None,
            brow_lowerer: float | None = None) -> tuple[Any, ...]:
    """Return (mode, view, image, summary, one chart frame per judge) for the Expression tab's controls.

    `appearance` sets the shading switches (None: the library's; see `avatar.app.playground.shading`);
    `brow_lowerer` the head's brow lowerer strength 0..2 (None: the shipped one).
    """
    from avatar.app.playground.shading import brow_lowerer_of, describe
    from avatar.brow_lowerer import BROW_LOWERER

    judges = judge_order()
    ident = check_identity(identity)
    weights, commanded, description = condition_weights(mode, emotion, intensity, valence, arousal, tuple(au_values))
    camera = camera_for(view, yaw)
    strength = brow_lowerer_of(brow_lowerer)
    image, probs = pg.run(_render_and_judge, weights, camera, ident, pg.image_size, judges, pg.device, appearance, strength)
    if describe(appearance):
        description += f" · shading: {describe(appearance)}"
    if strength is not None and strength != BROW_LOWERER:
        description += f" · brow lowerer {strength:g}"
    summary = summary_markdown(description, view, yaw, ident, commanded, probs)
    return (mode, view, image, summary, *(chart_frame(probs[n]) for n in judges))


def build(pg: Playground, shading: Any, brow: Any, look: list[Any]) -> tuple[Any, list[Any], list[Any]]:
    """Return (the page-load callback, its inputs, its outputs) after laying out the tab in the current Blocks and wiring its events.

    `shading` is the Shading checkbox group (`avatar.app.playground.shading.build`): its choice applies to this tab's render;
    `brow` the Brow lowerer slider beside it (`shading.build_brow_lowerer`): the strength of this tab's head; `look` the
    Look row's dropdowns (`shading.build_look`): its skin tone, eyes, hair and clothing.
    """
    import functools

    import gradio as gr

    from avatar.app.playground.errors import user_errors
    from avatar.app.playground.shading import appearance_of

    judges = judge_order()
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=280):
            mode = gr.Radio(list(MODES), value="emotion", label="Pose from", elem_id="expr-mode",
                            info="moving a control in a group switches to it")
            emotion = gr.Dropdown(list(EMOTIONS), value="happy", label="Emotion", elem_id="expr-emotion")
            intensity = gr.Slider(0, 1, value=0.8, step=0.05, label="Intensity", elem_id="expr-intensity")
            with gr.Accordion("Valence / arousal pad", open=True):
                valence = gr.Slider(-1, 1, value=0.6, step=0.05, label="Valence (unpleasant ... pleasant)", elem_id="expr-valence")
                arousal = gr.Slider(-1, 1, value=0.4, step=0.05, label="Arousal (calm ... excited)", elem_id="expr-arousal")
            with gr.Accordion("Action units (FACS)", open=False):
                aus = [gr.Slider(0, 1, value=0, step=0.05, label=f"AU{n} {AU_NAMES[n]}", elem_id=f"expr-au{n}") for n in MAIN_AUS]
            with gr.Row():
                view = gr.Dropdown(list(VIEWS), value="front", label="View", elem_id="expr-view", min_width=120)
                identity = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_IDENTITY, label="Identity (0 = generic)",
                                     elem_id="expr-identity", min_width=120)
            yaw = gr.Slider(-90, 90, value=20, step=5, label="Yaw in degrees (view: yaw slider)", elem_id="expr-yaw")
        with gr.Column(scale=5, min_width=320):
            image = gr.Image(label="Render", type="numpy", format="png", interactive=False, elem_id="expr-image",
                             buttons=["download"])
            summary = gr.Markdown(elem_id="expr-summary")
        with gr.Column(scale=4, min_width=280):
            plots = [gr.BarPlot(x="emotion", y="probability", color="bar", y_lim=[0, 1], sort=list(EMOTIONS),
                                color_map={"top reading": "#d1495b", "other": "#7a9cc6"},
                                colors_in_legend=["top reading", "other"], title=judge_caption(name),
                                label=judge_caption(name), show_label=False, height=210, x_label_angle=-40, x_title=" ",
                                color_title=" ",
                                elem_id=f"judge-{name}") for name in judges]
    inputs = [mode, emotion, intensity, valence, arousal, view, yaw, identity, shading, brow, *look, *aus]
    outputs = [mode, view, image, summary, *plots]

    def handler(force_mode: str | None = None, force_view: str | None = None) -> Any:
        @user_errors(pg.root)
        def on_change(mode_v: str, emotion_v: str, intensity_v: float, valence_v: float, arousal_v: float, view_v: str,
                      yaw_v: float, identity_v: Any, shading_v: list[str] | None, brow_v: float | None,
                      *rest: Any) -> tuple[Any, ...]:
            look_v, au_v = rest[:len(look)], rest[len(look):]
            return readout(pg, force_mode or mode_v, emotion_v, intensity_v, valence_v, arousal_v, force_view or view_v,
                           yaw_v, identity_v, *au_v, appearance=appearance_of(shading_v, look_v), brow_lowerer=brow_v)

        return on_change

    on = functools.partial(gr.on, inputs=inputs, outputs=outputs, trigger_mode="always_last", show_progress="minimal")
    on([emotion.input, intensity.input], handler("emotion"), api_name="expression")
    on([valence.input, arousal.input], handler("valence / arousal"), api_visibility="private")
    on([a.input for a in aus], handler("action units"), api_visibility="private")
    on([yaw.input], handler(None, "yaw slider"), api_visibility="private")
    on([mode.input, view.input, identity.submit, identity.blur, shading.input, brow.release, *(d.input for d in look)], handler(),
       api_visibility="private")
    return handler(), inputs, outputs
