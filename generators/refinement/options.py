"""Returns checked refinement settings: `RefinementOptions`, whose defaults are the shipped table's recipe.

The defaults are the recipe of generators/data/arkit_prototypes_v3.json (AU space, 40 steps of 6 renders,
identity seeds 101-140, yaws -40..40), so `avatar.refine()`, `emoavatar refine` and
`avatar.app.refine.build_prototype_table()` without options all run that recipe; they read their defaults
from here rather than restating them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.errors import AvatarInputError
from avatar.facs import parse_au_key
from avatar.validation import check_range, check_seed

GRADIENTS: tuple[str, ...] = ("auto", "autograd", "finite-difference")
"""How the critics' gradient is taken (`RefinementOptions.gradient`)."""

SPACES: tuple[str, ...] = ("arkit", "au")
"""What refinement moves (`RefinementOptions.space`; the parametrisations are in `generators.refinement.space`)."""


@dataclass(frozen=True)
class RefinementOptions:
    """What to optimise over and how hard (defaults: the shipped table v3's recipe).

    steps, lr: projected Adam-like steps on the weights; `lr` is about how far a pulled weight moves per step.
    seed: seeds the sampling of identities, views, lights and photometric jitter (or pass generator=).
    identities: identity seeds sampled from (never use the ones you validate on).
    yaws: camera yaws in degrees sampled from (views).
    light_jitter: key-light azimuth/elevation drawn uniformly in +-this many degrees, one per step.
    photometric_jitter: per-image brightness and contrast drawn in 1 +- this (a camera's exposure).
    batch_size: images per step.
    confident: a view that already reads the target with this probability stops pulling (`target_hinge`).
    prototype_weight: L2 pull toward the FACS prototype (sum of squares over the 52 columns).
    sparsity_weight: L1 on the weights (unused shapes stay at zero).
    lip_weight: penalty on crossed inner lips (cm^2), from the head's `LipModel`.
    symmetric: tie each Left/Right pair to one value (False for one-sided expressions such as contempt).
    eval_batch: (identity, yaw) pairs of the optimisation's own identities and yaws, front light, on which the
        critics read the pose before and after and on which the best step is chosen (0: skip both).
    keep_best: return the step whose objective (critic hinge + regularisers) on the `eval_batch` views is
        lowest, the start included, rather than the last step (False: the last, one render batch less per step).
    space: "au" moves the intensities of action units (`aus`, default the prototype's own), each AU's shapes
        together; "arkit" moves the 52 ARKit weights (gaze excepted) (`generators.refinement.space`).
    aus: the AUs AU-space refinement may move, e.g. ("AU4", "AU5", "AU7"); None: the prototype's own.
    gradient: how the critics' gradient is taken: "autograd" through the renderer, "finite-difference"
        (central differences of `fd_step` per parameter on the same views: 2P + 1 renders per view, forward
        only, and right across occlusions such as lips parting over teeth, which a rasteriser's autograd
        gets wrong), or "auto": finite differences in AU space (few parameters), autograd in ARKit space.
    fd_step: the parameter step of the finite differences.
    """

    steps: int = 40
    lr: float = 0.05
    seed: int = 0
    identities: tuple[int, ...] = tuple(range(101, 141))
    yaws: tuple[float, ...] = (-40.0, -20.0, 0.0, 20.0, 40.0)
    light_jitter: float = 20.0
    photometric_jitter: float = 0.1
    batch_size: int = 6
    confident: float = 0.85
    prototype_weight: float = 0.5
    sparsity_weight: float = 0.02
    lip_weight: float = 20.0
    symmetric: bool = True
    eval_batch: int = 10
    keep_best: bool = True
    space: str = "au"
    aus: tuple[str, ...] | None = None
    gradient: str = "auto"
    fd_step: float = 0.05

    def gradient_mode(self) -> str:
        """Return "autograd" or "finite-difference": `gradient`, with "auto" resolved by `space`."""
        if self.gradient != "auto":
            return self.gradient
        return "finite-difference" if self.space == "au" else "autograd"

    def check(self) -> RefinementOptions:
        """Return self after checking every field (one-line AvatarInputError quoting the bad value)."""
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 0:
            raise AvatarInputError(f"steps must be a whole number >= 0, got {self.steps!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise AvatarInputError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        for name in ("lr", "light_jitter", "photometric_jitter", "prototype_weight", "sparsity_weight", "lip_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise AvatarInputError(f"{name} must be a finite number >= 0, got {v!r}")
        check_range(self.photometric_jitter, "photometric_jitter", 0.0, 0.9)
        check_range(self.confident, "confident", 1e-6, 1.0)
        check_seed(self.seed)
        if not self.identities:
            raise AvatarInputError(f"identities must name at least one identity seed, got {self.identities!r}")
        for s in self.identities:
            check_seed(s)
        if not self.yaws:
            raise AvatarInputError(f"yaws must hold at least one camera yaw in degrees, got {self.yaws!r}")
        for y in self.yaws:
            check_range(y, "yaw (degrees)", -90.0, 90.0)
        if self.gradient not in GRADIENTS:
            raise AvatarInputError(f"gradient must be one of {', '.join(GRADIENTS)}, got {self.gradient!r}")
        check_range(self.fd_step, "fd_step", 1e-4, 0.5)
        if self.space not in SPACES:
            raise AvatarInputError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        if self.aus is not None:
            if self.space != "au":
                raise AvatarInputError(f"aus={self.aus!r} only applies with space='au' (ARKit-space refinement moves every column)")
            for key in self.aus:
                parse_au_key(key)
        return self
