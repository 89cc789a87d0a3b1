"""Returns face portraits that show a requested expression: the AU-conditioned diffusion pipeline, critic-guided and scored.

    from generators.portrait import PortraitPipeline
    pipe = PortraitPipeline.from_pretrained()                       # the shipped 128x128 cascade, offline
    out = pipe(emotion="anger", intensity=0.8, num_images_per_prompt=4, generator=torch.Generator().manual_seed(0))
    out.images                                                      # 4 PIL images, 128x128 (pipe.output_size)
    out = pipe(aus="AU4=1,AU5=0.6,AU23=0.7", critic=my_critic, critic_guidance=3.0)   # steered by a recognizer
    out.scores[0]["p_target"]                                       # each image's reading by that critic

Conditions are resolved by `generators.portrait.conditions` onto the AU catalogue that drives the 3D head. The
pipeline never imports a recognizer: `critic` is any `avatar.protocols.Critic` (the facade `avatar.portrait`
passes a real-face judge). Sampling: DPM-Solver++ (or any diffusers scheduler with `add_noise`) for a few steps,
classifier-free guidance on the AU condition (`guidance_scale`), recognizer guidance on each step's predicted
clean image (`critic_guidance`, see `generators.portrait.guidance`), optional best-of-n reranking (`best_of`),
and image-to-image from an init image (a render of the head at the same AUs) at a `strength`. A cascade, as
Imagen and diffusers' upscalers do it: the UNet samples at its `sample_size` (64) and an optional `upsampler`
(`generators.portrait.models.upsampler.PortraitUpsampler`) doubles the result (128); a folder without one (the
64 px models) still loads and samples at the UNet's size. The UNet may predict epsilon or v (the scheduler's
`prediction_type`); guidance converts either to x0 and back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from avatar.emotion import EMOTIONS
from avatar.errors import AvatarInputError
from avatar.validation import check_int, check_number
from generators.portrait.conditions import PortraitCondition, emotion_index, resolve_condition
from generators.portrait.guidance import GuidanceTarget, check_critic, guide_x0, image_scores, rerank
from generators.portrait.models import au_unet, upsampler as _upsampler  # noqa: F401 - diffusers loads the classes by module name

WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL_PATH = WEIGHTS / "emoavatar-portrait-128"
"""The shipped pipeline folder (model_index.json, unet/, upsampler/, scheduler/): the 64 px base trained by
scripts/train_portrait_model.py, its 64 -> 128 stage by scripts/train_portrait_upsampler.py."""
PREVIOUS_MODEL_PATH = WEIGHTS / "emoavatar-portrait-64"
"""The 64 px epsilon-prediction model without an upsampler: the baseline a new model is measured against."""

OUTPUT_TYPES = ("pil", "np", "pt")
MAX_IMAGES = 256
MAX_STEPS = 1000


def check_sampling_inputs(num_images_per_prompt: Any, num_inference_steps: Any, guidance_scale: Any, critic_guidance: Any,
                          best_of: Any, strength: Any, image: Any, output_type: Any, critic: Any, condition: PortraitCondition,
                          *, max_images: int = MAX_IMAGES, max_steps: int = MAX_STEPS, max_best_of: int = 64,
                          has_critic: bool = False, aims_without_emotion: bool = False, no_emotion_hint: str = "") -> None:
    """Raise a one-line AvatarInputError quoting the first bad sampling argument (both portrait pipelines' rules).

    `has_critic`: another critic can steer (best_of / critic_guidance without `critic`); `aims_without_emotion`:
    guidance has a target even when the condition names no emotion (bare AUs).
    """
    check_int(num_images_per_prompt, "num_images_per_prompt", 1, max_images)
    check_int(num_inference_steps, "num_inference_steps", 1, max_steps)
    check_int(best_of, "best_of", 1, max_best_of)
    check_number(guidance_scale, "guidance_scale", 0.0, 50.0)
    check_number(critic_guidance, "critic_guidance", 0.0, 1000.0)
    check_number(strength, "strength", 0.0, 1.0, low_open=True)
    if output_type not in OUTPUT_TYPES:
        raise AvatarInputError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
    if critic is not None:
        check_critic(critic)
    if (critic_guidance > 0 or best_of > 1) and critic is None and not has_critic:
        raise AvatarInputError(f"critic_guidance={critic_guidance!r} and best_of={best_of!r} need a critic: pass critic=")
    if critic_guidance > 0 and condition.emotion is None and not aims_without_emotion:
        raise AvatarInputError("critic_guidance needs an emotion to aim at: bare AUs have none" + no_emotion_hint)
    if strength < 1.0 and image is None:
        raise AvatarInputError(f"strength={strength!r} below 1 needs an init image (image=)")


@dataclass
class PortraitPipelineOutput(BaseOutput):
    """What a portrait pipeline returns.

    images: list of B PIL images, or (B, H, W, 3) float numpy in [0, 1] ("np"), or (B, 3, H, W) torch in [0, 1] ("pt").
    conditions: one dict per image (`PortraitCondition.to_dict()`: kind, spec, target emotion, AUs).
    scores: one dict per image from the critic (label, probs, p_target, arkit_error), or None without a critic.
    """

    images: Any
    conditions: list[dict[str, Any]]
    scores: list[dict[str, Any]] | None = None


def image_to_tensor(image: Any, size: int) -> torch.Tensor:
    """Return float (B, 3, size, size) in [0, 1] from a PIL image, uint8 (H, W, 3)/(B, H, W, 3) numpy or float (B, 3, H, W) torch."""
    import torch.nn.functional as F

    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        arr = image[None] if image.ndim == 3 else image
        if arr.ndim != 4 or arr.shape[-1] not in (3, 4):
            raise AvatarInputError(f"an init image must be (H, W, 3) or (B, H, W, 3), got shape {image.shape}")
        x = torch.from_numpy(np.array(arr[..., :3])).permute(0, 3, 1, 2).float()  # a copy: the caller's array may be read-only
        x = x / 255.0 if arr.dtype == np.uint8 else x
    elif isinstance(image, torch.Tensor):
        x = image[None] if image.ndim == 3 else image
        if x.ndim != 4 or x.shape[1] != 3:
            raise AvatarInputError(f"an init image tensor must be (B, 3, H, W), got shape {tuple(image.shape)}")
        x = x.float()
    else:
        raise AvatarInputError(f"an init image must be a PIL image, numpy array or torch tensor, got {type(image).__name__}")
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0, 1)


def check_pipeline_folder(path: str | os.PathLike, class_name: str | None = None) -> Path:
    """Return `path` as a local pipeline folder (model_index.json, of `class_name` when given); AvatarInputError otherwise."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise AvatarInputError(f"model folder {str(path)!r} not found: pass a folder written by save_pretrained (with model_index.json)")
    index = p / "model_index.json"
    if not index.is_file():
        raise AvatarInputError(f"{str(path)!r} is not a pipeline folder: it has no model_index.json")
    try:
        found = json.loads(index.read_text()).get("_class_name")
    except (json.JSONDecodeError, OSError):
        raise AvatarInputError(f"{str(index)!r} is not readable JSON: re-save the pipeline with save_pretrained") from None
    if class_name is not None and found != class_name:
        raise AvatarInputError(f"{str(path)!r} holds a {found!r} pipeline, not a {class_name!r}")
    return p


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence diffusers' (and transformers') loading bars for the block, restoring the caller's settings after."""
    from diffusers.utils import logging as dlog

    loggers = [dlog]
    try:  # the SD path's text encoder loads through transformers, which has its own bar
        from transformers.utils import logging as tlog

        loggers.append(tlog)
    except ImportError:
        pass
    was = [lg.is_progress_bar_enabled() for lg in loggers]
    for lg in loggers:
        lg.disable_progress_bar()
    try:
        yield
    finally:
        for lg, on in zip(loggers, was):
            if on:
                lg.enable_progress_bar()


def predicted_x0(model_output: torch.Tensor, x: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """Return the clean image implied by a UNet output at x_t (epsilon or v prediction, cumulative alpha `alpha_bar`)."""
    if prediction_type == "v_prediction":
        return alpha_bar.sqrt() * x - (1 - alpha_bar).sqrt() * model_output
    return (x - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()


def output_from_x0(x0: torch.Tensor, x: torch.Tensor, alpha_bar: torch.Tensor, prediction_type: str) -> torch.Tensor:
    """Return the UNet output (epsilon or v) that implies clean image `x0` at x_t: the inverse of `predicted_x0`."""
    if prediction_type == "v_prediction":
        return (alpha_bar.sqrt() * x - x0) / (1 - alpha_bar).sqrt()
    return (x - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt()


class PortraitPipeline(DiffusionPipeline):
    """Return `PortraitPipelineOutput` portraits from an AU-conditioned pixel-space UNet (`AUConditionedUNet`) and a scheduler.

    Components: `unet` (`generators.portrait.models.au_unet.AUConditionedUNet`), `scheduler` (a diffusers
    scheduler; the shipped one is DPM-Solver++ 2M, v-prediction, zero terminal SNR), and optionally `upsampler`
    (`PortraitUpsampler`, the cascade's 2x super-resolution stage; None: images at the UNet's size).
    `save_pretrained(folder)` / `from_pretrained(folder)` use diffusers' layout (model_index.json + one folder per
    component), read locally and strictly.
    """

    model_cpu_offload_seq = "unet->upsampler"
    _optional_components = ["upsampler"]

    def __init__(self, unet: Any, scheduler: Any, upsampler: Any = None) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, upsampler=upsampler)

    @property
    def output_size(self) -> int:
        """Return the side in pixels of the images this pipeline makes (the UNet's size, times the upsampler's scale)."""
        size = int(self.unet.config.sample_size)
        return size * int(self.upsampler.config.scale) if getattr(self, "upsampler", None) is not None else size

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None = None, **kwargs: Any) -> PortraitPipeline:
        """Return the pipeline in a local folder (default: the shipped model), never asking the Hub; strict about weights.

        Raises AvatarInputError for a folder that is missing or holds no (or another) pipeline, and
        FileFormatError for weights that do not match their config.
        """
        path = check_pipeline_folder(DEFAULT_MODEL_PATH if pretrained_model_name_or_path is None else pretrained_model_name_or_path,
                                     cls.__name__)
        kwargs["local_files_only"] = True
        kwargs.setdefault("low_cpu_mem_usage", False)  # small models: build them for real (no accelerate needed)
        with quiet_loading():
            pipe = super().from_pretrained(path, **kwargs)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    # ------------------------------------------------------------------ inputs
    def check_inputs(self, num_images_per_prompt: Any, num_inference_steps: Any, guidance_scale: Any, critic_guidance: Any,
                     arkit_guidance: Any, best_of: Any, strength: Any, image: Any, output_type: Any, critic: Any,
                     arkit_critic: Any, condition: PortraitCondition) -> None:
        """Raise a one-line AvatarInputError quoting the first bad argument."""
        check_number(arkit_guidance, "arkit_guidance", 0.0, 1000.0)
        check_sampling_inputs(num_images_per_prompt, num_inference_steps, guidance_scale, critic_guidance, best_of, strength,
                              image, output_type, critic, condition, has_critic=arkit_critic is not None,
                              aims_without_emotion=arkit_critic is not None and arkit_guidance > 0,
                              no_emotion_hint="; use arkit_guidance with an arkit_critic")
        if arkit_guidance > 0 and not callable(getattr(arkit_critic, "arkit", None)):
            raise AvatarInputError(f"arkit_guidance={arkit_guidance!r} needs an arkit_critic with arkit(images) -> (B, 52)")

    # ------------------------------------------------------------------ sampling helpers
    def _predict(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
        """Return the (B, 3, H, W) UNet output (epsilon or v), classifier-free guided on the AU condition."""
        b = x.shape[0]
        if guidance_scale == 1.0:
            return self.unet(x, t, cond).sample
        mask = torch.cat([torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)]).to(x.device)
        both = self.unet(torch.cat([x, x]), t, torch.cat([cond, cond]), mask).sample
        cond_out, null_out = both.chunk(2)
        return null_out + guidance_scale * (cond_out - null_out)

    @torch.no_grad()
    def __call__(self, emotion: Any = None, intensity: float = 1.0, aus: Any = None, va: Any = None, *,
                 num_images_per_prompt: int = 1, num_inference_steps: int = 12, guidance_scale: float = 2.0,
                 critic: Any = None, critic_guidance: float = 0.0, arkit_critic: Any = None, arkit_guidance: float = 0.0,
                 best_of: int = 1, image: Any = None, strength: float = 1.0, generator: torch.Generator | list[torch.Generator] | None = None,
                 latents: torch.Tensor | None = None, output_type: str = "pil", return_dict: bool = True) -> PortraitPipelineOutput | tuple:
        """Return a `PortraitPipelineOutput` of `num_images_per_prompt` portraits of one condition (emotion, aus or va).

        Args:
            emotion, intensity, aus, va: the condition (`generators.portrait.conditions.resolve_condition`).
            num_inference_steps: scheduler steps (10-20 is plenty for DPM-Solver++; img2img runs `strength` of them).
            guidance_scale: classifier-free guidance on the AU condition (1 = off, one UNet pass per step).
            critic: an `avatar.protocols.Critic`; with it every image is scored, and it steers when
                `critic_guidance` > 0 (the target emotion's log-probability on each step's predicted clean image).
            arkit_critic, arkit_guidance: an object with `arkit(images) -> (B, 52)` and the weight of the
                mean |ARKit read-back - requested| in the objective (AU adherence).
            best_of: draw this many candidates per image and keep the one the critic objective likes best.
            image, strength: init image (PIL / uint8 numpy / float torch in [0, 1], any size: resized to the
                UNet's) and how much of the noise schedule to re-run from it (1 = from pure noise, ignoring the image).
            generator: a torch.Generator (or one per image) for reproducible noise; latents: the start noise itself
                (at the UNet's size).
            output_type: "pil", "np" or "pt"; images are `output_size` square (128 for the shipped model).
        """
        condition = resolve_condition(emotion=emotion, intensity=intensity, aus=aus, va=va)
        self.check_inputs(num_images_per_prompt, num_inference_steps, guidance_scale, critic_guidance, arkit_guidance,
                          best_of, strength, image, output_type, critic, arkit_critic, condition)
        device = self._execution_device
        size = int(self.unet.config.sample_size)
        n = int(num_images_per_prompt) * int(best_of)
        dtype = self.unet.dtype
        cond = torch.from_numpy(condition.vector()).to(device, dtype).expand(n, -1)
        target = GuidanceTarget(
            None if condition.emotion is None or critic is None else emotion_index(condition.emotion),
            torch.from_numpy(condition.arkit()).to(device, dtype).expand(n, -1) if arkit_critic is not None else None,
            float(arkit_guidance),
        )
        if isinstance(generator, list) and len(generator) != n:
            raise AvatarInputError(f"got {len(generator)} generators for {n} images: pass one, or one per image")
        shape = (n, int(self.unet.config.in_channels), size, size)
        noise = randn_tensor(shape, generator=generator, device=device, dtype=dtype) if latents is None else latents.to(device, dtype)
        if tuple(noise.shape) != shape:
            raise AvatarInputError(f"latents must have shape {shape}, got {tuple(noise.shape)}")

        self.scheduler.set_timesteps(int(num_inference_steps), device=device)
        timesteps = self.scheduler.timesteps
        if image is not None and strength < 1.0:
            init = image_to_tensor(image, size).to(device, dtype) * 2 - 1
            if init.shape[0] not in (1, n // best_of):
                raise AvatarInputError(f"got {init.shape[0]} init images for {n // best_of} portraits: pass one, or one per portrait")
            init = init.repeat_interleave(n // init.shape[0], dim=0)
            skip = int(num_inference_steps) - min(int(round(num_inference_steps * strength)), int(num_inference_steps))
            skip = min(skip, int(num_inference_steps) - 1)
            order = getattr(self.scheduler, "order", 1)
            timesteps = timesteps[skip * order:]
            if hasattr(self.scheduler, "set_begin_index"):
                self.scheduler.set_begin_index(skip * order)
            x = self.scheduler.add_noise(init, noise, timesteps[:1].repeat(n))
        else:
            x = noise * getattr(self.scheduler, "init_noise_sigma", 1.0)

        alphas = self.scheduler.alphas_cumprod.to(device)
        prediction_type = str(self.scheduler.config.get("prediction_type", "epsilon"))
        steer = (critic_guidance > 0 and critic is not None and target.emotion_index is not None) or \
                (arkit_guidance > 0 and arkit_critic is not None)
        for t in self.progress_bar(timesteps):
            xin = self.scheduler.scale_model_input(x, t)
            out = self._predict(xin, t, cond, float(guidance_scale))
            if steer:
                a = alphas[int(t)]
                x0 = predicted_x0(out, x, a, prediction_type)
                x0 = guide_x0(x0.clamp(-1, 1), lambda z: (z + 1) / 2, target,
                              critic if critic_guidance > 0 else None, float(max(critic_guidance, arkit_guidance)), arkit_critic)
                # Back to the output the scheduler expects (epsilon or v), so any scheduler can take the guided x0.
                out = output_from_x0(x0, x, a, prediction_type)
            x = self.scheduler.step(out, t, x).prev_sample
        if getattr(self, "upsampler", None) is not None:
            x = self.upsampler(x.clamp(-1, 1).to(self.upsampler.dtype))  # the cascade's second stage: 2x, deterministic
        images = ((x.float() + 1) / 2).clamp(0, 1)
        if best_of > 1:
            keep = rerank(images, int(best_of), critic, target, arkit_critic)
            images = images[keep]
            target = GuidanceTarget(target.emotion_index, None if target.arkit is None else target.arkit[: images.shape[0]],
                                    target.arkit_weight)
        scores = image_scores(images, critic, target, arkit_critic, EMOTIONS) if (critic is not None or arkit_critic is not None) else None
        conditions = [condition.to_dict() for _ in range(images.shape[0])]
        self.maybe_free_model_hooks()
        out_images: Any = images
        if output_type != "pt":
            out_images = images.permute(0, 2, 3, 1).cpu().numpy()
            if output_type == "pil":
                out_images = self.numpy_to_pil(out_images)
        if not return_dict:
            return (out_images, conditions, scores)
        return PortraitPipelineOutput(images=out_images, conditions=conditions, scores=scores)
