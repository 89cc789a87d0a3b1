"""The toy pieces the portrait tests share (tests/test_portrait.py, tests/test_portrait_cascade.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avatar.emotion import EMOTIONS


class BrightnessCritic:
    """A differentiable toy critic: brighter images read as more 'contempt' (the last class)."""

    device = torch.device("cpu")
    model_name = "brightness"

    def log_probs(self, images: torch.Tensor, boxes: Any = None) -> torch.Tensor:
        m = images.mean(dim=(1, 2, 3))
        return torch.log_softmax(torch.stack([m * k for k in range(len(EMOTIONS))], dim=1) * 4, dim=-1)


def seeded(seed: int = 0) -> torch.Generator:
    """Return a CPU generator seeded with `seed`."""
    return torch.Generator().manual_seed(seed)


GUIDED = dict(emotion="contempt", num_images_per_prompt=3, num_inference_steps=6, critic=BrightnessCritic(), output_type="pt")
"""Sampling arguments of the guidance checks: the toy critic's target, three images, a few steps."""


def critic_scores(pipe: Any, **kwargs: Any) -> np.ndarray:
    """Return the toy critic's target probability per image of `pipe` sampled with `GUIDED` (seed 0) and `kwargs`."""
    out = pipe(generator=seeded(), **GUIDED, **kwargs)
    return np.array([s["p_target"] for s in out.scores])
