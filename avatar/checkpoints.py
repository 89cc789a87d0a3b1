"""Returns torch models loaded strictly from diffusers-layout checkpoint folders (recognizers and generators alike).

Every torch model here is a diffusers `ModelMixin` + `ConfigMixin`; a checkpoint is the folder
`save_pretrained` writes (config.json + diffusion_pytorch_model.safetensors). diffusers itself only
logs a warning when a tensor is missing and leaves that weight uninitialised; `load_strict` turns
any missing, unexpected or mis-shaped tensor into an error naming it, and reads a local folder
without ever asking the Hugging Face Hub. Importing this module imports neither torch nor diffusers.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import Any

from avatar.errors import AvatarInputError, FileFormatError

CHECKPOINT_HINT = "pass a folder written by save_pretrained (config.json + diffusion_pytorch_model.safetensors)"


def local_checkpoint(path: str | os.PathLike) -> Path | None:
    """Return `path` as a local folder when it names one on disk; None for a Hub id ("owner/name").

    Raises AvatarInputError for a local path that does not exist or is a single file (the
    pre-diffusers layout), so a typo never turns into a Hub request.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        return p
    if p.is_file():
        raise AvatarInputError(f"{str(path)!r} is a single file, not a checkpoint folder: {CHECKPOINT_HINT}")
    text = os.fspath(path)
    looks_local = isinstance(path, os.PathLike) or text.startswith((".", "/", "~")) or os.path.isabs(text) or text.count("/") != 1
    if looks_local:
        raise AvatarInputError(f"checkpoint folder {text!r} not found: {CHECKPOINT_HINT}")
    return None


def load_strict(load: Callable[..., Any], path: str | os.PathLike, **kwargs: Any) -> Any:
    """Return the model `load` (a bound `ModelMixin.from_pretrained`) reads from `path`, in eval mode.

    A local folder is read with `local_files_only=True`; a Hub id is passed on as is (for users who
    are online and ask for one). `output_loading_info=True` returns (model, info) as diffusers does.
    Raises FileFormatError naming the first tensors that are missing, unexpected or mis-shaped.
    """
    local = local_checkpoint(path)
    if local is not None:
        if not (local / "config.json").is_file():
            raise AvatarInputError(f"{str(path)!r} has no config.json: {CHECKPOINT_HINT}")
        kwargs["local_files_only"] = True
        path = local
    # These models are small: build them for real (no meta-device init, and no warning when accelerate is absent).
    kwargs.setdefault("low_cpu_mem_usage", False)
    want_info = bool(kwargs.pop("output_loading_info", False))
    try:
        model, info = load(path, output_loading_info=True, **kwargs)
    except (OSError, ValueError) as e:  # diffusers' wording for unreadable or absent weight files
        raise FileFormatError(f"cannot load {str(path)!r} ({str(e).splitlines()[0]}): {CHECKPOINT_HINT}") from None
    except RuntimeError as e:  # shape mismatches: diffusers raises from load_state_dict
        raise FileFormatError(f"{str(path)!r} does not fit the model config: {str(e).splitlines()[-1].strip()}") from None
    problems = [f"{kind.split('_')[0]} {sorted(map(str, info[kind]))[:4]}"
                for kind in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(kind)]
    if problems:
        raise FileFormatError(f"{str(path)!r} does not match {type(model).__name__}: {', '.join(problems)}; re-save it with save_pretrained")
    model.eval()
    return (model, info) if want_info else model
