"""Returns portraits from a local Stable Diffusion 1.5/2.x checkpoint steered by our AU adapter (AU tokens in cross-attention).

    from generators.portrait.sd_adapter import AUAdapterSDPipeline
    pipe = AUAdapterSDPipeline.from_sd_checkpoint("./stable-diffusion-v1-5")        # local files only; a fresh adapter
    ... train it: scripts/train_au_adapter.py, or generators.portrait.sd_training.adapter_loss ...
    pipe.save_pretrained("./my-sd-au-adapter")                                    # the whole pipeline, adapter included
    out = AUAdapterSDPipeline.from_pretrained("./my-sd-au-adapter")(emotion="happy", num_images_per_prompt=2)

FineFace-style: `AUTokenEncoder` turns the AU condition into tokens appended to the prompt's text embeddings, so the
frozen UNet cross-attends to the AUs. Classifier-free guidance contrasts (prompt + AU tokens) with (negative
prompt + null tokens). Recognizer guidance decodes each step's predicted clean latents with the VAE and follows
the critic's gradient there (`generators.portrait.guidance`), as the pixel pipeline does.
Needs `transformers` (`pip install emoavatar[diffusion]`).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers import DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError
from avatar.validation import check_int
from generators.portrait.conditions import emotion_index, resolve_condition
from generators.portrait.guidance import GuidanceTarget, guide_x0, image_scores, rerank
from generators.portrait.models.au_adapter import AUTokenEncoder
from generators.portrait.pipeline import (PortraitPipelineOutput, check_sampling_inputs, check_pipeline_folder, image_to_tensor,
                                         quiet_loading)

DEFAULT_PROMPT = "a close-up studio photograph of a person's face, looking at the camera"
INSTALL_HINT = "the Stable Diffusion path needs transformers: pip install emoavatar[diffusion]"


def _require_transformers() -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise ImportError(INSTALL_HINT) from None


class AUAdapterSDPipeline(DiffusionPipeline):
    """Return `PortraitPipelineOutput` portraits from SD components plus an `AUTokenEncoder` (`au_encoder`).

    Components: vae (AutoencoderKL), text_encoder (CLIPTextModel), tokenizer (CLIPTokenizer), unet
    (UNet2DConditionModel), scheduler, au_encoder. Only the adapter is ours; the rest is the user's checkpoint.
    """

    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(self, vae: Any, text_encoder: Any, tokenizer: Any, unet: Any, scheduler: Any, au_encoder: Any) -> None:
        super().__init__()
        if au_encoder.config.cross_attention_dim != unet.config.cross_attention_dim:
            raise AvatarInputError(f"the AU adapter makes {au_encoder.config.cross_attention_dim}-wide tokens but the UNet "
                                   f"cross-attends to {unet.config.cross_attention_dim}: build the adapter for this checkpoint")
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler, au_encoder=au_encoder)
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)

    @classmethod
    def from_sd_checkpoint(cls, sd_path: str | os.PathLike, au_encoder: AUTokenEncoder | str | os.PathLike | None = None,
                           num_tokens: int = 4, **kwargs: Any) -> AUAdapterSDPipeline:
        """Return a pipeline of a local SD 1.5/2.x folder (diffusers layout, read with local_files_only) and an adapter.

        `au_encoder`: an `AUTokenEncoder`, a folder of one, or None for a fresh one sized to the UNet.
        """
        _require_transformers()
        from diffusers import StableDiffusionPipeline

        path = check_pipeline_folder(sd_path)
        sd = StableDiffusionPipeline.from_pretrained(path, local_files_only=True, safety_checker=None, feature_extractor=None,
                                                     requires_safety_checker=False, **kwargs)
        dim = int(sd.unet.config.cross_attention_dim)
        if au_encoder is None:
            enc = AUTokenEncoder(num_tokens=num_tokens, cross_attention_dim=dim)
        elif isinstance(au_encoder, AUTokenEncoder):
            enc = au_encoder
        else:
            enc = AUTokenEncoder.from_pretrained(au_encoder)
        return cls(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer, unet=sd.unet, scheduler=sd.scheduler,
                   au_encoder=enc.to(sd.unet.device))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> AUAdapterSDPipeline:
        """Return the pipeline saved in a local folder by `save_pretrained`, never asking the Hub."""
        _require_transformers()
        path = check_pipeline_folder(pretrained_model_name_or_path, cls.__name__)
        kwargs["local_files_only"] = True
        kwargs.setdefault("low_cpu_mem_usage", False)
        with quiet_loading():
            pipe = super().from_pretrained(path, **kwargs)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # ------------------------------------------------------------------ pieces training shares
    def encode_prompt(self, prompt: str | list[str], batch: int) -> torch.Tensor:
        """Return (batch, L, D) text-encoder hidden states of `prompt` (one string, or one per row)."""
        prompts = [prompt] * batch if isinstance(prompt, str) else list(prompt)
        if len(prompts) != batch:
            raise AvatarInputError(f"got {len(prompts)} prompts for {batch} images")
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
                             return_tensors="pt").input_ids.to(self.text_encoder.device)
        return self.text_encoder(ids)[0]

    def condition_embeddings(self, text: torch.Tensor, condition: torch.Tensor | None, condition_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return (B, L + num_tokens, D) cross-attention states: text states followed by AU tokens (null tokens where masked)."""
        tokens = self.au_encoder(condition, condition_mask, batch=text.shape[0])
        return torch.cat([text, tokens.to(text.dtype)], dim=1)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Return float (B, 3, H, W) images in [0, 1] of latents (differentiable: guidance backpropagates through it)."""
        return ((self.vae.decode(latents / self.vae.config.scaling_factor).sample.float() + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def __call__(self, emotion: Any = None, intensity: float = 1.0, aus: Any = None, va: Any = None, *,
                 prompt: str = DEFAULT_PROMPT, negative_prompt: str = "", height: int | None = None, width: int | None = None,
                 num_images_per_prompt: int = 1, num_inference_steps: int = 20, guidance_scale: float = 5.0,
                 critic: Any = None, critic_guidance: float = 0.0, best_of: int = 1, image: Any = None, strength: float = 1.0,
                 generator: torch.Generator | list[torch.Generator] | None = None, output_type: str = "pil",
                 return_dict: bool = True) -> PortraitPipelineOutput | tuple:
        """Return a `PortraitPipelineOutput` of portraits of one condition; arguments as `PortraitPipeline.__call__`, plus prompts and size."""
        condition = resolve_condition(emotion=emotion, intensity=intensity, aus=aus, va=va)
        check_sampling_inputs(num_images_per_prompt, num_inference_steps, guidance_scale, critic_guidance, best_of, strength,
                              image, output_type, critic, condition, max_images=64, max_best_of=16)
        size = int(self.unet.config.sample_size) * self.vae_scale_factor
        height, width = height or size, width or size
        for v, what in ((height, "height"), (width, "width")):
            if check_int(v, what, 8, 4096) % self.vae_scale_factor:
                raise AvatarInputError(f"{what} must be a multiple of {self.vae_scale_factor}, got {v!r}")
        device = self._execution_device
        n = int(num_images_per_prompt) * int(best_of)
        cond = torch.from_numpy(condition.vector()).to(device).expand(n, -1)
        states = self.condition_embeddings(self.encode_prompt(prompt, n), cond)
        cfg = guidance_scale > 1.0
        if cfg:
            states = torch.cat([states, self.condition_embeddings(self.encode_prompt(negative_prompt, n), None)])
        dtype = self.unet.dtype
        shape = (n, int(self.unet.config.in_channels), height // self.vae_scale_factor, width // self.vae_scale_factor)
        noise = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        self.scheduler.set_timesteps(int(num_inference_steps), device=device)
        timesteps = self.scheduler.timesteps
        if image is not None and strength < 1.0:
            init = image_to_tensor(image, height).to(device, self.vae.dtype) * 2 - 1
            lat = self.vae.encode(init).latent_dist.sample(generator if not isinstance(generator, list) else generator[0])
            lat = (lat * self.vae.config.scaling_factor).to(dtype).repeat_interleave(max(1, n // lat.shape[0]), dim=0)[:n]
            skip = min(int(num_inference_steps) - int(round(num_inference_steps * strength)), int(num_inference_steps) - 1)
            order = getattr(self.scheduler, "order", 1)
            timesteps = timesteps[skip * order:]
            if hasattr(self.scheduler, "set_begin_index"):
                self.scheduler.set_begin_index(skip * order)
            x = self.scheduler.add_noise(lat, noise, timesteps[:1].repeat(n))
        else:
            x = noise * self.scheduler.init_noise_sigma
        target = GuidanceTarget(None if condition.emotion is None or critic is None else emotion_index(condition.emotion))
        alphas = self.scheduler.alphas_cumprod.to(device)
        v_pred = self.scheduler.config.get("prediction_type", "epsilon") == "v_prediction"
        for t in self.progress_bar(timesteps):
            xin = self.scheduler.scale_model_input(torch.cat([x, x]) if cfg else x, t)
            out = self.unet(xin, t, encoder_hidden_states=states).sample
            if cfg:
                c, u = out.chunk(2)
                out = u + guidance_scale * (c - u)
            if critic_guidance > 0 and target.emotion_index is not None:
                a = alphas[int(t)]
                eps = a.sqrt() * out + (1 - a).sqrt() * x if v_pred else out
                x0 = guide_x0((x - (1 - a).sqrt() * eps) / a.sqrt(), self.decode, target, critic, float(critic_guidance))
                eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
                # Hand the scheduler the kind of prediction it was configured for.
                out = a.sqrt() * eps - (1 - a).sqrt() * x0 if v_pred else eps
            x = self.scheduler.step(out, t, x).prev_sample
        images = self.decode(x.to(self.vae.dtype))
        if best_of > 1:
            images = images[rerank(images, int(best_of), critic, target)]
        scores = image_scores(images, critic, target, None, EMOTIONS) if critic is not None else None
        conditions = [condition.to_dict() for _ in range(images.shape[0])]
        self.maybe_free_model_hooks()
        out_images: Any = images
        if output_type != "pt":
            out_images = images.permute(0, 2, 3, 1).float().cpu().numpy()
            if output_type == "pil":
                out_images = self.numpy_to_pil(out_images)
        if not return_dict:
            return (out_images, conditions, scores)
        return PortraitPipelineOutput(images=out_images, conditions=conditions, scores=scores)
