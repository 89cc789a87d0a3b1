"""Returns one emotion pose refined so that real-face judges read it: `refine_expression` and its `RefinementResult`.

    from generators.refinement import RefinementOptions, refine_expression
    result = refine_expression("anger", 1.0, render, critics=[fer2013], options=RefinementOptions(steps=40))
    result.weights              # (52,) float32 in [0, 1], ARKit order

The FACS prototypes (`avatar.emotion` + `avatar.facs`) are anatomically motivated but some of them
read poorly to judges trained on photographs. `refine_expression` starts from the prototype and moves
the 52 ARKit weights so that the critics read the target emotion on a batch of identities x views x
lights, while staying close to the prototype (L2), sparse (L1), left-right symmetric (each Left/Right
pair shares one parameter) and with lips that never cross (the head's `LipModel`). Weights are
parametrised as projected values: Adam-like steps of about `lr` (with an epsilon tied to the largest
gradient, so incidental tiny gradients do not move a weight), then clamped to [0, 1], so they stay
exact zeros where unused. Gaze columns never move. The step kept is the best one (the start included)
by the loop's objective on fixed views of the optimisation's own identities and yaws
(`RefinementOptions.keep_best`), not merely the last.

This module imports no renderer and no recognizer (the layer rule): it takes

- `render`: a `RefinementRenderer`, (weights (B, 52), identity seeds, camera yaws in degrees, key-light
  offset (azimuth, elevation) degrees) -> (images (B, 3, H, W) in [0, 1], face boxes (B, 4) pixels);
  `avatar.app.refine` builds one from `renderers.differentiable.DifferentiableRenderer`.
- `critics`: objects with `log_probs(images, boxes=None)` -> (B, 8) log-probabilities over
  `avatar.emotion.EMOTIONS` with gradients (`avatar.protocols.Critic`).

With `RefinementOptions(space="au")` (the default) the parameters are the intensities of the prototype's
action units (`generators.refinement.space`): fewer, anatomical degrees of freedom; `space="arkit"` moves
the 52 weights. `generators.refinement.sequence.refine_sequence` does the same per labelled segment of a
talking sequence, changing only the upper face (see `UPPER_FACE_COLUMNS`): the speech mouth is returned
bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from avatar.emotion import EMOTIONS, normalize_emotion
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES, NUM_ARKIT
from avatar.validation import check_range
from generators.refinement.critics import critic_list, critic_readings
from generators.refinement.loop import RefinementRenderer, eval_objective, host_generator, optimise
from generators.refinement.options import RefinementOptions
from generators.refinement.penalties import lip_tensors
from generators.refinement.space import arkit_space, au_space


@dataclass
class RefinementResult:
    """The refined pose and how it got there.

    weights: (52,) float32 in [0, 1], ARKit order (`names`).
    prototype: (52,) float32, the FACS pose at `intensity` the L2 term pulls toward.
    init: (52,) float32 the optimisation started from.
    readings_before / readings_after: per critic, {"p_target": mean probability of the target,
        "accuracy": share of the eval images read as the target} on the eval batch (empty if skipped).
    history: per step "loss", "critic", "p_target" (mean over the batch and critics), "prototype",
        "sparsity", "lips"; with `options.keep_best` also "objective" (on the eval views, the start first).
    best_step: the step whose pose `weights` is (0: the start, n: after n steps; `steps` when not keep_best).
    parameters: {label: value} of what was optimised (AU intensities in AU space, tied columns in ARKit space).
    """

    target: str
    intensity: float
    weights: np.ndarray
    prototype: np.ndarray
    init: np.ndarray
    readings_before: dict[str, dict[str, float]] = field(default_factory=dict)
    readings_after: dict[str, dict[str, float]] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    options: RefinementOptions = field(default_factory=RefinementOptions)
    names: tuple[str, ...] = ARKIT_NAMES
    parameters: dict[str, float] = field(default_factory=dict)
    best_step: int = 0

    def named(self, threshold: float = 1e-3) -> dict[str, float]:
        """Return {ARKit name: weight} of the refined pose, above `threshold`."""
        return {n: round(float(v), 4) for n, v in zip(self.names, self.weights) if v > threshold}

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON-able data (weights as name -> value lists in ARKit order)."""
        return {
            "target": self.target, "intensity": self.intensity, "names": list(self.names),
            "weights": [round(float(v), 5) for v in self.weights],
            "prototype": [round(float(v), 5) for v in self.prototype],
            "readings_before": self.readings_before, "readings_after": self.readings_after,
            "seconds": round(self.seconds, 2), "options": asdict(self.options), "parameters": self.parameters,
            "best_step": self.best_step, "final": {k: v[-1] for k, v in self.history.items() if v and k != "best_step"},
        }


def check_inputs(target: Any, intensity: Any, render: Any, init: Any) -> tuple[str, float, np.ndarray | None]:
    """Return (label, intensity, init (52,) float32 or None) after checking them (errors quote the bad value)."""
    label = normalize_emotion(str(target)) if isinstance(target, str) else None
    if label is None:
        raise AvatarInputError(f"target must be an emotion label such as 'anger', got {target!r}")
    inten = check_range(intensity, "intensity")
    if not callable(render):
        raise AvatarInputError(f"render must be callable (weights, identities, yaws, light) -> (images, boxes), got {render!r}")
    w0 = None
    if init is not None:
        w0 = np.asarray(init.detach().cpu() if hasattr(init, "detach") else init, dtype=np.float32)
        if w0.shape != (NUM_ARKIT,):
            raise AvatarInputError(f"init must be (52,) ARKit weights, got shape {w0.shape}")
        if not np.all(np.isfinite(w0)) or w0.min() < 0 or w0.max() > 1:
            raise AvatarInputError(f"init weights must be finite and in [0, 1], got range [{w0.min():.3g}, {w0.max():.3g}]")
    return label, inten, w0


def refine_expression(
    target: str,
    intensity: float,
    render: RefinementRenderer,
    critics: Any,
    init: Any = None,
    options: RefinementOptions | None = None,
    generator: torch.Generator | None = None,
    *,
    prototype: Any = None,
    lip_model: Any = None,
    device: Any = None,
    progress: bool = False,
) -> RefinementResult:
    """Return a `RefinementResult` whose (52,) weights the critics read as `target` across identities x views x lights.

    Args:
        target: emotion label (synonyms accepted).
        intensity: 0..1; the FACS prototype at this intensity is the L2 anchor and, by default, the start.
        render: see `RefinementRenderer`.
        critics: one critic, a list, or {name: critic}; each has `log_probs(images, boxes=None)` -> (B, 8).
        init: optional (52,) start (default: the prototype).
        options: `RefinementOptions`.
        generator: a torch.Generator that seeds the sampling (default: one seeded with `options.seed`).
        prototype: optional (52,) anchor instead of the FACS prototype.
        lip_model: the head's `LipModel` (default: the shipped head's).
        device: where the weights live (default: the first critic's `device`, else cpu).
        progress: show a progress bar.
    """
    from avatar.emotion import Emotion
    from generators.expression import facs_weights

    label, inten, w0 = check_inputs(target, intensity, render, init)
    opts = (options or RefinementOptions()).check()
    crit = critic_list(critics)
    dev = torch.device(device) if device is not None else torch.device(getattr(crit[0][1], "device", "cpu"))
    t0 = time.perf_counter()
    gen = host_generator(generator, opts.seed)
    tgt = EMOTIONS.index(label)
    if opts.space == "au":
        if w0 is not None:
            raise AvatarInputError("init= holds ARKit weights; AU-space refinement starts from the prototype's AUs (pass prototype= AUs instead)")
        if prototype is not None and isinstance(prototype, (np.ndarray, torch.Tensor, list, tuple)):
            raise AvatarInputError("in space='au' prototype= takes action units (ActionUnits, a dict or 'AU4=1,AU5=0.8'), not ARKit weights")
        aus = Emotion.coerce(label).to_aus().scaled(inten) if prototype is None else prototype
        space = au_space(aus, opts.aus, opts.symmetric, device=dev)
        proto_np = space.to_weights(space.anchor, 1)[0].cpu().numpy()
    else:
        proto_np = facs_weights(label, inten) if prototype is None else np.asarray(prototype, np.float32).reshape(NUM_ARKIT)
        space = arkit_space(proto_np if w0 is None else w0, proto_np, opts.symmetric, device=dev)
    start = space.to_weights(space.start, 1)[0].detach().cpu().numpy()
    params = space.start.clone().requires_grad_(True)

    before = critic_readings(render, crit, space.to_weights(params, 1), tgt, opts)
    lips = lip_tensors(lip_model, dev)
    objective = eval_objective(space, render, crit, tgt, opts, lips) if opts.keep_best and opts.eval_batch > 0 else None
    history = optimise(space, params, (0.0, 1.0), render, crit, tgt, opts, gen, lips, progress, f"refine {label}", objective)
    best_step = int(history.pop("best_step", [opts.steps])[0])
    final = space.to_weights(params.detach(), 1)
    after = critic_readings(render, crit, final, tgt, opts)
    return RefinementResult(
        target=label, intensity=inten, weights=final[0].cpu().numpy().astype(np.float32), prototype=proto_np.astype(np.float32),
        init=np.asarray(start, np.float32), readings_before=before, readings_after=after, history=history,
        seconds=time.perf_counter() - t0, options=opts, parameters=space.named(params), best_step=best_step,
    )
