"""emoavatar renderers."""

from __future__ import annotations

from avatar.lazy import lazy_exports

# name -> "module:attribute"; resolved on first access, so `import renderers` imports neither torch nor moderngl.
_LAZY = {
    "DifferentiableRenderer": "renderers.differentiable:DifferentiableRenderer",
}

__getattr__, __dir__ = lazy_exports("renderers", _LAZY, globals())
