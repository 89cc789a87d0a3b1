"""Returns where the shipped speech checkpoint lives and whether a checkpoint folder is there (imports no torch).

`talking.animate(method="auto")` asks this before choosing a path, so the phonetic path never pays for
importing torch and diffusers.
"""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "speech_to_arkit"
"""The shipped checkpoint folder (config.json + diffusion_pytorch_model.safetensors, metrics.json)."""


def weights_available(path: str | os.PathLike | None = None) -> bool:
    """Return True when a checkpoint folder (with its config.json) exists at `path` (default: the shipped one)."""
    return (Path(path or DEFAULT_WEIGHTS) / "config.json").is_file()
