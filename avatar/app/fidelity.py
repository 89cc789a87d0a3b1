"""Returns the emotion-fidelity report: pose every emotion x intensity x identity x view, render, recognize, score.

This is the in-loop path: frames are rendered once per batch, uploaded to the device once, and
every recognizer and scorer works there; nothing returns to the host until the report is read.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.emotion import EMOTIONS

if TYPE_CHECKING:
    from avatar.appearance import Appearance


@dataclass(frozen=True)
class FidelityConfig:
    """What to sweep: identities (seeds), camera views, intensities, emotions, which recognizers score, which table poses.

    views: preset names (front, three-quarter, profile) or yaws as "yaw=20" / "20" (degrees).
    prototypes: the emotion table posed ("facs", "refined"; None: `generators.expression.DEFAULT_PROTOTYPE_TABLE`).
    appearance: the renderer's `avatar.appearance.Appearance` (shading switches, eye colour; None: the defaults);
        the skin tone is always `skin`.
    brow_lowerer: the strength 0..2 of the corrective brow lowerer on the shipped head (None: the shipped
        `avatar.brow_lowerer.BROW_LOWERER`; 0 = ICT's own browDown).
    """

    identities: tuple[int, ...] = (0, 7, 21)
    views: tuple[str, ...] = ("front", "three-quarter")
    intensities: tuple[float, ...] = (0.5, 0.75, 1.0)
    emotions: tuple[str, ...] = EMOTIONS
    recognizers: tuple[str, ...] = ("expression-net", "fer2013")
    size: int = 256
    device: str = "auto"
    skin: str = "medium"
    prototypes: str | None = None
    appearance: Appearance | None = None
    brow_lowerer: float | None = None


def view_camera(view: str | float) -> Any:
    """Return the Camera of a view: a preset name, or a yaw in degrees as a number, "yaw=20" or "20" (`avatar.views`)."""
    from renderers.cameras import resolve_camera

    return resolve_camera(view)


@dataclass
class FidelityReport:
    """Per-recognizer Scores of the sweep, the per-emotion accuracy table, and throughput."""

    config: FidelityConfig
    scores: dict[str, Any]
    frames: int
    seconds: float
    render_seconds: float
    per_view: dict[str, dict[str, float]] = field(default_factory=dict)
    per_view_emotion: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """{recognizer: {view: {emotion: recall}}} (NaN where the recognizer lacks the class)."""
    p_target: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """{recognizer: {view: {emotion: mean probability of the commanded emotion}}}."""

    @property
    def frames_per_second(self) -> float:
        """Return the end-to-end rate of render -> recognize -> score (all recognizers), frames/s."""
        return self.frames / self.seconds if self.seconds else float("nan")

    def table(self) -> str:
        """Return the per-emotion accuracy table (rows: emotions; columns: recognizers) as text."""
        names = list(self.scores)
        # Each column is as wide as its judge's name plus a gap, so names never run together.
        widths = [max(10, len(n) + 3) for n in names]
        head = f"{'emotion':10s}" + "".join(f"{n:>{w}s}" for n, w in zip(names, widths))
        lines = [head, "-" * len(head)]
        for e in self.config.emotions:
            cells = []
            for n, w in zip(names, widths):
                recall = None if e in self.scores[n].unavailable else self.scores[n].recall.get(e)
                cells.append(f"{'n/a' if recall is None or recall != recall else f'{recall:.2f}':>{w}s}")
            lines.append(f"{e:10s}" + "".join(cells))
        lines.append("-" * len(head))
        lines.append(f"{'accuracy':10s}" + "".join(f"{self.scores[n].accuracy:{w}.3f}" for n, w in zip(names, widths)))
        lines.append(f"{'balanced':10s}" + "".join(f"{self.scores[n].balanced_accuracy:{w}.3f}" for n, w in zip(names, widths)))
        lines.append(f"{self.frames} frames per judge: {self.frames_description()}; "
                     f"{self.frames_per_second:.1f} frames/s end to end, render {self.frames / max(self.render_seconds, 1e-9):.1f} frames/s")
        return "\n".join(lines)

    def frames_description(self) -> str:
        """Return how the sweep's frame count is made up, e.g. "3 identities x 2 views x (7 emotions x 3 intensities + neutral once)"."""
        c = self.config
        ids, views = len(c.identities), len(c.views)
        posed = [e for e in c.emotions if e != "neutral"]
        k = len(c.intensities)
        per_pose = f"{len(posed)} emotion{'s' * (len(posed) != 1)} x {k} intensit{'ies' if k != 1 else 'y'}"
        if "neutral" in c.emotions:  # the rest pose has no intensity: it is drawn once per identity and view
            per_pose = f"({per_pose} + neutral once)" if posed else "neutral"
        return (f"{ids} identit{'ies' if ids != 1 else 'y'} x {views} view{'s' * (views != 1)} x {per_pose}")

    def view_table(self, recognizer: str | None = None) -> str:
        """Return per-emotion x per-view accuracy tables as text, one per recognizer (or only `recognizer`)."""
        blocks = []
        for name in [recognizer] if recognizer else list(self.per_view_emotion):
            table = self.per_view_emotion[name]
            views = list(table)
            head = f"{name} ({self.config.prototypes or 'default'} prototypes)\n{'emotion':10s}" + "".join(f"{v:>15s}" for v in views)
            lines = [head]
            for e in self.config.emotions:
                cells = [table[v].get(e, float("nan")) for v in views]
                lines.append(f"{e:10s}" + "".join(f"{'n/a' if c != c else f'{c:.2f}':>15s}" for c in cells))
            lines.append(f"{'accuracy':10s}" + "".join(f"{self.per_view[name][v]:15.3f}" for v in views))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    def per_emotion_readings(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Return {recognizer: {emotion: {"accuracy", "p_target", "per_view": {view: accuracy}}}} pooled over views.

        Pooled accuracy is the mean of the per-view recalls (every view has the same number of frames).
        """
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for name, table in self.per_view_emotion.items():
            out[name] = {}
            for e in self.config.emotions:
                accs = {v: table[v].get(e, float("nan")) for v in table}
                ps = [self.p_target[name][v].get(e, float("nan")) for v in table]
                out[name][e] = {"accuracy": round(float(np.mean(list(accs.values()))), 4),
                                "p_target": round(float(np.mean(ps)), 4),
                                "per_view": {v: round(float(a), 4) for v, a in accs.items()}}
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-able data."""
        config = dict(self.config.__dict__)
        if config["appearance"] is not None:  # as rendered: the skin tone is the config's
            config["appearance"] = asdict(replace(config["appearance"], skin=config["skin"]))
        return {"config": config, "frames": self.frames, "seconds": round(self.seconds, 3),
                "frames_per_second": round(self.frames_per_second, 2),
                "scores": {n: s.to_dict() for n, s in self.scores.items()}, "per_view_accuracy": self.per_view,
                "per_view_emotion_accuracy": self.per_view_emotion, "per_view_emotion_p_target": self.p_target}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON (atomically); return the path."""
        from avatar.io.atomic import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=2, default=_json_default))
        return Path(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def run_fidelity(config: FidelityConfig | None = None, progress: bool = False, recognizers: dict[str, Any] | None = None,
                 pose_fn: Callable[[str, float], np.ndarray] | None = None) -> FidelityReport:
    """Return the FidelityReport of a sweep; `recognizers` (name -> object) overrides building them by name.

    `pose_fn(emotion, intensity)` -> (52,) weights overrides the poses (default: `expression_weights`
    with `config.prototypes`), e.g. to read a pose being refined.
    """
    from tqdm.auto import tqdm

    from avatar.app.judges import make_recognizer
    from avatar.validation import check_units
    from avatar.head import default_head
    from generators.expression import expression_weights
    from recognizers.scoring import EmotionScorer
    from avatar.appearance import Appearance
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    from avatar.brow_lowerer import check_brow_lowerer

    cfg = config or FidelityConfig()
    check_units(cfg.intensities, "intensity")
    strength = check_brow_lowerer(cfg.brow_lowerer)
    recs = recognizers or {name: make_recognizer(name, cfg.device, detect_faces=False) for name in cfg.recognizers}
    scorers = {name: EmotionScorer(device=cfg.device) for name in recs}
    view_scorers = {(name, v): EmotionScorer(device=cfg.device) for name in recs for v in cfg.views}
    # Neutral has no intensity: pose it once per identity and view rather than once per intensity.
    poses, labels = [], []
    for e in cfg.emotions:
        for inten in (cfg.intensities if e != "neutral" else (0.0,)):
            if pose_fn is not None:
                poses.append(np.asarray(pose_fn(e, inten), np.float32))
            else:
                poses.append(expression_weights(emotion=e, intensity=inten, prototypes=cfg.prototypes) if e != "neutral"
                             else np.zeros(52, np.float32))
            labels.append(e)
    weights = np.stack(poses)
    expected_idx = np.array([EMOTIONS.index(e) for e in labels])
    p_sums = {(name, v): np.zeros(len(labels)) for name in recs for v in cfg.views}
    base = default_head(brow_lowerer=strength)
    appearance = replace(cfg.appearance or Appearance(), skin=cfg.skin)
    renderer = GLRenderer(base, RendererOptions(width=cfg.size, height=cfg.size, appearance=appearance))
    n_frames, t_render, t0 = 0, 0.0, time.perf_counter()
    steps = [(i, v) for i in cfg.identities for v in cfg.views]
    try:
        for ident, view in tqdm(steps, desc="fidelity", unit="batch", disable=not progress):
            renderer.set_head(base.with_identity(ident) if ident else base)
            renderer.set_camera(view_camera(view))
            tr = time.perf_counter()
            frames = np.stack(list(renderer.iter_frames(weights)))
            boxes = renderer.face_boxes(weights)
            x = renderer.to_torch(frames, next(iter(recs.values())).device)
            t_render += time.perf_counter() - tr
            for name, rec in recs.items():
                result = rec(x, boxes=boxes)
                scorers[name].update(result, labels)
                view_scorers[(name, view)].update(result, labels)
                probs = np.asarray(result.emotion_probs.detach().cpu() if hasattr(result.emotion_probs, "detach") else result.emotion_probs)
                p_sums[(name, view)] += np.nan_to_num(probs[np.arange(len(labels)), expected_idx])
            n_frames += len(frames)
    finally:
        renderer.close()
    seconds = time.perf_counter() - t0
    scores = {name: s.compute() for name, s in scorers.items()}
    view_scores = {key: s.compute() for key, s in view_scorers.items()}
    per_view = {name: {v: view_scores[(name, v)].accuracy for v in cfg.views} for name in recs}
    per_view_emotion = {name: {v: {e: (float("nan") if e in view_scores[(name, v)].unavailable else
                                       float(view_scores[(name, v)].recall.get(e, float("nan")))) for e in cfg.emotions}
                               for v in cfg.views} for name in recs}
    n_id = max(1, len(cfg.identities))
    p_target = {}
    for name in recs:
        p_target[name] = {}
        for v in cfg.views:
            mean_p = p_sums[(name, v)] / n_id
            p_target[name][v] = {e: round(float(np.mean(mean_p[[k for k, lab in enumerate(labels) if lab == e]])), 4)
                                 for e in cfg.emotions}
    return FidelityReport(cfg, scores, n_frames, seconds, t_render, per_view, per_view_emotion, p_target)
