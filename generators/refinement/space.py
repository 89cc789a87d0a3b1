"""Returns what refinement moves: tied ARKit columns, or the per-side intensities of a prototype's action units.

`refine_expression` optimises a vector of parameters in [0, 1]; a `Parametrisation` says how that vector
becomes (B, 52) ARKit weights, where it starts, and what the regularisers measure:

- `arkit_space`: every ARKit column but gaze, Left/Right pairs tied when symmetric. The most freedom: a
  critic can push any shape, including ones no anatomy ties to the emotion.
- `au_space`: the intensities of named FACS action units (default: the prototype's own, gaze and blink
  excluded), each AU's row of `avatar.facs.AU_TO_ARKIT` moving its shapes together. Few parameters, and
  every one of them is a muscle the emotion is known to use, so the result stays an EMFACS face that a
  network cannot steer into its private taste (the continuous form of choosing among EMFACS variants).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from avatar.errors import AvatarInputError
from avatar.facs import AU_NUMBERS, AU_TO_ARKIT_LEFT, AU_TO_ARKIT_RIGHT, NUM_AU, SIDED_ONLY, ActionUnits, au_label, parse_au_key
from avatar.rig import NUM_ARKIT
from generators.refinement.columns import GAZE_COLUMNS, column_mask, tie_matrix

FIXED_AUS: frozenset[int] = frozenset({43, 45, 61, 62, 63, 64})
"""Eye closure and gaze: the dynamics layer's (blinks, where the eyes look), never moved by AU-space refinement."""


@dataclass
class Parametrisation:
    """How a (P,) parameter vector in [0, 1] becomes ARKit weights, and what the regularisers measure.

    start: (P,) where the optimisation begins. anchor: (P,) where the L2 term pulls (the prototype).
    mass: (P,) how many columns (ARKit) or sides (AU) one parameter stands for, so the L2/L1 terms count
        a tied pair twice, as the untied weights would.
    to_weights: (params (P,), batch size) -> (B, 52) ARKit weights in [0, 1], differentiable.
    labels: a name per parameter ("browDownLeft+browDownRight", "AU4", "R12").
    """

    start: torch.Tensor
    anchor: torch.Tensor
    mass: torch.Tensor
    to_weights: Callable[[torch.Tensor, int], torch.Tensor]
    labels: tuple[str, ...]

    def regularisers(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (L2 distance to the anchor, L1 size), both weighted by `mass`."""
        return ((params - self.anchor).pow(2) * self.mass).sum(), (params.abs() * self.mass).sum()

    def named(self, params: torch.Tensor, threshold: float = 1e-3) -> dict[str, float]:
        """Return {label: value} of the parameters above `threshold`."""
        return {n: round(float(v), 4) for n, v in zip(self.labels, params.detach().cpu()) if v > threshold}


def arkit_space(start: np.ndarray, prototype: np.ndarray, symmetric: bool, device: Any = "cpu") -> Parametrisation:
    """Return the ARKit parametrisation: every non-gaze column free, each Left/Right pair one parameter when `symmetric`."""
    from avatar.rig import ARKIT_NAMES

    free = 1.0 - column_mask(GAZE_COLUMNS, device=device)
    tie = tie_matrix(symmetric, free.bool(), device=device)  # (P, 52)
    start_t = torch.as_tensor(start, dtype=torch.float32, device=device)
    proto_t = torch.as_tensor(prototype, dtype=torch.float32, device=device)
    fixed = start_t * (1 - free)
    mass = tie.sum(1)
    labels = tuple("+".join(ARKIT_NAMES[j] for j in torch.nonzero(row).flatten().tolist()) for row in tie)

    def to_weights(p: torch.Tensor, b: int) -> torch.Tensor:
        return (fixed + p @ tie).expand(b, NUM_ARKIT)

    # A tied pair starts (and is anchored) at the mean of its two columns (equal for symmetric prototypes).
    return Parametrisation((tie @ start_t) / mass, (tie @ proto_t) / mass, mass, to_weights, labels)


def au_space(prototype: Any, aus: Sequence[Any] | None, symmetric: bool, device: Any = "cpu") -> Parametrisation:
    """Return the AU parametrisation of a prototype (ActionUnits, a dict or "AU4=1,AU5=0.8").

    `aus` names the AUs that move (default: the prototype's own, minus `FIXED_AUS`); any other AU of the
    prototype stays at its intensity. With `symmetric`, an AU whose two sides are equal in the prototype
    is one parameter; a one-sided AU (contempt's R12) or `symmetric=False` gives each side its own (a side
    written in `aus`, "R12", names the AU; the prototype and `symmetric` decide the sides).
    At the start the weights equal `prototype.to_arkit()`.
    """
    proto = ActionUnits.coerce(prototype)
    sides = proto.to_sides()  # (2, n_AU), clipped per side as to_arkit clips them
    if aus is None:
        numbers = [AU_NUMBERS[i] for i in range(NUM_AU) if sides[:, i].max() > 0 and AU_NUMBERS[i] not in FIXED_AUS]
    else:
        numbers = []
        for key in aus:
            n, _side = parse_au_key(key)
            if n in FIXED_AUS:
                raise AvatarInputError(f"AU{n} (eye closure or gaze) is the dynamics layer's: refinement never moves it; drop it from aus")
            if n not in numbers:
                numbers.append(n)
    if not numbers:
        raise AvatarInputError("AU-space refinement has no action unit to move: the prototype has none (neutral?) and aus= names none")
    groups: list[tuple[str, list[int]]] = []  # (label, flat indices into the (2 * n_AU,) sides vector)
    for n in numbers:
        i = AU_NUMBERS.index(n)
        if symmetric and sides[0, i] == sides[1, i] and n not in SIDED_ONLY:
            groups.append((au_label(n), [i, NUM_AU + i]))
        else:
            groups.append((au_label(n, "L"), [i]))
            groups.append((au_label(n, "R"), [NUM_AU + i]))
    expand = torch.zeros(len(groups), 2 * NUM_AU, device=device)
    for g, (_label, idx) in enumerate(groups):
        expand[g, idx] = 1.0
    flat = torch.as_tensor(sides.reshape(-1), dtype=torch.float32, device=device)
    moving = expand.sum(0)
    fixed = flat * (1 - moving)
    mass = expand.sum(1)
    start = (expand @ flat) / mass
    rows = torch.as_tensor(np.concatenate([AU_TO_ARKIT_LEFT, AU_TO_ARKIT_RIGHT]), dtype=torch.float32, device=device)  # (2 n_AU, 52)

    def to_weights(p: torch.Tensor, b: int) -> torch.Tensor:
        return ((fixed + p @ expand) @ rows).clamp(0, 1).expand(b, NUM_ARKIT)

    return Parametrisation(start, start.clone(), mass, to_weights, tuple(lbl for lbl, _ in groups))
