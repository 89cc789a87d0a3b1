"""Returns noise (epsilon or v) predictions of face images conditioned on FACS action units: the embedded portrait model's base (64x64).

`AUConditionedUNet` is a diffusers `UNet2DModel` whose class embedding is fed by a small MLP over the
AU condition (left and right intensities of every AU in `avatar.facs.AU_NUMBERS`, flattened to
(2 * NUM_AU,)), so one AU spec drives the portrait exactly as it drives the 3D head; optionally
(`condition_map_channels`) the condition also enters as a spatial map, a learned linear image basis per AU
concatenated to the noisy input, which is what makes a small model follow the condition within a CPU budget.
A learned null embedding (and a zero map) stands in for "no condition", which classifier-free guidance
contrasts against.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models import UNet2DModel
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d import UNet2DOutput
from torch import nn

from avatar.checkpoints import load_strict
from avatar.errors import ShapeError
from avatar.facs import NUM_AU

CONDITION_DIM = 2 * NUM_AU
"""Width of an AU condition: (left, right) intensity of each AU in `avatar.facs.AU_NUMBERS` order, flattened."""


class AUConditionedUNet(ModelMixin, ConfigMixin):
    """Return `UNet2DOutput.sample`, the (B, C, S, S) noise prediction, of noisy images at timesteps under AU conditions.

    Args (the config): sample_size, in/out channels, the UNet's block layout (`UNet2DModel`'s names),
    `condition_dim` (2 * NUM_AU), `condition_hidden` (the MLP's width), `time_embedding_dim` (the width the
    condition embedding is added at; None = 4 x the first block's channels) and `resnet_time_scale_shift`
    ("default": the embedding is added to each resnet's features; "scale_shift": it scales and shifts them, FiLM),
    `condition_map_channels` (0 = off): a learned linear map from the condition to an image-sized
    (channels, S, S) map, concatenated to the noisy input, so each AU also speaks where on the face it acts.
    `forward(sample, timestep, condition=None, condition_mask=None)`: `condition` (B, condition_dim) in
    [0, 1]; `condition_mask` (B,) bool, False rows use the null embedding (also all rows when condition is None).
    """

    @register_to_config
    def __init__(self, sample_size: int = 64, in_channels: int = 3, out_channels: int = 3,
                 block_out_channels: tuple[int, ...] = (32, 64, 96, 128), layers_per_block: int = 1,
                 down_block_types: tuple[str, ...] = ("DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                 up_block_types: tuple[str, ...] = ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"),
                 norm_num_groups: int = 8, attention_head_dim: int = 32, condition_dim: int = CONDITION_DIM,
                 condition_hidden: int = 256, time_embedding_dim: int | None = None,
                 resnet_time_scale_shift: str = "default", condition_map_channels: int = 0) -> None:
        super().__init__()
        # UNet2DModel's time-embedding width (block_out_channels[0] * 4 unless given), which an "identity" class
        # embedding must match; "scale_shift" makes every resnet FiLM its normalised features by (time + condition).
        emb = time_embedding_dim or block_out_channels[0] * 4
        self.unet = UNet2DModel(sample_size=sample_size, in_channels=in_channels + condition_map_channels, out_channels=out_channels,
                                block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
                                down_block_types=tuple(down_block_types), up_block_types=tuple(up_block_types),
                                norm_num_groups=norm_num_groups, attention_head_dim=attention_head_dim,
                                class_embed_type="identity", time_embedding_dim=time_embedding_dim,
                                resnet_time_scale_shift=resnet_time_scale_shift)
        self.condition_encoder = nn.Sequential(nn.Linear(condition_dim, condition_hidden), nn.SiLU(),
                                               nn.Linear(condition_hidden, emb))
        self.null_embedding = nn.Parameter(torch.zeros(emb))
        if condition_map_channels:
            # One image-sized basis per condition value: the condition's map is their weighted sum (zero when masked).
            self.condition_basis = nn.Parameter(torch.zeros(condition_dim, condition_map_channels, sample_size, sample_size))

    def condition_map(self, condition: torch.Tensor | None, condition_mask: torch.Tensor | None, batch: int,
                      size: tuple[int, int]) -> torch.Tensor | None:
        """Return the (B, condition_map_channels, H, W) spatial map of the condition (zeros where masked), None when off."""
        channels = int(self.config.condition_map_channels)
        if not channels:
            return None
        if condition is None:
            return torch.zeros(batch, channels, *size, dtype=self.dtype, device=self.device)
        out = torch.einsum("bc,ckhw->bkhw", condition.to(self.dtype), self.condition_basis)
        if condition_mask is not None:
            out = out * condition_mask.to(out.device, out.dtype).view(-1, 1, 1, 1)
        if tuple(out.shape[-2:]) != tuple(size):
            out = torch.nn.functional.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out

    def embed_condition(self, condition: torch.Tensor | None, condition_mask: torch.Tensor | None, batch: int) -> torch.Tensor:
        """Return (B, E) condition embeddings: the MLP of `condition`, the null embedding where masked out or absent."""
        null = self.null_embedding.to(self.dtype).expand(batch, -1)
        if condition is None:
            return null
        if condition.ndim != 2 or condition.shape != (batch, self.config.condition_dim):
            raise ShapeError(f"condition must have shape ({batch}, {self.config.condition_dim}), got {tuple(condition.shape)}")
        out = self.condition_encoder(condition.to(self.dtype))
        if condition_mask is not None:
            out = torch.where(condition_mask.to(out.device).view(-1, 1), out, null)
        return out

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float | int, condition: torch.Tensor | None = None,
                condition_mask: torch.Tensor | None = None, return_dict: bool = True) -> UNet2DOutput | tuple[torch.Tensor]:
        if sample.ndim != 4 or sample.shape[1] != self.config.in_channels:
            raise ShapeError(f"sample must be (B, {self.config.in_channels}, H, W), got {tuple(sample.shape)}")
        emb = self.embed_condition(condition, condition_mask, int(sample.shape[0]))
        cmap = self.condition_map(condition, condition_mask, int(sample.shape[0]), tuple(sample.shape[-2:]))
        if cmap is not None:
            sample = torch.cat([sample, cmap.to(sample.dtype)], dim=1)
        return self.unet(sample, timestep, class_labels=emb, return_dict=return_dict)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> AUConditionedUNet:
        """Return the model in a checkpoint folder, in eval mode; strict: a missing or extra tensor raises FileFormatError."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)
