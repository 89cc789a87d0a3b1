"""Returns AU tokens for Stable Diffusion's cross-attention: the FineFace-style adapter of the SD portrait path.

`AUTokenEncoder` maps an AU condition (each AU's left and right intensity, `avatar.facs.AU_NUMBERS` order) to
`num_tokens` vectors of the UNet's `cross_attention_dim`; the SD pipeline appends them to the text encoder's
hidden states, so a frozen SD UNet attends to the requested AUs next to the prompt. A learned set of null
tokens stands in for "no condition" (classifier-free guidance and condition dropout in training).
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
from generators.portrait.models.au_unet import CONDITION_DIM


class AUTokenEncoder(ModelMixin, ConfigMixin):
    """Return (B, num_tokens, cross_attention_dim) AU tokens of (B, condition_dim) conditions in [0, 1].

    `forward(condition, condition_mask=None)`: rows where `condition_mask` is False (or all rows when
    `condition` is None, given `batch`) get the learned null tokens.
    """

    @register_to_config
    def __init__(self, condition_dim: int = CONDITION_DIM, num_tokens: int = 4, cross_attention_dim: int = 768,
                 hidden_dim: int = 512) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(condition_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
                                 nn.Linear(hidden_dim, num_tokens * cross_attention_dim))
        # Text encoders end in a LayerNorm; tokens on the same scale keep the frozen attention's softmax in range.
        self.norm = nn.LayerNorm(cross_attention_dim)
        self.position = nn.Parameter(torch.randn(num_tokens, cross_attention_dim) * 0.02)
        self.null_tokens = nn.Parameter(torch.randn(num_tokens, cross_attention_dim) * 0.02)

    def forward(self, condition: torch.Tensor | None, condition_mask: torch.Tensor | None = None, batch: int | None = None) -> torch.Tensor:
        cfg = self.config
        if condition is None:
            if batch is None:
                raise ShapeError("give a condition (B, condition_dim) or the batch size for null tokens")
            return self.null_tokens.to(self.dtype).expand(batch, -1, -1)
        if condition.ndim != 2 or condition.shape[1] != cfg.condition_dim:
            raise ShapeError(f"condition must have shape (B, {cfg.condition_dim}), got {tuple(condition.shape)}")
        b = condition.shape[0]
        tokens = self.norm(self.mlp(condition.to(self.dtype)).view(b, cfg.num_tokens, cfg.cross_attention_dim)) + self.position
        if condition_mask is not None:
            tokens = torch.where(condition_mask.to(tokens.device).view(-1, 1, 1), tokens, self.null_tokens.to(tokens.dtype))
        return tokens

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> AUTokenEncoder:
        """Return the adapter in a checkpoint folder, in eval mode; strict: a missing or extra tensor raises FileFormatError."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)
