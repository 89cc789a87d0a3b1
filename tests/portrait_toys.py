"""The toy pieces the portrait tests share (tests/test_portrait.py, tests/test_portrait_cascade.py)."""

from __future__ import annotations

from typing import Any

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
