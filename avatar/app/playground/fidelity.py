"""Returns the Fidelity tab: a small sweep of emotions x intensities x identities x views through `run_fidelity`, read by the chosen judges.

Shows each judge's confusion matrix (`Score.confusion_png`) and the per-emotion table (accuracy and
the mean probability of the commanded emotion, pooled over views). The sweep is capped so one
request stays short; `emoavatar fidelity` runs the full one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError

if TYPE_CHECKING:
    import pandas as pd

    from avatar.app.fidelity import FidelityConfig, FidelityReport
    from avatar.app.playground.state import Playground
    from avatar.app.session import Session

SWEEP_INTENSITIES: tuple[str, ...] = ("0.25", "0.5", "0.75", "1.0")
SWEEP_VIEWS: tuple[str, ...] = ("front", "three-quarter", "profile")
SWEEP_SIZES: tuple[int, ...] = (128, 192, 256)
MAX_IDENTITIES = 5
MAX_SWEEP_FRAMES = 400
"""Frames one sweep may render (about a minute on two CPU cores with three judges)."""


def parse_identities(text: str | None) -> tuple[int, ...]:
    """Return the identity seeds of "0, 7, 21" or "101-103" (the shared parser), at most `MAX_IDENTITIES`; raise on bad ones."""
    from avatar.validation import parse_identities as parse

    if not (text or "").strip():
        raise AvatarInputError("no identities: give at least one seed, e.g. 0 (the generic head) or 0,7,21")
    seeds = parse(text, "identities")
    if len(seeds) > MAX_IDENTITIES:
        raise AvatarInputError(f"{len(seeds)} identities: the playground sweeps at most {MAX_IDENTITIES}; use `emoavatar fidelity` for more")
    return seeds


def sweep_config(emotions: Sequence[str], intensities: Sequence[str], identities: str, views: Sequence[str],
                 judges: Sequence[str], size: Any, device: str, appearance: Any = None,
                 brow_lowerer: Any = None) -> FidelityConfig:
    """Return the FidelityConfig of the tab's choices; raise AvatarInputError for empty choices, a sweep over the cap or a
    brow lowerer strength outside 0..2.

    `appearance` carries the Shading group's switches (None: the library's defaults); `brow_lowerer` the Brow lowerer
    slider's strength (None: the shipped one).
    """
    from avatar.app.fidelity import FidelityConfig
    from avatar.app.playground.shading import brow_lowerer_of

    for what, chosen in (("emotion", emotions), ("intensity", intensities), ("view", views), ("judge", judges)):
        if not chosen:
            raise AvatarInputError(f"no {what} chosen: tick at least one")
    ids = parse_identities(identities)
    from avatar.views import parse_views

    parse_views(views)  # one rule for views: a bad one is named the way the CLI names it
    emos = tuple(e for e in EMOTIONS if e in emotions)  # the table and matrix follow the vocabulary's order
    ints = tuple(sorted(float(i) for i in intensities))
    size_v = int(size)
    if size_v not in SWEEP_SIZES:
        raise AvatarInputError(f"size {size!r}: use one of {', '.join(map(str, SWEEP_SIZES))}")
    per_pass = sum(1 if e == "neutral" else len(ints) for e in emos)  # neutral is posed once, as run_fidelity does
    frames = per_pass * len(ids) * len(views)
    if frames > MAX_SWEEP_FRAMES:
        raise AvatarInputError(f"this sweep renders {frames} frames, over the playground's {MAX_SWEEP_FRAMES}: "
                               "choose fewer identities, views or intensities, or run `emoavatar fidelity`")
    skin = {} if appearance is None else {"skin": appearance.skin}  # the config's skin is the one rendered
    return FidelityConfig(identities=ids, views=tuple(v for v in SWEEP_VIEWS if v in views), intensities=ints,
                          emotions=emos, recognizers=tuple(judges), size=size_v, device=device, appearance=appearance,
                          brow_lowerer=brow_lowerer_of(brow_lowerer), **skin)


def _sweep(session: Session, config: FidelityConfig) -> FidelityReport:
    """Return the report of `run_fidelity` with the Session's judges (built once, reused); runs on the GL worker."""
    from avatar.app.fidelity import run_fidelity

    recognizers = {name: session.recognizer(name, config.device, detect_faces=False) for name in config.recognizers}
    return run_fidelity(config, recognizers=recognizers)


def table_frame(report: FidelityReport) -> pd.DataFrame:
    """Return the per-emotion table: one row per emotion, one column per judge, cells "accuracy (p commanded)"; "n/a" where a judge lacks the class."""
    import pandas as pd

    readings = report.per_emotion_readings()
    rows = []
    for e in report.config.emotions:
        row: dict[str, Any] = {"emotion": e}
        for name in report.scores:
            r = readings[name][e]
            missing = e in report.scores[name].unavailable or r["accuracy"] != r["accuracy"]
            row[name] = "n/a" if missing else f"{r['accuracy']:.2f} (p {r['p_target']:.2f})"
        rows.append(row)
    for label, attr in (("accuracy", "accuracy"), ("balanced acc.", "balanced_accuracy")):
        rows.append({"emotion": label, **{name: f"{getattr(score, attr):.3f}" for name, score in report.scores.items()}})
    return pd.DataFrame(rows)


def run_sweep(pg: Playground, emotions: Sequence[str], intensities: Sequence[str], identities: str, views: Sequence[str],
              judges: Sequence[str], size: Any, progress: Callable[..., Any] | None = None,
              appearance: Any = None, brow_lowerer: Any = None) -> tuple[dict[str, tuple[str, str]], Any, str]:
    """Return ({judge: (confusion-matrix PNG path, caption)}, the per-emotion table, a summary line) of a small fidelity sweep.

    `appearance` sets the renders' shading switches (None: the library's; see `avatar.app.playground.shading`);
    `brow_lowerer` the heads' brow lowerer strength 0..2 (None: the shipped one).
    """
    from avatar.app.playground.expression import judge_caption
    from avatar.app.playground.shading import describe
    from avatar.brow_lowerer import BROW_LOWERER

    config = sweep_config(emotions, intensities, identities, views, judges, size, pg.device, appearance, brow_lowerer)
    if progress is not None:
        progress(0.1, desc="rendering and judging")
    report = pg.run(_sweep, config)
    out = pg.new_output_dir()
    matrices = {}
    for name, score in report.scores.items():
        path = score.confusion_png(out / f"confusion-{name}.png", cell=40)
        matrices[name] = (str(path), f"{judge_caption(name)}: accuracy {score.accuracy:.2f}, balanced {score.balanced_accuracy:.2f}")
    c = report.config
    summary = (f"**{report.frames} frames** ({len(c.identities)} identities x {len(c.views)} views x "
               f"{len(c.intensities)} intensities x {len(c.emotions)} emotions, {c.size} px) in {report.seconds:.1f} s "
               f"({report.frames_per_second:.1f} frames/s). Rows of each matrix: commanded emotion; columns: what the judge read.")
    if describe(appearance):
        summary += f" Shading: {describe(appearance)}."
    if c.brow_lowerer is not None and c.brow_lowerer != BROW_LOWERER:
        summary += f" Brow lowerer {c.brow_lowerer:g} (shipped {BROW_LOWERER:g})."
    return matrices, table_frame(report), summary


def build(pg: Playground, shading: Any, brow: Any, look: list[Any]) -> None:
    """Lay out the Fidelity tab in the current Blocks and wire its Run button; the `shading` group's choice, the `brow`
    slider's strength (`shading.build_brow_lowerer`) and the `look` row (`shading.build_look`) apply to the sweep's renders."""
    import gradio as gr

    from avatar.app.playground.errors import user_errors
    from avatar.app.playground.expression import judge_caption, judge_order
    from avatar.app.playground.shading import appearance_of

    judges = judge_order()
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            emotions = gr.CheckboxGroup(list(EMOTIONS), value=list(EMOTIONS), label="Emotions", elem_id="fid-emotions")
            intensities = gr.CheckboxGroup(list(SWEEP_INTENSITIES), value=["1.0"], label="Intensities", elem_id="fid-intensities")
            identities = gr.Textbox(value="0", label=f"Identities (seeds such as 0,7,21 or ranges 101-103, up to {MAX_IDENTITIES})", elem_id="fid-identities")
            views = gr.CheckboxGroup(list(SWEEP_VIEWS), value=["front"], label="Views", elem_id="fid-views")
            chosen = gr.CheckboxGroup(list(judges), value=list(judges), label="Judge (recognizers that grade; real-face ones first)", elem_id="fid-judges")
            size = gr.Radio(list(SWEEP_SIZES), value=192, label="Render size (px)", elem_id="fid-size")
            button = gr.Button("Run sweep", variant="primary", elem_id="fid-run")
        with gr.Column(scale=6, min_width=360):
            summary = gr.Markdown(elem_id="fid-summary")
            table = gr.Dataframe(label="Per emotion: accuracy (mean probability of the commanded emotion), pooled over views",
                                 interactive=False, elem_id="fid-table", wrap=True)
            images = []
            for row in range(0, len(judges), 2):  # two confusion matrices per row, one per judge
                with gr.Row():
                    images += [gr.Image(label=judge_caption(n), type="filepath", interactive=False, visible=False,
                                        elem_id=f"fid-confusion-{n}", buttons=["download", "fullscreen"])
                               for n in judges[row:row + 2]]

    @user_errors(pg.root)
    def on_run(emotions_v: list[str], intensities_v: list[str], identities_v: str, views_v: list[str], judges_v: list[str],
               size_v: Any, shading_v: list[str] | None, brow_v: Any, skin_v: str | None, eyes_v: str | None,
               hair_style_v: str | None, hair_colour_v: str | None, clothing_v: str | None,
               progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio's idiom
        look_v = (skin_v, eyes_v, hair_style_v, hair_colour_v, clothing_v)  # the Look row, in shading.LOOK order
        matrices, frame, text = run_sweep(pg, emotions_v, intensities_v, identities_v, views_v, judges_v, size_v, progress,
                                          appearance=appearance_of(shading_v, look_v), brow_lowerer=brow_v)
        shown = [gr.Image(value=matrices[n][0], label=matrices[n][1], visible=True) if n in matrices else gr.Image(value=None, visible=False)
                 for n in judges]
        return (frame, text, *shown)

    button.click(on_run, [emotions, intensities, identities, views, chosen, size, shading, brow, *look],
                 [table, summary, *images], api_name="fidelity")
