"""Returns refined parameters: the projected-Adam loop every refinement runs, keeping its best step.

The loop samples identities x views x a light per step, asks the critics (`generators.refinement.critics`)
for the hinge loss, adds the regularisers of the parametrisation (`generators.refinement.space`) and the
lip penalty (`generators.refinement.penalties`), and steps. With an `objective` it also scores the start
and every step on fixed views and leaves the best of them in the parameters, so a run whose late steps
wander (the sampled batches are noisy) does not return a worse pose than one it already had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from generators.refinement.critics import critic_terms, eval_pairs, finite_difference_critic, photometric
from generators.refinement.options import RefinementOptions
from generators.refinement.penalties import lip_crossing_penalty
from generators.refinement.space import Parametrisation


class RefinementRenderer(Protocol):
    """Renders a batch for refinement: what the loop calls once per step."""

    def __call__(self, weights: torch.Tensor, identities: Sequence[int], yaws: Sequence[float],
                 light: tuple[float, float]) -> tuple[torch.Tensor, Any]:
        """Return (images (B, 3, H, W) float in [0, 1], boxes (B, 4) pixels) for (B, 52) weights, B identity
        seeds, B camera yaws (degrees, + shows the subject's left cheek) and one key-light offset
        (azimuth, elevation) in degrees; images carry gradients to `weights`."""
        ...


def host_generator(generator: torch.Generator | None, seed: int) -> torch.Generator:
    """Return `generator`, or a new host generator seeded with `seed`."""
    # Sampling happens on the host generator whatever the device: one seed gives one run everywhere.
    return generator if generator is not None else torch.Generator().manual_seed(int(seed))


def sample_views(opts: RefinementOptions, gen: torch.Generator) -> tuple[list[int], list[float], tuple[float, float]]:
    """Return B identity seeds, B yaws (every yaw before any repeats) and one key-light offset for a step."""
    b = opts.batch_size
    ids = [opts.identities[int(i)] for i in torch.randint(len(opts.identities), (b,), generator=gen)]
    order = torch.randperm(len(opts.yaws), generator=gen).tolist()
    yaws = [float(opts.yaws[order[i % len(order)]]) for i in range(b)]
    az, el = ((torch.rand(2, generator=gen) * 2 - 1) * opts.light_jitter).tolist()
    return ids, yaws, (float(az), float(el))


def eval_objective(space: Parametrisation, render: RefinementRenderer, critics: list[tuple[str, Any]], target: int,
                   opts: RefinementOptions, lips: tuple[torch.Tensor, torch.Tensor]) -> Callable[[torch.Tensor], float]:
    """Return params -> the loop's objective (critic hinge + regularisers + lips) on the fixed eval views, front light.

    The views are `critics.eval_pairs` (the optimisation's own identities and yaws, never the judges'
    validation ones) with no light or photometric jitter, so two steps are compared on the same images.
    """
    ids, yaws = eval_pairs(opts)

    def objective(params: torch.Tensor) -> float:
        with torch.no_grad():
            p = params.detach()
            weights = space.to_weights(p, len(ids))
            images, boxes = render(weights, ids, yaws, (0.0, 0.0))
            per_image, _ = critic_terms(critics, images, boxes, target, opts.confident)
            proto, sparse = space.regularisers(p)
            lip = lip_crossing_penalty(weights[:1].to(lips[0].dtype), *lips).mean()
            return float(per_image.mean() + opts.prototype_weight * proto + opts.sparsity_weight * sparse + opts.lip_weight * lip)

    return objective


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
    objective: Callable[[torch.Tensor], float] | None = None,
) -> dict[str, list[float]]:
    """Return the per-step history after running projected Adam on `params` in place.

    With `objective` (params -> float, lower is better) the start and every step are scored and `params`
    ends at the best of them (the latest of equals); the history then also holds "objective" (start first, steps + 1 values)
    and "best_step" ([index into "objective"]: 0 is the start).
    """
    from tqdm.auto import tqdm

    history: dict[str, list[float]] = {k: [] for k in ("loss", "critic", "p_target", "prototype", "sparsity", "lips")}
    best: tuple[float, int, torch.Tensor] | None = None
    if objective is not None:
        start = objective(params)
        best = (start, 0, params.detach().clone())
        history["objective"] = [round(start, 5)]
    if opts.steps == 0:
        if best is not None:
            history["best_step"] = [0]
        return history
    momentum, second = torch.zeros_like(params), torch.zeros_like(params)
    scale = params.new_zeros(())
    finite = opts.gradient_mode() == "finite-difference"
    bar = tqdm(range(opts.steps), desc=desc, unit="step", disable=not progress, leave=False)
    for step in bar:
        ids, yaws, light = sample_views(opts, gen)
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
        postfix = {"p": f"{history['p_target'][-1]:.2f}"}
        if objective is not None and best is not None:
            value = objective(params)
            history["objective"].append(round(value, 5))
            if value <= best[0]:  # a tie goes to the later step: once the hinge is satisfied, the run may go on
                best = (value, step + 1, params.detach().clone())
            postfix["best"] = f"step {best[1]}"
        bar.set_postfix(postfix)
    if best is not None:
        with torch.no_grad():
            params.copy_(best[2])
        history["best_step"] = [best[1]]
    return history

