"""Returns recognizer-guided predictions: the critic's gradient on the predicted clean image, plus best-of-n reranking.

Plain torch functions the portrait pipelines share. Guidance works on the x0 prediction of each sampling step:
decode it to an image, ask the critic (`avatar.protocols.Critic`) for the target emotion's log-probability (and,
with an `avatar.protocols.ArkitCritic`, the error of the ARKit weights it reads back against the requested pose),
and move x0 up that gradient before the scheduler steps. The gradient is normalised per image, so `scale` is a
step length (RMS change of x0 per sampling step, in units of 1/100 of the [-1, 1] range) that does not depend on
how steep one critic's read-out happens to be. Everything stays on the device; the critic is not trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from avatar.errors import AvatarInputError

STEP_UNIT = 0.01
"""x0 moves `scale * STEP_UNIT` RMS per sampling step (x0 lives in [-1, 1])."""


@dataclass(frozen=True)
class GuidanceTarget:
    """What the critics are asked for: an emotion column (or None) and (B, 52) ARKit weights (or None) on the device."""

    emotion_index: int | None
    arkit: torch.Tensor | None = None
    arkit_weight: float = 0.0


def check_critic(critic: Any, what: str = "critic") -> None:
    """Raise AvatarInputError unless `critic` has a callable `log_probs(images, boxes=None)` (the Critic protocol)."""
    if not callable(getattr(critic, "log_probs", None)):
        raise AvatarInputError(f"{what} {critic!r} has no log_probs(images, boxes): pass an avatar.protocols.Critic")


def critic_objective(images: torch.Tensor, target: GuidanceTarget, critic: Any, arkit_critic: Any = None) -> torch.Tensor:
    """Return (B,) differentiable objectives of float (B, 3, H, W) images in [0, 1]: log p(target) - w * ARKit error."""
    dev = getattr(critic, "device", images.device) if critic is not None else images.device
    x = images.to(dev)
    total = torch.zeros(images.shape[0], device=images.device, dtype=images.dtype)
    if critic is not None and target.emotion_index is not None:
        lp = critic.log_probs(x)[:, target.emotion_index]
        total = total + lp.to(images.device, images.dtype)
    if arkit_critic is not None and target.arkit is not None and target.arkit_weight > 0:
        read = arkit_critic.arkit(images.to(getattr(arkit_critic, "device", images.device)))
        err = (read.to(images.device, images.dtype) - target.arkit.to(images.device, images.dtype)).abs().mean(dim=1)
        total = total - target.arkit_weight * err
    return total


def guide_x0(x0: torch.Tensor, decode: Callable[[torch.Tensor], torch.Tensor], target: GuidanceTarget, critic: Any,
             scale: float, arkit_critic: Any = None) -> torch.Tensor:
    """Return x0 (B, C, h, w) moved `scale * STEP_UNIT` RMS along the normalised gradient of the critic objective.

    `decode` maps x0 to float (B, 3, H, W) images in [0, 1] differentiably (identity-like for pixel models,
    the VAE decoder for latent ones). Rows whose gradient vanishes (a critic without the target class) stay put.
    """
    if scale <= 0:
        return x0
    with torch.enable_grad():
        x = x0.detach().requires_grad_(True)
        obj = critic_objective(decode(x), target, critic, arkit_critic)
        (grad,) = torch.autograd.grad(obj.sum(), x, allow_unused=True)
    if grad is None:
        return x0
    rms = grad.pow(2).mean(dim=tuple(range(1, grad.ndim)), keepdim=True).sqrt()
    step = torch.where(rms > 0, grad / rms.clamp_min(1e-12), torch.zeros_like(grad))
    return (x0 + scale * STEP_UNIT * step).detach()


@torch.no_grad()
def image_scores(images: torch.Tensor, critic: Any, target: GuidanceTarget | None = None, arkit_critic: Any = None,
                 emotions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Return one dict per float (B, 3, H, W) image in [0, 1]: the critic's label, probabilities and p(target).

    Keys: "critic" (its model name), "label", "probs" ({emotion: p}), "p_target" (when the target has an
    emotion) and "arkit_error" (mean |read - requested| over the 52 weights, with an ARKit critic).
    """
    out: list[dict[str, Any]] = [{} for _ in range(images.shape[0])]
    if critic is not None:
        lp = critic.log_probs(images.to(getattr(critic, "device", images.device))).float().cpu()
        probs = lp.exp()
        name = getattr(critic, "model_name", type(critic).__name__)
        for i, row in enumerate(probs):
            finite = torch.isfinite(lp[i])
            label = emotions[int(torch.where(finite, lp[i], torch.full_like(lp[i], -1e30)).argmax())] if emotions else None
            out[i].update({"critic": name, "label": label,
                           "probs": {e: round(float(p), 4) for e, p, ok in zip(emotions, row, finite) if ok}})
            if target is not None and target.emotion_index is not None:
                out[i]["p_target"] = round(float(row[target.emotion_index]), 4)
    if arkit_critic is not None and target is not None and target.arkit is not None:
        read = arkit_critic.arkit(images.to(getattr(arkit_critic, "device", images.device))).float().cpu()
        err = (read - target.arkit.float().cpu()).abs().mean(dim=1)
        for i, e in enumerate(err):
            out[i]["arkit_error"] = round(float(e), 4)
    return out


def rerank(images: torch.Tensor, per_slot: int, critic: Any, target: GuidanceTarget, arkit_critic: Any = None) -> torch.Tensor:
    """Return the (B,) indices of the best of each run of `per_slot` candidates in (B * per_slot, ...) images by the objective."""
    with torch.no_grad():
        obj = critic_objective(images, target, critic, arkit_critic).float()
    grouped = obj.view(-1, per_slot)
    return grouped.argmax(dim=1) + torch.arange(grouped.shape[0], device=grouped.device) * per_slot
