"""The canonical rig: Apple's 52 ARKit blendshape names, and name normalisation.

Every weight array in emoavatar carries these names in this order (ARKit's
documented order, which MediaPipe and most exporters also use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from avatar.errors import UnknownNameError

ARKIT_NAMES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
NUM_ARKIT = len(ARKIT_NAMES)
assert NUM_ARKIT == 52

_LOWER_TO_CANONICAL = {n.lower(): n for n in ARKIT_NAMES}


def _suffix_fix(name: str) -> str:
    # ICT / Maya style "_L" / "_R" (and ".L", "-l") suffixes -> ARKit's "Left"/"Right".
    m = re.match(r"^(.*?)[_.\-\s]?(l|r|left|right)$", name, flags=re.IGNORECASE)
    if m and m.group(1) and re.search(r"[_.\-\s](l|r|left|right)$", name, flags=re.IGNORECASE):
        side = "Left" if m.group(2).lower().startswith("l") else "Right"
        return m.group(1) + side
    return name


def normalize_name(name: str) -> str:
    """Return the canonical ARKit name for `name`, or raise `UnknownNameError`.

    Accepts ARKit names in any case (``JawOpen``, ``jawopen``), ICT/Maya suffixes
    (``browDown_L`` -> ``browDownLeft``), and ignores prefixes such as ``blendShape1.``
    or ``ARKit_``.
    """
    raw = str(name).strip()
    candidate = raw.split(".")[-1] if "." in raw and not re.search(r"\.[LRlr]$", raw) else raw
    for prefix in ("arkit_", "arkit-", "bs_", "blendshape_"):
        if candidate.lower().startswith(prefix):
            candidate = candidate[len(prefix):]
    for attempt in (candidate, _suffix_fix(candidate)):
        hit = _LOWER_TO_CANONICAL.get(attempt.lower())
        if hit is not None:
            return hit
    raise UnknownNameError(
        f"unknown blendshape name {name!r}: expected one of the 52 ARKit names, e.g. 'jawOpen', "
        f"'mouthSmileLeft' (see avatar.rig.ARKIT_NAMES)"
    )


def try_normalize_name(name: str) -> str | None:
    """Return the canonical ARKit name for `name`, or None when it is not an ARKit shape.

    MediaPipe's ``_neutral`` and shapes outside ARKit (ICT's ``PupilDilate_L``) give None.
    """
    try:
        return normalize_name(name)
    except UnknownNameError:
        return None


def index_of(name: str) -> int:
    """Return the column of `name` (any accepted spelling) in ARKit order (`ARKIT.index`)."""
    return ARKIT.index(name)


@dataclass(frozen=True)
class Rig:
    """An ordered list of blendshape names; the default is ARKit 52."""

    names: tuple[str, ...] = ARKIT_NAMES

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def index(self, name: str) -> int:
        """Return the column of `name`, accepting any spelling `normalize_name` accepts."""
        if name in self._index:
            return self._index[name]
        canonical = normalize_name(name)
        if canonical not in self._index:
            raise UnknownNameError(f"blendshape {canonical!r} is not in this rig of {len(self)} shapes")
        return self._index[canonical]


ARKIT = Rig()
