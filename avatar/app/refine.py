"""Returns recognizer-refined emotion poses: the facade that wires renderer, critics and judges into `generators.refinement`.

    import avatar
    out = avatar.refine(emotion="anger", steps=5)           # optimise against the FER2013 judges, judge on held-out faces
    out.weights                                             # (52,) float32 ARKit weights of the best step
    out.readings["face-api"]["after"]                       # held-out judge, held-out identities and views
    out.worse                                               # True when the judges read the result worse than the start

The recipe's defaults (steps, batch, identities, yaws, AU space) are `RefinementOptions`'s, the shipped
table's; `RENDER_SIZE` is that recipe's render size. A run of the default 40 steps takes about 10 to 25
minutes on 2 CPU cores (finite differences render (2P + 1) x 6 images a step); a progress bar shows it.

Optimisation renders with `renderers.differentiable.DifferentiableRenderer` (front camera; a view is a
head yaw, so one batch holds many views; identities are the head's PCA identities by seed); the
before/after readings are the fidelity sweep's (`avatar.app.fidelity`): GL renders at other
identities and views, scored by every judge, the critic included and labelled as such.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from avatar.emotion import EMOTIONS, normalize_emotion
from avatar.errors import AvatarInputError

DEFAULT_CRITICS: tuple[str, ...] = ("fer2013", "face-classification")
"""Judges refinement optimises against by default: the two FER2013-trained networks, as for the shipped table;
face-api stays held out (it decides whether a refined table may become the default)."""

DEFAULT_JUDGES: tuple[str, ...] = ("fer2013", "face-classification", "face-api", "expression-net")
"""Judges that read the result before and after (those that are not installed are skipped with a note)."""

VALIDATION_IDENTITIES: tuple[int, ...] = (0, 7, 21, 80, 95)
"""Identity seeds of the before/after readings: the issue's, none of them in the default optimisation set (101-140)."""

VALIDATION_VIEWS: tuple[str, ...] = ("front", "yaw=20", "three-quarter", "yaw=60", "profile")
"""Views of the readings: front and three-quarter (35 deg) are the target; 20 and 60 were never optimised on."""

RENDER_SIZE: int = 112
"""Render size of the optimisation in the shipped table's recipe (generators/data/arkit_prototypes_v3.json)."""

JUDGE_SIZE: int = 256
"""Render size of the judges' before/after readings."""


def judged_worse(before: dict[str, Any], after: dict[str, Any]) -> tuple[bool, str]:
    """Return (worse, one line) comparing the judges' readings of the start and of the result.

    `before`/`after` map a judge to {"accuracy", "p_target"}. The result reads worse when the judges' mean
    accuracy falls, or stays equal while their mean p(target) falls: the comparison the user sees printed.
    """
    judges = [j for j in before if j in after]
    if not judges:
        return False, "no judge read it"
    acc_b, acc_a = (float(np.mean([side[j]["accuracy"] for j in judges])) for side in (before, after))
    p_b, p_a = (float(np.mean([side[j]["p_target"] for j in judges])) for side in (before, after))
    worse = (round(acc_a, 4), round(p_a, 4)) < (round(acc_b, 4), round(p_b, 4))
    fell = [f"{j} {before[j]['accuracy']:.2f} -> {after[j]['accuracy']:.2f}" for j in judges
            if after[j]["accuracy"] < before[j]["accuracy"]]
    line = (f"mean accuracy of {len(judges)} judge(s) {acc_b:.2f} -> {acc_a:.2f}, p(target) {p_b:.2f} -> {p_a:.2f}"
            + (f" (fell: {', '.join(fell)})" if fell else ""))
    return worse, line


# ------------------------------------------------------------------ critics and judges
class LogitsCritic:
    """A `Critic` over any recognizer with `logits(images, boxes)` in FER2013 order (FER2013, face-classification).

    Returns (B, 8) log-probabilities over `avatar.emotion.EMOTIONS`; contempt is -inf.
    """

    def __init__(self, recognizer: Any, classes: Sequence[str] = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")) -> None:
        self.recognizer = recognizer
        self.device = recognizer.device
        self.model_name = getattr(recognizer, "model_name", type(recognizer).__name__)
        self._index = [list(classes).index(e) if e in classes else len(classes) for e in EMOTIONS]

    def log_probs(self, images: Any, boxes: Any = None) -> Any:
        """Return (B, 8) differentiable log-probabilities of float (B, 3, H, W) images (cropped at `boxes` when given)."""
        import torch

        lp = torch.log_softmax(self.recognizer.logits(images, boxes), dim=-1)
        lp = torch.cat([lp, lp.new_full((lp.shape[0], 1), -math.inf)], dim=1)
        return lp[:, self._index]


def make_judge(name: str, device: Any = "auto") -> Any:
    """Return a registry recognizer by name for scoring known face boxes (no detector)."""
    from avatar.app.judges import make_recognizer

    return make_recognizer(name, device, detect_faces=False)


def make_critic(name_or_object: Any, device: Any = "auto") -> Any:
    """Return a `Critic` (`log_probs(images, boxes=None)`) from a judge name or a recognizer/critic object."""
    obj = make_judge(name_or_object, device) if isinstance(name_or_object, str) else name_or_object
    if callable(getattr(obj, "log_probs", None)):
        return obj
    if callable(getattr(obj, "logits", None)):
        return LogitsCritic(obj)
    raise AvatarInputError(f"{name_or_object!r} cannot steer: a critic needs log_probs(images, boxes) or logits(images, boxes)")


# ------------------------------------------------------------------ the differentiable render callable
class DifferentiableRender:
    """The `generators.refinement.RefinementRenderer` the facade passes: a differentiable renderer plus face boxes.

    Returns (images (B, 3, H, W) in [0, 1] on the device, boxes (B, 4) float32 pixels) for (B, 52) weights,
    B identity seeds, B yaws (degrees) and one key-light offset (azimuth, elevation degrees). No
    supersampling by default (`samples=0`): the judges shrink the face to 64 px anyway, and it is 4x
    cheaper; the readings use GL's MSAA renders, so the two paths differ on purpose. A view is the
    head turned by -yaw in front of the front camera (lights turn with the camera in both renderers, so
    this is the camera orbit of `Camera.preset(yaw=...)` up to a small shift the face box absorbs).
    Owns its renderer: `close()` or `with`.
    """

    def __init__(self, size: int = 128, device: Any = "auto", skin: str = "medium", samples: int = 0) -> None:
        from avatar.appearance import Appearance
        from avatar.head import default_head
        from renderers.differentiable import DifferentiableRenderer
        from renderers.options import RendererOptions

        self.head = default_head()
        self.options = RendererOptions(width=size, height=size, samples=samples, appearance=Appearance(skin=skin))
        self.renderer = DifferentiableRenderer(self.head, self.options, device=device)
        self.device = self.renderer.view_proj.device
        self._offsets: dict[int, Any] = {}
        self._light: tuple[float, float] | None = (0.0, 0.0)
        self._base_lighting = self.options.lighting

    def _identity_offsets(self, seeds: Sequence[int]) -> Any:
        import torch

        for s in set(seeds) - set(self._offsets):
            # The seed -> shape rule lives in BlendshapeHead.with_identity; take its neutral, not a copy of the rule.
            off = self.head.with_identity(int(s)).neutral - self.head.neutral if s else np.zeros_like(self.head.neutral)
            self._offsets[int(s)] = torch.as_tensor(off, dtype=self.renderer.view_proj.dtype, device=self.device)
        return torch.stack([self._offsets[int(s)] for s in seeds])

    def _set_light(self, light: tuple[float, float]) -> None:
        if self._light == tuple(light):
            return
        az, el = (math.radians(float(a)) for a in light)
        x, y, z = self._base_lighting.key_dir
        # Turn the key about the vertical axis, then tilt it: the light moves, its colour and strength do not.
        x, z = x * math.cos(az) + z * math.sin(az), -x * math.sin(az) + z * math.cos(az)
        y, z = y * math.cos(el) + z * math.sin(el), -y * math.sin(el) + z * math.cos(el)
        self.renderer.shader.set_lights(replace(self._base_lighting, key_dir=(x, y, z)), self.renderer.camera)
        self._light = tuple(light)

    def boxes(self, vertices: Any) -> np.ndarray:
        """Return (B, 4) float32 face boxes of posed (B, V, 3) vertices, framed as GLRenderer frames them."""
        from renderers.face_boxes import face_boxes_of_points, face_points

        # One framing rule for both renderers: the one GLRenderer's boxes use.
        points = face_points(self.head, np.asarray(vertices.detach().cpu(), np.float64))
        return face_boxes_of_points(points, self.renderer.camera, self.options.width, self.options.height)

    def __call__(self, weights: Any, identities: Sequence[int], yaws: Sequence[float], light: tuple[float, float]) -> tuple[Any, np.ndarray]:
        import torch

        from avatar.rotations import apply_head_pose_torch

        r = self.renderer
        w = torch.as_tensor(weights, device=self.device, dtype=r.view_proj.dtype)
        self._set_light(light)
        verts = r.pose_head(w) + self._identity_offsets(identities)
        pose = torch.zeros(len(yaws), 6, dtype=verts.dtype, device=self.device)
        pose[:, 1] = -torch.deg2rad(torch.as_tensor(list(yaws), dtype=verts.dtype, device=self.device))
        verts = apply_head_pose_torch(verts, pose, r.pose_head.pivot)
        return r.render_vertices(verts)[:, :3], self.boxes(verts)

    def close(self) -> None:
        """Release the renderer's GL context."""
        self.renderer.close()

    def __enter__(self) -> DifferentiableRender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ facade
@dataclass
class RefineOutput:
    """What `avatar.refine` returns.

    weights: (52,) float32 refined ARKit weights (`names` order).
    result: the `generators.refinement.RefinementResult` (history, critic readings, options).
    readings: {judge: {"before": {...}, "after": {...}}} where each side holds "accuracy" and
        "p_target" overall and per view ({"per_view": {view: accuracy}}), on `identities` x `views`.
    critics: names of the judges that steered (their readings are not held out).
    worse: the judges read the result worse than the FACS pose it started from (`judged_worse`); `verdict`
        says by how much, in one line.
    """

    emotion: str
    intensity: float
    weights: np.ndarray
    result: Any
    readings: dict[str, dict[str, Any]] = field(default_factory=dict)
    critics: tuple[str, ...] = ()
    identities: tuple[int, ...] = ()
    views: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    worse: bool = False
    verdict: str = ""

    def __repr__(self) -> str:
        """Return one line: the emotion, the step kept and what the judges read before -> after."""
        reads = ", ".join(f"{j} {r['before']['accuracy']:.2f}->{r['after']['accuracy']:.2f}" for j, r in self.readings.items())
        step = f"step {self.result.best_step}/{self.result.options.steps}" if self.result is not None else "no result"
        return (f"RefineOutput({self.emotion} @ {self.intensity:g}, {step}, {reads or 'no judge read it'}"
                f"{', reads WORSE than the start' if self.worse else ''})")

    def to_dict(self) -> dict[str, Any]:
        """Return the output as plain JSON-able data."""
        from avatar.facs_inverse import arkit_to_au

        return {"emotion": self.emotion, "intensity": self.intensity, "critics": list(self.critics),
                "identities": list(self.identities), "views": list(self.views),
                "refined": self.result.to_dict(), "aus": arkit_to_au(self.weights).to_dict(),
                "readings": self.readings, "worse": self.worse, "verdict": self.verdict, "notes": self.notes}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write `to_dict()` as JSON (atomically); return the path."""
        return _write_json(self.to_dict(), path)


def _write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    from avatar.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1))
    return Path(path)


def judge_readings(poses: dict[str, Callable[[float], np.ndarray]], judges: Sequence[str], identities: Sequence[int],
                   views: Sequence[str], intensities: Sequence[float], size: int = 256, device: Any = "auto",
                   notes: list[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Return {judge: {emotion: {"accuracy", "p_target", "per_view": {view: accuracy}}}} of GL renders of `poses`.

    `poses` maps an emotion to a function intensity -> (52,) weights. Judges that cannot be built (not
    installed, weights missing) are skipped and named in `notes`.
    """
    from avatar.app.fidelity import FidelityConfig, run_fidelity

    recs: dict[str, Any] = {}
    for name in judges:
        try:
            recs[name] = make_judge(name, device)
        except (ImportError, AvatarInputError, OSError) as err:
            if notes is not None:
                notes.append(f"judge {name!r} skipped: {str(err).splitlines()[0]}")
    if not recs:
        return {}
    cfg = FidelityConfig(identities=tuple(identities), views=tuple(views), intensities=tuple(intensities),
                         emotions=tuple(poses), recognizers=tuple(recs), size=size, device=device)
    report = run_fidelity(cfg, progress=progress, recognizers=recs, pose_fn=lambda e, i: poses[e](i))
    return report.per_emotion_readings()


def refine(emotion: str = "anger", intensity: float = 1.0, *, identities: Sequence[int] | None = None,
           views: Sequence[float] | None = None, critics: Sequence[Any] = DEFAULT_CRITICS,
           judge: Sequence[str] | str | None = DEFAULT_JUDGES, validation_identities: Sequence[int] = VALIDATION_IDENTITIES,
           validation_views: Sequence[str] = VALIDATION_VIEWS, steps: int | None = None, size: int = RENDER_SIZE,
           judge_size: int = JUDGE_SIZE, seed: int | None = None, symmetric: bool | None = None, space: str | None = None,
           device: Any = "auto", options: Any = None, progress: bool = True, render: Any = None,
           judges: Sequence[str] | str | None = None) -> RefineOutput:
    """Return a `RefineOutput`: `emotion`'s pose at `intensity` refined against `critics`, read by `judges` before/after.

    The pose returned is the best step's (by the critics' objective on the optimisation's own views, the
    start included), and `worse` says whether the judges read it worse than the FACS pose it started from.

    Args:
        identities: identity seeds optimised over (default `RefinementOptions.identities`, 101-140, none of the
            validation seeds).
        views: camera yaws in degrees optimised over (default `RefinementOptions.yaws`, -40, -20, 0, 20, 40).
        critics: judge names or critic objects to optimise against (default fer2013 and face-classification).
        judge: judges that read the FACS pose and the refined pose on `validation_identities` x
            `validation_views` (GL renders at `judge_size`), a comma list or a sequence ("" or () for none); a critic
            among them is not held out. `judges=` is its old spelling (accepted with a deprecation warning).
        steps, seed, symmetric, space: `RefinementOptions` fields (None: its default, the shipped recipe: 40 steps,
            seed 0, Left/Right tied, "au" = the prototype's action-unit intensities move by finite differences;
            "arkit" moves the 52 weights by autograd through the renderer).
        size: render size of the optimisation (default `RENDER_SIZE`, the recipe's).
        options: a full `generators.refinement.RefinementOptions` (overrides identities/views/steps/seed/symmetric/space).
        progress: show a progress bar (steps, then the judges' renders).
        render: a `RefinementRenderer` to use instead of building a `DifferentiableRender` (the caller closes it).
    """
    from avatar.app.judges import parse_judges
    from avatar.notices import pick_renamed
    from generators.expression import facs_weights
    from generators.refinement import RefinementOptions, refine_expression

    label = normalize_emotion(str(emotion))
    judges = parse_judges(pick_renamed("judge=", judge, {"judges=": judges}, DEFAULT_JUDGES), allow_empty=True)
    given = {"steps": steps, "seed": seed, "symmetric": symmetric, "space": space,
             "identities": None if identities is None else tuple(int(i) for i in identities),
             "yaws": None if views is None else tuple(float(v) for v in views)}
    opts = options or RefinementOptions(**{k: v for k, v in given.items() if v is not None})
    opts.check()
    crit = {(c if isinstance(c, str) else getattr(c, "model_name", type(c).__name__)): make_critic(c, device) for c in critics}
    own = render is None
    rend = DifferentiableRender(size=size, device=device) if own else render
    try:
        result = refine_expression(label, intensity, rend, crit, options=opts, progress=progress,
                                   device=getattr(rend, "device", None))
    finally:
        if own:
            rend.close()
    notes: list[str] = []
    readings: dict[str, Any] = {}
    if judges and result.intensity > 0:
        refined, facs = result.weights, facs_weights(label, result.intensity)
        before = judge_readings({label: lambda i: facs}, judges, validation_identities, validation_views, (result.intensity,),
                                judge_size, device, notes, progress)
        after = judge_readings({label: lambda i: refined}, judges, validation_identities, validation_views, (result.intensity,),
                               judge_size, device, None, progress)
        readings = {j: {"before": before[j][label], "after": after[j][label]} for j in before}
    worse, verdict = judged_worse({j: r["before"] for j, r in readings.items()}, {j: r["after"] for j, r in readings.items()})
    return RefineOutput(label, result.intensity, result.weights, result, readings, tuple(crit), tuple(validation_identities),
                        tuple(validation_views), notes, worse, verdict)


# ------------------------------------------------------------------ the prototype table
TABLE_FORMAT = "emoavatar.arkit_prototypes"


def build_prototype_table(emotions: Sequence[str] | None = None, *, critics: Sequence[str] = DEFAULT_CRITICS,
                          judge: Sequence[str] | str | None = DEFAULT_JUDGES, validation_identities: Sequence[int] = VALIDATION_IDENTITIES,
                          validation_views: Sequence[str] = VALIDATION_VIEWS, validation_intensities: Sequence[float] = (0.6, 1.0),
                          options: Any = None, size: int = RENDER_SIZE, judge_size: int = JUDGE_SIZE, device: Any = "auto",
                          progress: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Return the refined prototype table (the generators/data/arkit_prototypes_v3.json layout) for `emotions` at intensity 1.

    Emotions no critic can read (contempt for the FER2013 judges) keep their FACS pose and say so;
    neutral stays all zeros. The table records the recipe (seed, steps, critics, identities, views,
    lights, regularisers), each pose's AU read-back, and the validation: every judge's accuracy on
    the validation identities x views x intensities with the FACS table and with the refined one, and
    whether the refined table reads worse overall ("worse", "verdict": `judged_worse` over judges x emotions).
    Without `options` it runs the shipped recipe (`RefinementOptions()` at `RENDER_SIZE`).
    """
    from avatar.app.judges import parse_judges
    from avatar.facs_inverse import arkit_to_au
    from avatar.rig import ARKIT_NAMES
    from generators.expression import facs_weights, refined_weights
    from generators.refinement import RefinementOptions, refine_expression

    opts = (options or RefinementOptions()).check()
    judges = parse_judges(judge, allow_empty=True)
    labels = [normalize_emotion(e) for e in (emotions or EMOTIONS)]
    crit = {c: make_critic(c, device) for c in critics}
    readable = {e for e in EMOTIONS if any(bool(np.isfinite(_class_log_prob(c, e))) for c in crit.values())}
    entries: dict[str, Any] = {}
    t_all = time.perf_counter()
    with DifferentiableRender(size=size, device=device) as rend:
        for label in labels:
            facs = facs_weights(label, 1.0)
            if label == "neutral" or label not in readable:
                why = "neutral is the rest pose" if label == "neutral" else f"no critic reads {label!r}"
                entries[label] = {"weights": [round(float(v), 5) for v in facs], "refined": False, "why": why}
                continue
            res = refine_expression(label, 1.0, rend, crit, options=opts, progress=progress, device=rend.device)
            entries[label] = {"weights": [round(float(v), 5) for v in res.weights], "refined": True,
                              "seconds": round(res.seconds, 1), "critic_before": res.readings_before,
                              "critic_after": res.readings_after, "parameters": res.parameters}
            if log:
                log(f"{label}: {res.seconds:.0f}s, critic p(target) {res.history['p_target'][0]:.2f} -> {res.history['p_target'][-1]:.2f}")
    for label, entry in entries.items():
        w = np.asarray(entry["weights"], np.float32)
        entry["named"] = {n: v for n, v in zip(ARKIT_NAMES, entry["weights"]) if v > 1e-3}
        entry["aus"] = arkit_to_au(w).to_dict()
        entry["facs_aus"] = arkit_to_au(facs_weights(label, 1.0)).to_dict()
    table = {
        "format": TABLE_FORMAT, "version": 1, "names": list(ARKIT_NAMES), "intensity": 1.0,
        "scaling": "weights(i) = clip(facs(i) + i * (refined - facs(1)), 0, 1)",
        "recipe": {"critics": list(crit), "seed": opts.seed, "steps": opts.steps, "lr": opts.lr,
                   "identities": list(opts.identities), "yaws": list(opts.yaws), "light_jitter_deg": opts.light_jitter,
                   "photometric_jitter": opts.photometric_jitter, "batch_size": opts.batch_size, "confident": opts.confident,
                   "prototype_weight": opts.prototype_weight, "sparsity_weight": opts.sparsity_weight,
                   "lip_weight": opts.lip_weight, "symmetric": opts.symmetric, "space": opts.space,
                   "gradient": opts.gradient_mode(), "fd_step": opts.fd_step, "keep_best": opts.keep_best,
                   "aus": list(opts.aus) if opts.aus is not None else None, "render_size": size,
                   "renderer": "renderers.differentiable (head yaw in front of the front camera)",
                   "seconds": round(time.perf_counter() - t_all, 1)},
        "emotions": entries,
    }
    notes: list[str] = []
    refined_w = {e: np.asarray(entries[e]["weights"], np.float32) for e in labels}

    def refined_pose(e: str) -> Callable[[float], np.ndarray]:
        return lambda i: refined_weights(e, i, refined_w)

    before = judge_readings({e: (lambda i, e=e: facs_weights(e, i)) for e in labels}, judges, validation_identities,
                            validation_views, validation_intensities, judge_size, device, notes, progress)
    after = judge_readings({e: refined_pose(e) for e in labels}, judges, validation_identities, validation_views,
                           validation_intensities, judge_size, device, None, progress)
    table["validation"] = {
        "identities": list(validation_identities), "views": list(validation_views), "intensities": list(validation_intensities),
        "renderer": "renderers.gl (MSAA, camera orbit)", "held_out_judges": [j for j in before if j not in crit],
        "critics": list(crit), "facs": before, "refined": after, "notes": notes,
    }
    worse, verdict = judged_worse(*({j: _mean_reading(side[j]) for j in side} for side in (before, after)))
    table["validation"].update(worse=worse, verdict=verdict)
    return table


def _mean_reading(per_emotion: dict[str, Any]) -> dict[str, float]:
    """Return {"accuracy", "p_target"} averaged over the emotions of one judge's readings."""
    rows = list(per_emotion.values())
    return {k: float(np.mean([r[k] for r in rows])) if rows else 0.0 for k in ("accuracy", "p_target")}


def _class_log_prob(critic: Any, label: str) -> float:
    """Return the critic's log-probability of `label` on a grey image: -inf when it has no such class."""
    import torch

    with torch.no_grad():
        x = torch.full((1, 3, 64, 64), 0.5, device=getattr(critic, "device", "cpu"))
        return float(critic.log_probs(x)[0, EMOTIONS.index(label)])
