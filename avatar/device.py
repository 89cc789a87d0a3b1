"""Returns torch devices from user strings ("cpu", "cuda", "cuda:1", "auto")."""

from __future__ import annotations

from typing import Any

from avatar.errors import AvatarInputError


def resolve_device(device: Any = "auto") -> Any:
    """Return a `torch.device`: "auto" means cuda when available, else cpu."""
    import torch

    if isinstance(device, torch.device):
        return device
    name = "auto" if device is None else str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AvatarInputError(f"device {name!r} requested but CUDA is not available: use device='cpu' or 'auto'")
    try:
        return torch.device(name)
    except RuntimeError:
        raise AvatarInputError(f"unknown device {name!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
