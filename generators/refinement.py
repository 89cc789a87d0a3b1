"""Returns emotion poses refined so that real-face judges read them: recognizer-guided optimisation of ARKit weights.

    from generators.refinement import RefinementOptions, refine_expression
    result = refine_expression("anger", 1.0, render, critics=[fer2013], options=RefinementOptions(steps=60))
    result.weights              # (52,) float32 in [0, 1], ARKit order

The FACS prototypes (`avatar.emotion` + `avatar.facs`) are anatomically motivated but some of them
read poorly to judges trained on photographs. `refine_expression` starts from the prototype and moves
the 52 ARKit weights so that the critics read the target emotion on a batch of identities x views x
lights, while staying close to the prototype (L2), sparse (L1), left-right symmetric (each Left/Right
pair shares one parameter) and with lips that never cross (the head's `LipModel`). Weights are
parametrised as projected values: Adam-like steps of about `lr` (with an epsilon tied to the largest
gradient, so incidental tiny gradients do not move a weight), then clamped to [0, 1], so they stay
exact zeros where unused.
Gaze columns never move.

This module imports no renderer and no recognizer (the layer rule): it takes

- `render`: a `RefinementRenderer`, (weights (B, 52), identity seeds, camera yaws in degrees, key-light
  offset (azimuth, elevation) degrees) -> (images (B, 3, H, W) in [0, 1], face boxes (B, 4) pixels);
  `avatar.app.refine` builds one from `renderers.differentiable.DifferentiableRenderer`.
- `critics`: objects with `log_probs(images, boxes=None)` -> (B, 8) log-probabilities over
  `avatar.emotion.EMOTIONS` with gradients (`avatar.protocols.Critic`).

With `RefinementOptions(space="au")` the parameters are the intensities of the prototype's action units
instead (`generators.refinement_space`): fewer, anatomical degrees of freedom.
`generators.refinement_sequence.refine_sequence` does the same per labelled segment of a talking sequence,
changing only the upper face (see `UPPER_FACE_COLUMNS`): the speech mouth is returned bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from avatar.emotion import EMOTIONS, normalize_emotion
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES, NUM_ARKIT
from avatar.facs import parse_au_key
from avatar.validation import check_range, check_seed
from generators.refinement_critics import critic_terms, finite_difference_critic, photometric
from generators.refinement_parts import MOUTH_COLUMNS, UPPER_FACE_COLUMNS, lip_crossing_penalty
from generators.refinement_space import SPACES, Parametrisation, arkit_space, au_space

GRADIENTS: tuple[str, ...] = ("auto", "autograd", "finite-difference")

__all__ = [
    "MOUTH_COLUMNS", "UPPER_FACE_COLUMNS", "RefinementOptions", "RefinementRenderer", "RefinementResult", "refine_expression",
]


class RefinementRenderer(Protocol):
    """Renders a batch for refinement: what `refine_expression` calls once per step."""

    def __call__(self, weights: torch.Tensor, identities: Sequence[int], yaws: Sequence[float],
                 light: tuple[float, float]) -> tuple[torch.Tensor, Any]:
        """Return (images (B, 3, H, W) float in [0, 1], boxes (B, 4) pixels) for (B, 52) weights, B identity
        seeds, B camera yaws (degrees, + shows the subject's left cheek) and one key-light offset
        (azimuth, elevation) in degrees; images carry gradients to `weights`."""
        ...


@dataclass(frozen=True)
class RefinementOptions:
    """What to optimise over and how hard.

    steps, lr: projected Adam-like steps on the weights; `lr` is about how far a pulled weight moves per step.
    seed: seeds the sampling of identities, views, lights and photometric jitter (or pass generator=).
    identities: identity seeds sampled from (never use the ones you validate on).
    yaws: camera yaws in degrees sampled from (views).
    light_jitter: key-light azimuth/elevation drawn uniformly in +-this many degrees, one per step.
    photometric_jitter: per-image brightness and contrast drawn in 1 +- this (a camera's exposure).
    batch_size: images per step.
    confident: a view that already reads the target with this probability stops pulling (`target_hinge`).
    prototype_weight: L2 pull toward the FACS prototype (sum of squares over the 52 columns).
    sparsity_weight: L1 on the weights (unused shapes stay at zero).
    lip_weight: penalty on crossed inner lips (cm^2), from the head's `LipModel`.
    symmetric: tie each Left/Right pair to one value (False for one-sided expressions such as contempt).
    eval_batch: (identity, yaw) pairs scored before and after with the critics (0: skip).
    space: "arkit" moves the 52 ARKit weights (gaze excepted); "au" moves the intensities of action units
        (`aus`, default the prototype's own), each AU's shapes together (`generators.refinement_space`).
    aus: the AUs AU-space refinement may move, e.g. ("AU4", "AU5", "AU7"); None: the prototype's own.
    gradient: how the critics' gradient is taken: "autograd" through the renderer, "finite-difference"
        (central differences of `fd_step` per parameter on the same views: 2P + 1 renders per view, forward
        only, and right across occlusions such as lips parting over teeth, which a rasteriser's autograd
        gets wrong), or "auto": finite differences in AU space (few parameters), autograd in ARKit space.
    fd_step: the parameter step of the finite differences.
    """

    steps: int = 60
    lr: float = 0.05
    seed: int = 0
    identities: tuple[int, ...] = tuple(range(101, 141))
    yaws: tuple[float, ...] = (-40.0, -20.0, 0.0, 20.0, 40.0)
    light_jitter: float = 20.0
    photometric_jitter: float = 0.1
    batch_size: int = 8
    confident: float = 0.85
    prototype_weight: float = 0.5
    sparsity_weight: float = 0.02
    lip_weight: float = 20.0
    symmetric: bool = True
    eval_batch: int = 10
    space: str = "arkit"
    aus: tuple[str, ...] | None = None
    gradient: str = "auto"
    fd_step: float = 0.05

    def gradient_mode(self) -> str:
        """Return "autograd" or "finite-difference": `gradient`, with "auto" resolved by `space`."""
        if self.gradient != "auto":
            return self.gradient
        return "finite-difference" if self.space == "au" else "autograd"

    def check(self) -> RefinementOptions:
        """Return self after checking every field (one-line AvatarInputError quoting the bad value)."""
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 0:
            raise AvatarInputError(f"steps must be a whole number >= 0, got {self.steps!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise AvatarInputError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        for name in ("lr", "light_jitter", "photometric_jitter", "prototype_weight", "sparsity_weight", "lip_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise AvatarInputError(f"{name} must be a finite number >= 0, got {v!r}")
        check_range(self.photometric_jitter, "photometric_jitter", 0.0, 0.9)
        check_range(self.confident, "confident", 1e-6, 1.0)
        check_seed(self.seed)
        if not self.identities:
            raise AvatarInputError(f"identities must name at least one identity seed, got {self.identities!r}")
        for s in self.identities:
            check_seed(s)
        if not self.yaws:
            raise AvatarInputError(f"yaws must hold at least one camera yaw in degrees, got {self.yaws!r}")
        for y in self.yaws:
            check_range(y, "yaw (degrees)", -90.0, 90.0)
        if self.gradient not in GRADIENTS:
            raise AvatarInputError(f"gradient must be one of {', '.join(GRADIENTS)}, got {self.gradient!r}")
        check_range(self.fd_step, "fd_step", 1e-4, 0.5)
        if self.space not in SPACES:
            raise AvatarInputError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        if self.aus is not None:
            if self.space != "au":
                raise AvatarInputError(f"aus={self.aus!r} only applies with space='au' (ARKit-space refinement moves every column)")
            for key in self.aus:
                parse_au_key(key)
        return self


@dataclass
class RefinementResult:
    """The refined pose and how it got there.

    weights: (52,) float32 in [0, 1], ARKit order (`names`).
    prototype: (52,) float32, the FACS pose at `intensity` the L2 term pulls toward.
    init: (52,) float32 the optimisation started from.
    readings_before / readings_after: per critic, {"p_target": mean probability of the target,
        "accuracy": share of the eval images read as the target} on the eval batch (empty if skipped).
    history: per step "loss", "critic", "p_target" (mean over the batch and critics), "prototype",
        "sparsity", "lips".
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
            "final": {k: v[-1] for k, v in self.history.items() if v},
        }


def critic_list(critics: Any) -> list[tuple[str, Any]]:
    """Return [(name, critic)] from one critic, a list or a {name: critic} mapping (each must have `log_probs`)."""
    if critics is None:
        raise AvatarInputError("critics is None: pass at least one critic with log_probs(images, boxes=None)")
    items = list(critics.items()) if isinstance(critics, Mapping) else [
        (getattr(c, "model_name", type(c).__name__), c) for c in (critics if isinstance(critics, (list, tuple)) else [critics])]
    if not items:
        raise AvatarInputError("critics is empty: pass at least one critic with log_probs(images, boxes=None)")
    for name, c in items:
        if not callable(getattr(c, "log_probs", None)):
            raise AvatarInputError(f"critic {name!r} has no log_probs(images, boxes=None) method")
    return items


def _sample_views(opts: RefinementOptions, gen: torch.Generator) -> tuple[list[int], list[float], tuple[float, float]]:
    """Return B identity seeds, B yaws (every yaw before any repeats) and one key-light offset for a step."""
    b = opts.batch_size
    ids = [opts.identities[int(i)] for i in torch.randint(len(opts.identities), (b,), generator=gen)]
    order = torch.randperm(len(opts.yaws), generator=gen).tolist()
    yaws = [float(opts.yaws[order[i % len(order)]]) for i in range(b)]
    az, el = ((torch.rand(2, generator=gen) * 2 - 1) * opts.light_jitter).tolist()
    return ids, yaws, (float(az), float(el))


def _eval_pairs(opts: RefinementOptions) -> tuple[list[int], list[float]]:
    """Return a fixed, spread set of (identity, yaw) pairs for the before/after readings."""
    n = opts.eval_batch
    ids = [opts.identities[(i * 7) % len(opts.identities)] for i in range(n)]
    yaws = [float(opts.yaws[i % len(opts.yaws)]) for i in range(n)]
    return ids, yaws


def critic_readings(render: RefinementRenderer, critics: list[tuple[str, Any]], weights: torch.Tensor, target: int,
                    opts: RefinementOptions) -> dict[str, dict[str, float]]:
    """Return {critic: {"p_target", "accuracy"}} of one pose on the fixed eval (identity, yaw) pairs, front light ({} if eval_batch is 0)."""
    if opts.eval_batch <= 0:
        return {}
    ids, yaws = _eval_pairs(opts)
    with torch.no_grad():
        images, boxes = render(weights.detach().expand(len(ids), NUM_ARKIT), ids, yaws, (0.0, 0.0))
        out = {}
        for name, critic in critics:
            lp = critic.log_probs(images, boxes=boxes)
            p = lp.exp()
            out[name] = {"p_target": round(float(p[:, target].mean()), 4),
                         "accuracy": round(float((torch.nan_to_num(lp, nan=-math.inf).argmax(-1) == target).float().mean()), 4)}
    return out


def lip_tensors(lip_model: Any, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the lip model's (offset, per_shape) as tensors on `device` (default: the shipped head's `LipModel`)."""
    if lip_model is None:
        from generators.speech.visemes import default_lip_model

        lip_model = default_lip_model()
    return (torch.as_tensor(np.asarray(lip_model.offset), dtype=torch.float32, device=device),
            torch.as_tensor(np.asarray(lip_model.per_shape), dtype=torch.float32, device=device))


def optimise(
    space: Parametrisation,
    params: torch.Tensor,
    bounds: tuple[float, float],
    render: RefinementRenderer,
    critics: list[tuple[str, Any]],
    target: int,
    opts: RefinementOptions,
    gen: torch.Generator,
    lips: tuple[torch.Tensor, torch.Tensor],
    progress: bool,
    desc: str,
) -> dict[str, list[float]]:
    """Return the per-step history after running projected Adam on `params` in place."""
    from tqdm.auto import tqdm

    history: dict[str, list[float]] = {k: [] for k in ("loss", "critic", "p_target", "prototype", "sparsity", "lips")}
    if opts.steps == 0:
        return history
    momentum, second = torch.zeros_like(params), torch.zeros_like(params)
    scale = params.new_zeros(())
    finite = opts.gradient_mode() == "finite-difference"
    bar = tqdm(range(opts.steps), desc=desc, unit="step", disable=not progress, leave=False)
    for _ in bar:
        ids, yaws, light = _sample_views(opts, gen)
        weights = space.to_weights(params, len(ids))  # (B, 52)
        if finite:
            critic_loss, p_target, critic_grad = finite_difference_critic(space, params, bounds, render, critics, target, (ids, yaws, light),
                                                                          opts.fd_step, opts.photometric_jitter, opts.confident, gen)
        else:
            images, boxes = render(weights, ids, yaws, light)
            images = photometric(images, opts.photometric_jitter, gen)
            per_image, p_images = critic_terms(critics, images, boxes, target, opts.confident)
            critic_loss, p_target = per_image.mean(), p_images.mean()
        proto, sparse = space.regularisers(params)
        lip = lip_crossing_penalty(weights.to(lips[0].dtype), *lips).mean()
        loss = critic_loss + opts.prototype_weight * proto + opts.sparsity_weight * sparse + opts.lip_weight * lip
        params.grad = None
        loss.backward()
        if finite:
            params.grad += critic_grad
        with torch.no_grad():
            # Adam, except that epsilon is 1% of the recent largest gradient of any weight: plain Adam blows a
            # tiny, incidental gradient (a brow's 0.1 um effect on the lips) up to a full `lr` step, while a
            # weight the loss really pulls on still moves about `lr` per step.
            g = params.grad
            t = len(history["loss"]) + 1
            momentum.mul_(0.9).add_(g, alpha=0.1)
            second.mul_(0.99).addcmul_(g, g, value=0.01)
            scale.copy_(torch.maximum(scale * 0.95, g.abs().max()))
            m_hat, v_hat = momentum / (1 - 0.9**t), second / (1 - 0.99**t)
            params.sub_(opts.lr * m_hat / (v_hat.sqrt() + 0.01 * scale + 1e-12))
            params.clamp_(*bounds)
        for k, v in (("loss", loss), ("critic", critic_loss), ("p_target", p_target),
                     ("prototype", proto), ("sparsity", sparse), ("lips", lip)):
            history[k].append(round(float(v.detach()), 5))
        bar.set_postfix(p=f"{history['p_target'][-1]:.2f}")
    return history


def host_generator(generator: torch.Generator | None, seed: int) -> torch.Generator:
    """Return `generator`, or a new host generator seeded with `seed`."""
    # Sampling happens on the host generator whatever the device: one seed gives one run everywhere.
    return generator if generator is not None else torch.Generator().manual_seed(int(seed))


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
    history = optimise(space, params, (0.0, 1.0), render, crit, tgt, opts, gen,
                        lip_tensors(lip_model, dev), progress, f"refine {label}")
    final = space.to_weights(params.detach(), 1)
    after = critic_readings(render, crit, final, tgt, opts)
    return RefinementResult(
        target=label, intensity=inten, weights=final[0].cpu().numpy().astype(np.float32), prototype=proto_np.astype(np.float32),
        init=np.asarray(start, np.float32), readings_before=before, readings_after=after, history=history,
        seconds=time.perf_counter() - t0, options=opts, parameters=space.named(params),
    )
