"""Returns 2x larger face images from the base portrait model's output: the cascade's deterministic super-resolution stage.

`PortraitUpsampler` is a small residual CNN (ESPCN/EDSR-like): features computed at the input's resolution, a
sub-pixel convolution (PixelShuffle) to `scale` x the size, added to the bilinear upscale of the input, so the
network only learns the detail bilinear loses (edges of the lids, lips, teeth, hair strands, skin texture). It is
deterministic: the base diffusion model decides the face, the expression and the colours; the upsampler only adds
resolution. Trained on pairs of the same render crop at 64 and 128 px (scripts/train_portrait_upsampler.py), with
noise and blur on its inputs so it does not sharpen the base model's residual noise into texture.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from avatar.checkpoints import load_strict
from avatar.errors import ShapeError


class _ResBlock(nn.Module):
    """Return x + conv(relu(conv(x))) * 0.2 (scaled residual: stable without normalisation layers)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.conv2(torch.relu(self.conv1(x)))


class PortraitUpsampler(ModelMixin, ConfigMixin):
    """Return (B, 3, scale*H, scale*W) images in [-1, 1] from (B, 3, H, W) images in [-1, 1]: bilinear + learned detail.

    Args (the config): `scale` (2), `channels` (feature width), `num_blocks` (residual blocks at the input's size).
    Zero-initialised output: an untrained upsampler is exactly bilinear upscaling.
    """

    @register_to_config
    def __init__(self, scale: int = 2, channels: int = 48, num_blocks: int = 4, in_channels: int = 3) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*[_ResBlock(channels) for _ in range(num_blocks)])
        self.tail = nn.Conv2d(channels, in_channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.config.in_channels:
            raise ShapeError(f"images must be (B, {self.config.in_channels}, H, W) in [-1, 1], got {tuple(images.shape)}")
        x = images.to(self.dtype)
        scale = int(self.config.scale)
        base = nn.functional.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        feats = self.head(x)
        return base + self.shuffle(self.tail(self.blocks(feats) + feats))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> PortraitUpsampler:
        """Return the model in a checkpoint folder, in eval mode; strict: a missing or extra tensor raises FileFormatError."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)
