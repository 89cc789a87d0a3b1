"""Brow combination shapes: the brow raisers with the brow lowerer (fear's 1+2+4, or 1+4), layered on ICT's shapes.

In photographs, AU1 (frontalis, medial part) with AU4 (corrugator, depressor supercilii) does not give the sum of the
two motions: the inner brow heads are raised *and* drawn together, so the brows run oblique and flat; the skin of the
middle forehead bunches into horizontal lines that stop short of the temples, with vertical lines between the brows;
the upper lid's fold goes up with the brow. It is the brow of fear (1+2+4) and of sadness (1+4), and the one thing
that tells fear's upper face from surprise's (1+2, brows arched and apart). ICT's `browInnerUp` + `browDown` (with the
corrective brow lowerer, `avatar.brow_lowerer`) sum to a brow whose inner head barely rises (AU4 pulls it down again)
and whose middle forehead is no more folded than with AU1 alone.

`brow_combo_field(head)` builds the missing motion procedurally from the neutral mesh and its 68 landmarks, as two
(V, 3) fields (left and right halves), in the head's units (cm):

- **up and inwards**: each vertex moves by `(-medial, +up)` scaled by a profile across the face (full at the inner
  brow head, `OUTER_SHARE` of it at the outer end, so the brow turns oblique; the medial part falls to zero at the
  midline, where the halves cancel, so the skin between the brows is compressed into vertical furrows) and a
  profile up the face: full over the brow and `HOLD_CM` above it, fading out by `FOREHEAD_CM` above the brow (the
  middle forehead's skin is compressed vertically, inside the forehead's lines, which then show there only); below
  the brow, to nothing at the upper lid's margin (the lid's fold rises, the lashes and eyes stay put);
- **along the skin**: the motion is projected onto the neutral surface's tangent plane.

`with_brow_combo(head, strength)` returns a copy of the head with two combination shapes
(`BlendshapeHead.combos`), one per half: by default (`combo="1+2+4"`, fear's brow) `browInnerUp` with
`browOuterUpLeft` and `browDownLeft` (and the right side's), each moving by `strength x` the smallest of its three
weights `x` its half. It acts only when all are posed: surprise (no browDown), sad (no browOuterUp), anger and
disgust (no browInnerUp) are unchanged; fear (1+2+4) changes. `combo="1+4"` acts on sad's brow too. The 52 ARKit
weights stay the interface; every renderer and posing path blends the combos (`BlendshapeHead.shape_deltas` /
`shape_weights`). `avatar.head.default_head(brow_combo=...)` and `avatar.io.headfile.load_head(..., brow_combo=...)`
apply it; `BROW_COMBO` is the shipped head's default strength (0: off; docs/legibility.md says why).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from avatar.brow_lowerer import _smoothstep, brow_half, symmetric_brow_field
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES

if TYPE_CHECKING:
    from avatar.head import BlendshapeHead

# The shipped head's default strength (0 = no combination shape): off. The selection judges chose the shape below
# (scripts/select_fear.py), but the held-out judge read fear at three-quarter worse with it (docs/legibility.md,
# "Fear's brow as a combination shape"), so it is an option, not the default.
BROW_COMBO = 0.0
# The largest strength an interface accepts.
BROW_COMBO_MAX = 2.0
# At strength 1 and every weight 1, at the inner brow head (cm), before the projection onto the skin. Fear poses
# the combination at min(AU1, AU2, AU4) = 0.45 at intensity 1: 5.4 mm up, 1.8 mm in.
UP_CM = 1.2
MEDIAL_CM = 0.4
# The outer brow end's share of the inner head's rise (the brow turns oblique).
OUTER_SHARE = 0.15
# The outer brow's own vertical motion (cm; negative lowers it), on top of its share of the rise: 0 by default.
OUTER_CM = 0.0
# Up the forehead: the skin follows the brow fully to HOLD_CM above it, then less, to nothing at FOREHEAD_CM, so the
# middle forehead (the forehead's lines lie 1-4 cm above the brows) is compressed vertically.
HOLD_CM = 0.8
FOREHEAD_CM = 3.6

# The combination's shapes per half (left, right): "1+2+4" (fear's brow; the shipped one) or "1+4" (fear's and sad's).
COMBO_SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "1+2+4": (("browInnerUp", "browOuterUpLeft", "browDownLeft"), ("browInnerUp", "browOuterUpRight", "browDownRight")),
    "1+4": (("browInnerUp", "browDownLeft"), ("browInnerUp", "browDownRight")),
}
COMBO = "1+2+4"


def _half_field(v: np.ndarray, normals: np.ndarray, lm: np.ndarray, side: int, up_cm: float,
                medial_cm: float, outer_share: float, outer_cm: float = 0.0) -> np.ndarray:
    """Return the (V, 3) field of one half: side +1 = the head's left (+x; landmarks 22-26), -1 = right (17-21)."""
    h = brow_half(v, lm, side)
    x, y, x_in, x_out, y_brow, own = h.x, h.y, h.x_in, h.x_out, h.y_brow, h.own
    # Across the face: full at the inner head, OUTER_SHARE at the outer end, nothing past the temple.
    lateral = 1.0 - (1.0 - outer_share) * _smoothstep(x_in, x_out, x)
    beyond = 1.0 - _smoothstep(x_out, x_out + 1.2, x)
    medial = _smoothstep(-0.5, x_in, x) * lateral * beyond
    # The skin between the brows rises a little less than the brow heads.
    up = own * (0.7 + 0.3 * _smoothstep(0.0, x_in, x)) * lateral * beyond
    rel = y - y_brow
    above = 1.0 - _smoothstep(HOLD_CM, FOREHEAD_CM, rel)
    below = _smoothstep(h.floor, y_brow - 0.25, y)
    vertical = np.where(rel >= 0, above, below)
    reach = vertical * h.front
    d = np.zeros_like(v)
    d[:, 0] = -side * medial_cm * medial * reach
    d[:, 1] = up_cm * up * reach
    if outer_cm:
        # The outer brow alone (nothing at the inner head, full from the outer end to the temple): negative lowers it.
        d[:, 1] += outer_cm * _smoothstep(x_in, x_out, x) * own * beyond * reach
    d -= (d * normals).sum(1, keepdims=True) * normals
    return d


def brow_combo_field(head: BlendshapeHead, up_cm: float = UP_CM, medial_cm: float = MEDIAL_CM,
                     outer_share: float = OUTER_SHARE, outer_cm: float = OUTER_CM) -> np.ndarray:
    """Return the (2, V, 3) float32 fields (left, right) at strength 1, built on the head's generic neutral.

    `up_cm`, `medial_cm`: the motion at the inner brow head; `outer_share`: the outer end's share of its rise;
    `outer_cm`: a vertical motion of the outer brow alone (negative lowers it; the inner head stays). The defaults are
    the shape's defaults; scripts/select_fear.py varies them. Needs the head's 68 landmarks; raises AvatarInputError without them.
    """
    return symmetric_brow_field(head, _half_field, (float(up_cm), float(medial_cm), float(outer_share),
                                                          float(outer_cm)),
                                "the brow combination shape")


def check_brow_combo(value: object, what: str = "brow_combo") -> float | None:
    """Return a strength in 0..`BROW_COMBO_MAX` as a float (None stays None: each head's own default), or raise one line."""
    from avatar.validation import check_range

    return None if value is None else check_range(value, what, 0.0, BROW_COMBO_MAX)


def with_brow_combo(head: BlendshapeHead, strength: float = 1.0, combo: str = COMBO, **shape: float) -> BlendshapeHead:
    """Return a copy of `head` with the brow combination shapes (`combo`, a key of `COMBO_SHAPES`) at `strength`
    (replacing any combos of the same shapes). Strength 0 returns the head itself. `shape`: `brow_combo_field`'s
    keywords."""
    strength = float(check_brow_combo(strength, "brow_combo strength"))
    if strength == 0.0:
        return head
    if combo not in COMBO_SHAPES:
        raise AvatarInputError(f"brow combo must be one of {', '.join(COMBO_SHAPES)}, got {combo!r}")
    field = strength * brow_combo_field(head, **shape)
    pairs = tuple(tuple(ARKIT_NAMES.index(n) for n in side) for side in COMBO_SHAPES[combo])
    keep = [k for k, p in enumerate(head.combos) if p not in pairs]
    combos = tuple(head.combos[k] for k in keep) + pairs
    old = head.combo_deltas[keep] if head.combos else np.zeros((0, *field.shape[1:]), np.float32)
    out = copy.copy(head)  # not dataclasses.replace: that would read a lazily loaded identity basis now
    out.__dict__.pop("_shape_deltas", None)
    out.combos, out.combo_deltas = combos, np.ascontiguousarray(np.concatenate([old, field]), np.float32)
    out.name = f"{head.name}+combo{strength:g}"
    out._device_cache = {}
    return out
