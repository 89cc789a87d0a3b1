"""Returns what the critics make of a batch: the hinge loss per image, p(target), its finite-difference gradient, readings.

Everything in refinement that touches the critics, kept apart from the loop (`generators.refinement.loop`)
and from the parametrisations (`generators.refinement.space`) so each can be tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError
from avatar.rig import NUM_ARKIT
from generators.refinement.options import RefinementOptions
from generators.refinement.penalties import target_hinge
from generators.refinement.space import Parametrisation


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


def eval_pairs(opts: RefinementOptions) -> tuple[list[int], list[float]]:
    """Return a fixed, spread set of `eval_batch` (identity, yaw) pairs from the optimisation's own identities and yaws."""
    n = opts.eval_batch
    ids = [opts.identities[(i * 7) % len(opts.identities)] for i in range(n)]
    yaws = [float(opts.yaws[i % len(opts.yaws)]) for i in range(n)]
    return ids, yaws


def critic_readings(render: Callable[..., Any], critics: list[tuple[str, Any]], weights: torch.Tensor, target: int,
                    opts: RefinementOptions) -> dict[str, dict[str, float]]:
    """Return {critic: {"p_target", "accuracy"}} of one pose on the fixed eval (identity, yaw) pairs, front light ({} if eval_batch is 0)."""
    if opts.eval_batch <= 0:
        return {}
    ids, yaws = eval_pairs(opts)
    with torch.no_grad():
        images, boxes = render(weights.detach().expand(len(ids), NUM_ARKIT), ids, yaws, (0.0, 0.0))
        out = {}
        for name, critic in critics:
            lp = critic.log_probs(images, boxes=boxes)
            p = lp.exp()
            out[name] = {"p_target": round(float(p[:, target].mean()), 4),
                         "accuracy": round(float((torch.nan_to_num(lp, nan=-math.inf).argmax(-1) == target).float().mean()), 4)}
    return out


def photometric(images: torch.Tensor, amount: float, gen: torch.Generator, repeats: int = 1) -> torch.Tensor:
    """Return images with per-image brightness and contrast drawn in 1 +- amount (clamped to [0, 1]).

    With `repeats` the batch is that many copies of one set of views (finite differences): each copy gets
    the same draws, so the differences see the pose change and not the camera's.
    """
    if amount <= 0:
        return images
    b = images.shape[0] // repeats
    gain = (1 + (torch.rand(b, generator=gen) * 2 - 1) * amount).repeat(repeats)
    contrast = (1 + (torch.rand(b, generator=gen) * 2 - 1) * amount).repeat(repeats)
    gain, contrast = (t.to(images.device, images.dtype).view(-1, 1, 1, 1) for t in (gain, contrast))
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * contrast + mean * gain).clamp(0, 1)


def critic_terms(critics: list[tuple[str, Any]], images: torch.Tensor, boxes: Any, target: int,
                 confident: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ((B,) hinge loss per image averaged over critics, (B,) p(target) averaged over critics)."""
    terms, probs = [], []
    for name, critic in critics:
        lp = critic.log_probs(images, boxes=boxes)
        if not torch.isfinite(lp[:, target]).all():
            raise AvatarInputError(f"critic {name!r} cannot read {EMOTIONS[target]!r} (no such class): choose another critic or emotion")
        terms.append(target_hinge(lp, target, confident))
        probs.append(lp[:, target].detach().exp())
    return torch.stack(terms).mean(0), torch.stack(probs).mean(0)


def finite_difference_critic(space: Parametrisation, params: torch.Tensor, bounds: tuple[float, float], render: Callable[..., Any],
                             critics: list[tuple[str, Any]], target: int, views: tuple[list[int], list[float], tuple[float, float]],
                             step: float, photometric_jitter: float, confident: float,
                             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (critic loss, p(target), (P,) central-difference gradient of the critic loss) on one batch of views.

    Every parameter is moved by +-`step` (inside the bounds) on the same `views` (identities, yaws, light) and
    photometric draws, and everything is rendered in one batch: what the critics see, face boxes and
    occlusion included, so lips parting over the teeth get the gradient autograd through a rasteriser misses.
    """
    ids, yaws, light = views
    with torch.no_grad():
        p = params.detach()
        h = step
        eye = torch.eye(p.numel(), device=p.device, dtype=p.dtype)
        plus, minus = (p + h * eye).clamp(*bounds), (p - h * eye).clamp(*bounds)
        variants = torch.cat([p[None], plus, minus])  # (2P + 1, P)
        b = len(ids)
        weights = torch.cat([space.to_weights(v, b) for v in variants])
        images, boxes = render(weights, ids * len(variants), yaws * len(variants), light)
        images = photometric(images, photometric_jitter, gen, repeats=len(variants))
        loss, prob = critic_terms(critics, images, boxes, target, confident)
        per_variant = loss.view(len(variants), b).mean(1)
        n = p.numel()
        span = (plus - minus).diagonal().clamp_min(1e-6)
        grad = (per_variant[1:1 + n] - per_variant[1 + n:]) / span
    return per_variant[0], prob[:b].mean(), grad
