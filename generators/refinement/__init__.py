"""Returns emotion poses and talking sequences refined so that real-face judges read them (recognizer in the loop).

    from generators.refinement import RefinementOptions, refine_expression
    result = refine_expression("anger", 1.0, render, critics=[fer2013], options=RefinementOptions(steps=40))

The package's public names are importable from here; each lives in the module named by its job:

- `options`: `RefinementOptions` (defaults: the shipped table's recipe), `SPACES`, `GRADIENTS`.
- `expression`: `refine_expression`, `RefinementResult` (one pose).
- `sequence`: `refine_sequence`, `SequenceRefinementResult` (per labelled segment of a talking sequence).
- `loop`: the projected-Adam loop that keeps the best step, the `RefinementRenderer` protocol, view sampling.
- `space`: what moves (`arkit_space`, `au_space`, `Parametrisation`).
- `critics`: what the critics make of a batch (hinge, photometric jitter, finite differences, readings).
- `columns`: ARKit column groups and the Left/Right tie; `penalties`: the lip and hinge terms.
"""

from avatar.lazy import lazy_exports

# Resolved on first use: `generators.refinement.options` (what the CLI reads its defaults from) stays torch-free.
_LAZY = {
    "MOUTH_COLUMNS": "generators.refinement.columns:MOUTH_COLUMNS",
    "UPPER_FACE_COLUMNS": "generators.refinement.columns:UPPER_FACE_COLUMNS",
    "RefinementOptions": "generators.refinement.options:RefinementOptions",
    "RefinementRenderer": "generators.refinement.loop:RefinementRenderer",
    "RefinementResult": "generators.refinement.expression:RefinementResult",
    "refine_expression": "generators.refinement.expression:refine_expression",
    "SequenceRefinementResult": "generators.refinement.sequence:SequenceRefinementResult",
    "refine_sequence": "generators.refinement.sequence:refine_sequence",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports("generators.refinement", _LAZY, globals())
