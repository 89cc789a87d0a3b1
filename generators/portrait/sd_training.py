"""Returns the AU adapter's training loss on (face image, AU condition) pairs, and a small training loop around it.

Only `AUTokenEncoder` learns: the VAE, text encoder and UNet of the user's checkpoint stay frozen, and the loss is
the usual denoising loss of the frozen UNet given (prompt + AU tokens). Conditions come from our recognizers
(`scripts/train_au_adapter.py` labels a folder of faces with ExpressionNet's AU read-back); this module only sees
tensors, so it imports no recognizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from avatar.errors import AvatarInputError


@dataclass
class AdapterTrainingOptions:
    """Settings of `train_au_adapter`: steps, learning rate, condition dropout (for CFG), prompt, seed."""

    steps: int = 2000
    lr: float = 1e-4
    condition_dropout: float = 0.1
    prompt: str = "a close-up photograph of a person's face"
    seed: int = 0
    log_every: int = 50
    history: list[float] = field(default_factory=list)


def adapter_loss(pipe: Any, images: torch.Tensor, conditions: torch.Tensor, generator: torch.Generator | None = None,
                 prompt: str = "a close-up photograph of a person's face", condition_dropout: float = 0.1,
                 noise_scheduler: Any = None) -> torch.Tensor:
    """Return the scalar denoising loss of `pipe` (an `AUAdapterSDPipeline`) on float (B, 3, H, W) images in [0, 1] with (B, 2 * NUM_AU) conditions.

    Gradients reach `pipe.au_encoder` (and whatever else the caller left trainable). The target is the
    scheduler's prediction type (epsilon or v); `condition_dropout` of the rows use the null tokens.
    """
    from diffusers import DDPMScheduler

    if images.ndim != 4 or images.shape[1] != 3 or conditions.shape != (images.shape[0], pipe.au_encoder.config.condition_dim):
        raise AvatarInputError(f"need images (B, 3, H, W) and conditions (B, {pipe.au_encoder.config.condition_dim}), "
                               f"got {tuple(images.shape)} and {tuple(conditions.shape)}")
    sched = noise_scheduler or DDPMScheduler.from_config(pipe.scheduler.config)
    dev = pipe.unet.device
    b = images.shape[0]
    with torch.no_grad():
        lat = pipe.vae.encode(images.to(dev, pipe.vae.dtype) * 2 - 1).latent_dist.sample(generator) * pipe.vae.config.scaling_factor
        text = pipe.encode_prompt(prompt, b)
    noise = torch.randn(lat.shape, generator=generator, device=lat.device, dtype=lat.dtype)
    t = torch.randint(0, sched.config.num_train_timesteps, (b,), generator=generator, device=lat.device)
    noisy = sched.add_noise(lat, noise, t)
    keep = torch.rand(b, generator=generator, device=lat.device) >= condition_dropout
    states = pipe.condition_embeddings(text, conditions.to(dev), keep)
    pred = pipe.unet(noisy.to(pipe.unet.dtype), t, encoder_hidden_states=states.to(pipe.unet.dtype)).sample
    target = sched.get_velocity(lat, noise, t) if sched.config.prediction_type == "v_prediction" else noise
    return torch.nn.functional.mse_loss(pred.float(), target.float())


def train_au_adapter(pipe: Any, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], options: AdapterTrainingOptions | None = None,
                     log: Callable[[str], None] | None = None, progress: bool = False) -> list[float]:
    """Return the per-step losses of training `pipe.au_encoder` on (images, conditions) batches for `options.steps` steps.

    The VAE, text encoder and UNet are frozen here; the batches iterable is cycled when it runs out.
    """
    from tqdm.auto import tqdm

    opts = options or AdapterTrainingOptions()
    for name in ("vae", "text_encoder", "unet"):
        getattr(pipe, name).requires_grad_(False)
    enc = pipe.au_encoder
    enc.requires_grad_(True).train()
    opt = torch.optim.AdamW(enc.parameters(), lr=opts.lr, weight_decay=1e-4)
    gen = torch.Generator(device=pipe.unet.device).manual_seed(opts.seed)
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    losses: list[float] = []
    data = list(batches) if not hasattr(batches, "__len__") else batches
    if not len(data):
        raise AvatarInputError("no training batches: the image folder gave no labelled faces")
    for step in tqdm(range(opts.steps), disable=not progress, desc="AU adapter"):
        images, conds = data[step % len(data)]
        loss = adapter_loss(pipe, images, conds, gen, opts.prompt, opts.condition_dropout, sched)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if log and (step + 1) % opts.log_every == 0:
            log(f"step {step + 1}/{opts.steps} loss {sum(losses[-opts.log_every:]) / opts.log_every:.4f}")
    enc.eval().requires_grad_(False)
    opts.history.extend(losses)
    return losses
