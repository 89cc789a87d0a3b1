"""Returns a talking sequence whose labelled segments the critics read better: one upper-face delta per segment.

    from generators.refinement import refine_sequence
    out = refine_sequence(seq, render, critics=[fer2013])
    out.sequence                # the ExpressionSequence, mouth/jaw/tongue/gaze/blink columns bit for bit

The optimisation loop, options, renderer protocol and critics are the package's (`generators.refinement.loop`,
`.options`, `.critics`); this module only decides what moves (`UPPER_FACE_COLUMNS`, a delta per segment) and
how the delta is faded in. Each segment keeps its last step (the pose differs frame to frame, so there is no
one fixed set of views to pick a best step on).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from avatar.emotion import EMOTIONS, normalize_emotion
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES
from generators.refinement.columns import UPPER_FACE_COLUMNS, column_mask, tie_matrix
from generators.refinement.critics import critic_list, critic_readings
from generators.refinement.loop import RefinementRenderer, host_generator, optimise
from generators.refinement.options import RefinementOptions
from generators.refinement.penalties import lip_tensors
from generators.refinement.space import Parametrisation


@dataclass
class SequenceRefinementResult:
    """A refined sequence and the delta added to each labelled segment.

    sequence: the refined `ExpressionSequence` (mouth, jaw, tongue, gaze and blink columns unchanged).
    segments: per segment {"label", "start", "stop" (frame indices), "delta" {name: value}, "p_before", "p_after"}.
    """

    sequence: Any
    segments: list[dict[str, Any]]
    seconds: float


def _segments(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append((labels[start], start, i))
            start = i
    return out


def refine_sequence(
    seq: Any,
    render: RefinementRenderer,
    critics: Any,
    options: RefinementOptions | None = None,
    generator: torch.Generator | None = None,
    *,
    frames_per_step: int = 4,
    ramp: float = 0.2,
    skip: Sequence[str] = ("neutral", ""),
    lip_model: Any = None,
    device: Any = None,
    progress: bool = False,
) -> SequenceRefinementResult:
    """Return a `SequenceRefinementResult`: each labelled segment of a talking sequence gets one upper-face delta.

    Per segment of equal labels (skipping `skip`), one (52,) delta, non-zero only on `UPPER_FACE_COLUMNS`
    (brows, eye squint/wide, cheeks, nose), is optimised so the critics read the label on that
    segment's own frames (`frames_per_step` drawn per step, each rendered on the batch's identities,
    views and lights), with L2 and L1 pulling the delta toward zero. It is then added to every frame of
    the segment, faded in and out over `ramp` seconds inside the segment's ends so labels change
    smoothly, and clipped to [0, 1]. `options` must have space="arkit" (the default here). Mouth, jaw, tongue, gaze and blink columns are returned bit for
    bit: speech shapes and lip closures stay exactly as the speech model made them.
    """
    from avatar.sequence import ExpressionSequence

    if not isinstance(seq, ExpressionSequence):
        raise AvatarInputError(f"refine_sequence takes an ExpressionSequence, got {type(seq).__name__}")
    if seq.labels is None:
        raise AvatarInputError("refine_sequence needs per-frame labels: build the sequence with an emotion track")
    # The default options with ARKit space: the delta lives on ARKit columns, whatever refine_expression's default space.
    opts = (options or RefinementOptions(space="arkit")).check()
    if opts.space != "arkit" or opts.gradient_mode() != "autograd":
        raise AvatarInputError(f"refine_sequence moves upper-face ARKit columns by autograd; space={opts.space!r} and "
                               f"gradient={opts.gradient!r} are for refine_expression")
    crit = critic_list(critics)
    dev = torch.device(device) if device is not None else torch.device(getattr(crit[0][1], "device", "cpu"))
    gen = host_generator(generator, opts.seed)
    lips = lip_tensors(lip_model, dev)
    mask = column_mask(UPPER_FACE_COLUMNS, device=dev)
    tie = tie_matrix(opts.symmetric, mask.bool(), device=dev)
    weights = np.asarray(seq.weights, np.float32).copy()
    t0 = time.perf_counter()
    report: list[dict[str, Any]] = []
    skipped = {normalize_emotion(s) if s else "" for s in skip}
    for label, start, stop in _segments(list(seq.labels)):
        norm = normalize_emotion(label) if label else ""
        if norm in skipped:
            continue
        tgt = EMOTIONS.index(norm)
        frames = torch.as_tensor(weights[start:stop], device=dev)
        params = torch.zeros(tie.shape[0], device=dev, requires_grad=True)

        def pose(p: torch.Tensor, b: int, frames: torch.Tensor = frames) -> torch.Tensor:
            pick = torch.randint(len(frames), (b,), generator=gen).to(dev)
            return (frames[pick] + p @ tie).clamp(0, 1)

        # The delta's L2 and L1 pull toward zero: the speech frames themselves are the anchor.
        space = Parametrisation(params.detach(), torch.zeros_like(params.detach()), tie.sum(1), pose, ())
        mid = frames[len(frames) // 2]
        before = critic_readings(render, crit, mid[None], tgt, opts)
        optimise(space, params, (-1.0, 1.0), render, crit, tgt, opts, gen, lips, progress, f"refine {norm} @{start}")
        delta = (params.detach() @ tie).cpu().numpy()
        after = critic_readings(render, crit, (mid + params.detach() @ tie).clamp(0, 1)[None], tgt, opts)
        n = stop - start
        fade = np.ones(n, np.float32)
        r = min(int(round(ramp * seq.fps)), n // 2)
        if r > 0:
            # Fade only at ends that meet another labelled segment or the clip's edge inside it.
            edge = np.linspace(0.0, 1.0, r + 2, dtype=np.float32)[1:-1]
            if start > 0:
                fade[:r] = np.minimum(fade[:r], edge)
            if stop < len(weights):
                fade[-r:] = np.minimum(fade[-r:], edge[::-1])
        cols = mask.cpu().numpy().astype(bool)
        weights[start:stop, cols] = np.clip(weights[start:stop, cols] + fade[:, None] * delta[cols], 0, 1)
        report.append({"label": norm, "start": start, "stop": stop,
                       "delta": {nm: round(float(v), 4) for nm, v in zip(ARKIT_NAMES, delta) if abs(v) > 1e-3},
                       "readings_before": before, "readings_after": after})
    out = replace(seq, weights=weights)
    return SequenceRefinementResult(out, report, time.perf_counter() - t0)
