"""Returns a portrait pipeline from a local folder by the class its model_index.json names (ours or SD + AU adapter)."""

from __future__ import annotations

import json
import os
from typing import Any

from avatar.errors import AvatarInputError

PIPELINE_CLASSES = ("PortraitPipeline", "AUAdapterSDPipeline")


def load_portrait_pipeline(model: str | os.PathLike | None = None, device: Any = "cpu", progress: bool = False) -> Any:
    """Return the `PortraitPipeline` (None: the shipped model) or `AUAdapterSDPipeline` saved in folder `model`, on `device`.

    Raises AvatarInputError (one line) for a folder that is missing, is not a pipeline, or is a bare Stable
    Diffusion checkpoint without our AU adapter (train one with scripts/train_au_adapter.py).
    """
    from generators.portrait.pipeline import DEFAULT_MODEL_PATH, PortraitPipeline, check_pipeline_folder

    path = check_pipeline_folder(DEFAULT_MODEL_PATH if model is None else model)
    name = json.loads((path / "model_index.json").read_text()).get("_class_name")
    if name == "PortraitPipeline":
        pipe = PortraitPipeline.from_pretrained(path)
    elif name == "AUAdapterSDPipeline":
        from generators.portrait.sd_adapter import AUAdapterSDPipeline

        pipe = AUAdapterSDPipeline.from_pretrained(path)
    elif name in ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline"):
        raise AvatarInputError(f"{str(model)!r} is a Stable Diffusion checkpoint without an AU adapter: "
                               "train one with scripts/train_au_adapter.py --sd <folder> and pass its output folder")
    else:
        raise AvatarInputError(f"{str(model)!r} holds a {name!r} pipeline: use one of {', '.join(PIPELINE_CLASSES)}")
    pipe.set_progress_bar_config(disable=not progress, desc="portrait", leave=False)
    return pipe.to(device)
