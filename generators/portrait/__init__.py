"""Diffusion portraits driven by the same AUs as the 3D head: `PortraitPipeline` (the embedded model: a 64 px diffusion base and a 2x upsampler, 128x128) and
`AUAdapterSDPipeline` (a local Stable Diffusion checkpoint plus our AU-token adapter). Importing this package
imports neither torch nor diffusers; the names below load on first use."""

from __future__ import annotations

from avatar.lazy import lazy_exports

_LAZY = {
    "PortraitPipeline": "generators.portrait.pipeline:PortraitPipeline",
    "PortraitPipelineOutput": "generators.portrait.pipeline:PortraitPipelineOutput",
    "DEFAULT_MODEL_PATH": "generators.portrait.pipeline:DEFAULT_MODEL_PATH",
    "AUConditionedUNet": "generators.portrait.models.au_unet:AUConditionedUNet",
    "AUTokenEncoder": "generators.portrait.models.au_adapter:AUTokenEncoder",
    "AUAdapterSDPipeline": "generators.portrait.sd_adapter:AUAdapterSDPipeline",
    "PortraitCondition": "generators.portrait.conditions:PortraitCondition",
    "resolve_condition": "generators.portrait.conditions:resolve_condition",
    "load_portrait_pipeline": "generators.portrait.loading:load_portrait_pipeline",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports("generators.portrait", _LAZY, globals())
