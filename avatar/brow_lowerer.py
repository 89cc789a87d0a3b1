"""A corrective brow lowerer (AU4) layered on a head's own `browDownLeft` / `browDownRight` shapes.

ICT-FaceKit's `browDown` at 1 moves the inner brow head only 1.8 mm down and 1.7 mm inwards; its largest motion is at
the middle of the brow. In photographs AU4 (corrugator, depressor supercilii, procerus) draws the inner brow heads
down and together by several millimetres, bunches the skin between them into vertical furrows with a slight
forward bulge, pulls the skin at the root of the nose down a little and lowers the upper lid's fold, while the outer
brow moves much less. Scaling ICT's own shape does not give that (it moves the middle of the brow most, and the
judges read sad, fear and disgust worse with it; docs/legibility.md).

`brow_lowerer_field(head)` builds that motion procedurally from the neutral mesh and its 68 landmarks, as two (V, 3)
displacement fields (left and right halves, summing to the symmetric motion), in the head's units (cm):

- **down and inwards**: each vertex moves by `(-medial, -down)` scaled by a profile across the face (full at the inner
  brow head, `OUTER_SHARE` of it at the outer end, the medial part falling to zero at the midline where the two halves
  cancel, so the skin between the brows is compressed) and a profile up the face (full over the brow, fading out by
  `FOREHEAD_CM` up the forehead, below the forehead's lines, and, below the brow, to nothing at the upper lid's margin beside the eye and at the root of the nose
  between the eyes, so the lid's fold comes down a little and the lid margin, the lashes and the eyes stay put);
- **along the skin**: that motion is projected onto the neutral surface's tangent plane, so skin slides over the
  brow ridge and into the socket's slope instead of sinking into it;
- **bulge**: the compressed skin between the brows comes forward along its normal (`BULGE_CM` at the midline).

At strength 1 the inner brow head moves `DOWN_CM` down and `MEDIAL_CM` inwards more than ICT's own shape (before the
tangent projection; the shipped shape has no extra down, below). `with_brow_lowerer(head, strength)` returns a copy of the head whose browDown deltas carry
`strength x` the field; the 52 ARKit weights stay the interface, and every renderer and posing path gets the motion
through the deltas (no per-frame cost). `avatar.head.default_head(brow_lowerer=...)` and
`avatar.io.headfile.load_head(..., brow_lowerer=...)` apply it; `BROW_LOWERER` is the shipped head's default strength.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from avatar.blend import vertex_normals
from avatar.constants import ICT_PARTS
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES

if TYPE_CHECKING:
    from avatar.head import BlendshapeHead

# The shipped head's default strength (0 = ICT's own browDown). Chosen in scripts/select_brow_lowerer.py.
BROW_LOWERER = 1.0
# The largest strength an interface accepts (CLI --brow-lowerer, the manifest's brow_lowerer, the playground, the
# facade): the selection looked at 0..2 (docs/appearance.md), and at 2 anger's inner brow heads are still about 0.7 cm
# apart (2.34 cm at rest); near 3 they would meet at the midline.
BROW_LOWERER_MAX = 2.0
# At strength 1, at the inner brow head (cm), before the projection onto the skin. The shape was chosen with the
# FER2013 judges on identities 101-140 (docs/appearance.md): any extra downward pull (0.1-0.5 cm) cost sad and fear
# more than it gave anger (ICT's browDown is always posed with browInnerUp in them, AU1+4, and the pull flattens
# their raised inner brows), so the shipped shape draws the brows together and bunches the glabella, and leaves the
# lowering to ICT's shape; `down_cm` is there for a head or a caller that wants it.
DOWN_CM = 0.0
MEDIAL_CM = 0.30
BULGE_CM = 0.10
# The outer brow end's share of the inner head's motion.
OUTER_SHARE = 0.2
# How far up the forehead the skin follows the brow (cm above it): below the forehead's lines (1-4 cm), so a
# brow lowered under a raised inner brow (sad, fear: AU1+4) keeps AU1's lines instead of stretching them out.
FOREHEAD_CM = 1.5

# Parts of the ICT mesh the field never moves (eyeballs, teeth, gums, tongue, mouth socket).
_ICT_STILL = ("eyeball_left", "eyeball_right", "teeth", "gums_tongue", "mouth_socket")


def _smoothstep(e0: float | np.ndarray, e1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class BrowHalf:
    """One half of the face laid out around its brow (the frame the brow lowerer's and the brow combination's fields
    are drawn in): per vertex x (towards this side from the midline), y, z, the brow's height above x (`y_brow`),
    this half's share across the midline (`own`), where below the brow a field has faded out (`floor`: the lid margin
    beside the eye, the nose's root between them) and the front of the face (`front`); from the landmarks the brow's
    five points inner to outer (`brow`), its inner and outer ends' x, the nose root's and the upper lid's heights."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    brow: np.ndarray
    x_in: float
    x_out: float
    y_brow: np.ndarray
    y_root: float
    y_lid: float
    own: np.ndarray
    floor: np.ndarray
    front: np.ndarray


def brow_half(v: np.ndarray, lm: np.ndarray, side: int) -> BrowHalf:
    """Return the `BrowHalf` of (V, 3) vertices `v` with (68, 3) landmarks `lm`: side +1 = the head's left (+x;
    landmarks 22-26), -1 = right (17-21)."""
    x = v[:, 0] * side  # distance towards this side from the midline (the head is centred on x = 0)
    y, z = v[:, 1], v[:, 2]
    brow = lm[[22, 23, 24, 25, 26]] if side > 0 else lm[[21, 20, 19, 18, 17]]
    eye_top = lm[[43, 44]] if side > 0 else lm[[38, 37]]
    x_in = float(abs(brow[0, 0]))
    x_out = float(abs(brow[-1, 0]))
    # The brow's line: its height interpolated along x between the landmarks (flat beyond them).
    bx = np.abs(brow[:, 0])
    y_brow = np.interp(np.abs(x), bx, brow[:, 1])
    y_brow = np.where(np.abs(x) < x_in, brow[0, 1], y_brow)
    y_root = float(lm[27, 1])  # the root of the nose
    y_lid = float(eye_top[:, 1].max())
    # Across the face: this half owns x > 0 (a smooth hand-over at the midline, the halves sum to one there).
    own = _smoothstep(-0.8, 0.8, x)
    floor = y_root - 0.3 + (y_lid + 0.35 - (y_root - 0.3)) * _smoothstep(0.4 * x_in, x_in + 0.6, np.abs(x))
    # Front of the face only (the back of the head shares x and y).
    front = _smoothstep(float(brow[-1, 2]) - 3.0, float(brow[-1, 2]) - 1.5, z)
    return BrowHalf(x, y, z, brow, x_in, x_out, y_brow, y_root, y_lid, own, floor, front)


def _half_field(v: np.ndarray, normals: np.ndarray, lm: np.ndarray, side: int, down_cm: float, medial_cm: float,
                bulge_cm: float) -> np.ndarray:
    """Return the (V, 3) field of one half: side +1 = the head's left (+x; landmarks 22-26), -1 = right (17-21)."""
    h = brow_half(v, lm, side)
    x, y, brow, x_in, x_out, y_brow, y_root, own = h.x, h.y, h.brow, h.x_in, h.x_out, h.y_brow, h.y_root, h.own
    lateral = 1.0 - (1.0 - OUTER_SHARE) * _smoothstep(x_in, x_out + 0.3, x)
    beyond = 1.0 - _smoothstep(x_out + 0.3, x_out + 1.6, x)  # nothing past the temple
    # Medial pull: zero at the midline (the mirrored half cancels it), full from the inner brow head out.
    medial = _smoothstep(-0.5, x_in, x) * lateral * beyond
    # Down: the procerus brings the skin between the brows down too, a little less than the brow heads.
    down = own * (0.6 + 0.4 * _smoothstep(0.0, x_in, x)) * lateral * beyond
    # Up the face: full over the brow, fading up the forehead; below, to nothing at the lid margin beside the eye
    # and at the root of the nose between the eyes.
    rel = y - y_brow
    above = 1.0 - _smoothstep(0.3, FOREHEAD_CM, rel)
    below = _smoothstep(h.floor, y_brow - 0.25, y)
    vertical = np.where(rel >= 0, above, below)
    front = h.front
    reach = vertical * front
    d = np.zeros_like(v)
    d[:, 0] = -side * medial_cm * medial * reach
    d[:, 1] = -down_cm * down * reach
    # Slide along the skin: drop the component along the neutral normal.
    d -= (d * normals).sum(1, keepdims=True) * normals
    # The compressed skin between the brows comes forward (half per side at the midline).
    glabella_y = 0.5 * (float(brow[0, 1]) + y_root)
    bump = np.exp(-((v[:, 0] / (0.9 * x_in)) ** 2) - ((y - glabella_y - 0.4) / 0.9) ** 2) * own * front
    d += bulge_cm * bump[:, None] * normals
    return d


def brow_lowerer_field(head: BlendshapeHead, down_cm: float = DOWN_CM, medial_cm: float = MEDIAL_CM,
                       bulge_cm: float = BULGE_CM) -> np.ndarray:
    """Return the (2, V, 3) float32 corrective fields (left, right) at strength 1, built on the head's generic neutral.

    `down_cm`, `medial_cm`, `bulge_cm`: the motion at the inner brow head and the glabella's bulge (the defaults are
    the shipped shape; scripts/select_brow_lowerer.py varies them).

    Needs the head's 68 landmarks; raises AvatarInputError without them.
    """
    return symmetric_brow_field(head, _half_field, (float(down_cm), float(medial_cm), float(bulge_cm)), "the brow lowerer")


def symmetric_brow_field(head: BlendshapeHead, half_field: Callable[..., np.ndarray], shape: tuple[float, ...],
                         what: str) -> np.ndarray:
    """Return (2, V, 3) float32 fields (left, right): `half_field(v, normals, landmarks, side, *shape)` on the head's
    generic neutral (side +1, then -1), with ICT's parts that no brow motion moves (`_ICT_STILL`) zeroed. The brow
    lowerer's and the brow combination's (`avatar.brow_combo`) fields are built this way; raises AvatarInputError
    naming `what` for a head without 68 landmarks."""
    if head.landmarks68 is None:
        raise AvatarInputError(f"head {head.name!r} has no 68 landmarks: {what} is placed by them")
    v = np.asarray(head.generic_neutral, np.float64)
    lm = v[np.asarray(head.landmarks68)]
    normals = vertex_normals(v, head.faces).astype(np.float64)
    # Normals face away from the head's centre on the face (flip a head wound the other way).
    if (normals[head.landmarks68[[27, 30]], 2]).mean() < 0:
        normals = -normals
    field = np.stack([half_field(v, normals, lm, +1, *shape), half_field(v, normals, lm, -1, *shape)])
    if head.is_ict:
        for part in _ICT_STILL:
            a, b = ICT_PARTS[part]
            field[:, a:b] = 0.0
    return field.astype(np.float32)


def check_brow_lowerer(value: object, what: str = "brow_lowerer") -> float | None:
    """Return a strength in 0..`BROW_LOWERER_MAX` as a float (None stays None: each head's own default), or raise one line."""
    from avatar.validation import check_range

    return None if value is None else check_range(value, what, 0.0, BROW_LOWERER_MAX)


def with_brow_lowerer(head: BlendshapeHead, strength: float = 1.0, **shape: float) -> BlendshapeHead:
    """Return a copy of `head` whose browDownLeft / browDownRight deltas carry `strength` x the corrective field.

    Strength 0 returns the head itself (its deltas untouched). The field is built on the generic neutral, so every
    identity of the head (`with_identity`) keeps it. `shape`: `brow_lowerer_field`'s keywords.
    """
    strength = float(check_brow_lowerer(strength, "brow_lowerer strength"))
    if strength == 0.0:
        return head
    field = brow_lowerer_field(head, **shape)
    deltas = head.deltas.copy()
    deltas[ARKIT_NAMES.index("browDownLeft")] += strength * field[0]
    deltas[ARKIT_NAMES.index("browDownRight")] += strength * field[1]
    out = copy.copy(head)  # not dataclasses.replace: that would read a lazily loaded identity basis now
    out.deltas = deltas
    out.name = f"{head.name}+brow{strength:g}"
    out._device_cache = {}
    return out
