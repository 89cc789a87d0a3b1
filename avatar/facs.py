"""FACS action units: the catalogue, `ActionUnits` intensities, and the AU <-> ARKit mapping.

`AU_TO_ARKIT` is an (n_AU, 52) float32 matrix, rows named by `AU_LABELS` ("AU1", ...),
columns by `avatar.rig.ARKIT_NAMES`. Its base is ICT-FaceKit's table of each shape's closest
AU (see the asset README). A bilateral AU drives both the Left and the Right shape; a
side-specific entry (FACS "R12", "L14") drives only that side's shapes and half of any midline
shape (a one-sided action moves the centre of the face about half as far). The pose of a set
of AUs is the sum of their rows, clipped to [0, 1].

Choices ICT leaves open (measured by posing the shipped ICT head, `default_head().pose(w)`,
on the lip gap = upper_lip_inner.y - lower_lip_inner.y, 0.08 cm at rest):

- AU23 lip tightener = mouthPress 0.5 + mouthRollUpper 0.3 + mouthRollLower 0.3. Press alone
  (AU24) barely thins the lips; the partial roll narrows the red of both lips by ~0.25 cm without
  sucking them in (that is AU28's full roll), which is what distinguishes 23 from 24 and 28.
- AU25 lips part = mouthLowerDown 0.4 + jawOpen 0.1: the lips separate by ~0.5 cm with the chin
  dropping only ~0.4 cm; jawOpen alone would move the chin as much as the lips.
- AU26 jaw drop = jawOpen 0.5: a relaxed open jaw, lip gap ~1.7 cm, chin down ~1.4 cm.
- AU27 mouth stretch = jawOpen 1.0 + mouthStretch 0.3: the jaw fully down (lip gap ~3.3 cm);
  ICT's jawOpen narrows the mouth by 0.57 cm at full opening, and the stretch keeps the corners
  out as in a wide-open scream or yawn.
- AU43 eyes closed = eyeBlink 1.0, the same pose as AU45 blink: the two differ only in duration,
  which a single frame cannot show.

`arkit_to_au` inverts the mapping per frame: an exact, closed-form bounded least-squares fit of
the AUs whose rows share no shapes, then AU27, AU25 and AU23 are lifted from their parts; see
`arkit_to_sides` for what it recovers exactly and what it cannot tell apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, ShapeError, UnknownNameError
from avatar.rig import ARKIT_NAMES, NUM_ARKIT
from avatar.validation import check_unit

# --------------------------------------------------------------------------- catalogue

AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    11: "nasolabial deepener",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    16: "lower lip depressor",
    17: "chin raiser",
    18: "lip pucker",
    20: "lip stretcher",
    22: "lip funneler",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
    27: "mouth stretch",
    28: "lip suck",
    29: "jaw thrust",
    30: "jaw sideways",
    33: "cheek blow",
    43: "eyes closed",
    45: "blink",
    61: "eyes turn left",
    62: "eyes turn right",
    63: "eyes up",
    64: "eyes down",
}
"""FACS number -> FACS name, for every AU this toolkit maps onto ARKit."""

AU_NUMBERS: tuple[int, ...] = tuple(AU_NAMES)
AU_LABELS: tuple[str, ...] = tuple(f"AU{n}" for n in AU_NUMBERS)
"""Row names of `AU_TO_ARKIT`, in `AU_NUMBERS` order."""
NUM_AU = len(AU_NUMBERS)

SIDED_ONLY: frozenset[int] = frozenset({30})
"""AUs that only exist with a side: for AU30 the side is the direction the jaw moves (L30 = jawLeft)."""

ALIASES: dict[int, int] = {43: 45}
"""AU -> the AU with the identical ARKit pose; `arkit_to_au` reports the latter."""


def _pair(stem: str, weight: float = 1.0) -> dict[str, float]:
    return {f"{stem}Left": weight, f"{stem}Right": weight}


# Rows of the AU -> ARKit matrix. ICT's table, all at weight 1, except the commented choices.
_AU_SHAPES: dict[int, dict[str, float]] = {
    1: {"browInnerUp": 1.0},  # ARKit has one inner-brow shape; ICT's _L/_R halves are merged in the head
    2: _pair("browOuterUp"),
    4: _pair("browDown"),
    5: _pair("eyeWide"),
    6: _pair("cheekSquint"),
    7: _pair("eyeSquint"),
    9: _pair("noseSneer"),
    10: {"mouthShrugUpper": 1.0},  # ICT's choice; on this head it lifts the upper lip without the corners
    11: _pair("mouthUpperUp"),
    12: _pair("mouthSmile"),
    14: _pair("mouthDimple"),
    15: _pair("mouthFrown"),
    16: _pair("mouthLowerDown"),
    17: {"mouthShrugLower": 1.0},
    18: {"mouthPucker": 1.0},
    20: _pair("mouthStretch"),
    22: {"mouthFunnel": 1.0},
    # Partial roll thins the red of the lips; press keeps them sealed (not in ICT's table).
    23: {**_pair("mouthPress", 0.5), "mouthRollUpper": 0.3, "mouthRollLower": 0.3},
    24: _pair("mouthPress"),
    # Lips part mostly by the lower lip, with a little jaw so the teeth separate (not in ICT's table).
    25: {**_pair("mouthLowerDown", 0.4), "jawOpen": 0.1},
    # Half the jaw's range: a relaxed drop; the full range is kept for AU27 (not in ICT's table).
    26: {"jawOpen": 0.5},
    # ICT maps 27 to jawOpen alone; the stretch stops the full-open jaw from pinching the mouth narrow.
    27: {"jawOpen": 1.0, **_pair("mouthStretch", 0.3)},
    28: {"mouthRollLower": 1.0, "mouthRollUpper": 1.0},
    29: {"jawForward": 1.0},
    30: {"jawLeft": 1.0, "jawRight": 1.0},  # only used one side at a time: L30 -> jawLeft, R30 -> jawRight
    33: {"cheekPuff": 1.0},
    43: _pair("eyeBlink"),  # same pose as AU45; closure and blink differ in time only
    45: _pair("eyeBlink"),
    61: {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0},
    62: {"eyeLookOutRight": 1.0, "eyeLookInLeft": 1.0},
    63: _pair("eyeLookUp"),
    64: _pair("eyeLookDown"),
}


def _build_matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    full = np.zeros((NUM_AU, NUM_ARKIT), np.float32)
    left = np.zeros_like(full)
    right = np.zeros_like(full)
    for i, n in enumerate(AU_NUMBERS):
        for shape, w in _AU_SHAPES[n].items():
            k = ARKIT_NAMES.index(shape)
            full[i, k] = w
            if shape.endswith("Left"):
                left[i, k] = w
            elif shape.endswith("Right"):
                right[i, k] = w
            else:  # midline shape: each side owns half, so L + R = the bilateral row
                left[i, k] = right[i, k] = 0.5 * w
    for m in (full, left, right):
        m.setflags(write=False)
    return full, left, right


AU_TO_ARKIT, AU_TO_ARKIT_LEFT, AU_TO_ARKIT_RIGHT = _build_matrices()
"""(n_AU, 52) float32, read-only: the bilateral rows, and each side's share (LEFT + RIGHT = AU_TO_ARKIT).

The subject's left (+x on the head): mouthSmileLeft, eyeBlinkLeft, ...
"""

SIDES = ("", "L", "R")


def au_row(au: int | str) -> dict[str, float]:
    """Return {ARKit name: weight} that one AU (any accepted spelling, e.g. 12, "AU12") drives at intensity 1."""
    number, _ = parse_au_key(au)
    return dict(_AU_SHAPES[number])


# ------------------------------------------------------------------------------ keys

class _MalformedKeyError(AvatarInputError):
    """Text that is not an AU key at all (as opposed to an unknown or incomplete one)."""


_KEY_RE = re.compile(r"^(?:(?P<pre>[LR])\s*)?(?:AU)?\s*(?P<num>\d+)\s*(?P<post>[LR])?$", re.IGNORECASE)


def _known_list() -> str:
    return ", ".join(str(n) for n in AU_NUMBERS)


def parse_au_key(key: int | str) -> tuple[int, str]:
    """Return (AU number, side) for a key such as 12, "12", "AU12", "R12", "AU12R", "L14"; side is "", "L" or "R".

    Raises `UnknownNameError` for an AU outside the catalogue and `AvatarInputError` for text
    that is not an AU key.
    """
    if isinstance(key, (bool, np.bool_)):
        raise AvatarInputError(f"action unit key {key!r} is not an AU: use a number or a label like 'AU12' or 'R12'")
    if isinstance(key, (int, np.integer)):
        number, side = int(key), ""
    elif isinstance(key, str):
        m = _KEY_RE.match(key.strip())
        if m is None or (m.group("pre") and m.group("post")):
            raise _MalformedKeyError(
                f"malformed action unit {key!r}: write it like 'AU12', '12', 'R12' or 'AU12R'"
            )
        number = int(m.group("num"))
        side = (m.group("pre") or m.group("post") or "").upper()
    else:
        raise AvatarInputError(f"action unit key {key!r} is not an AU: use a number or a label like 'AU12' or 'R12'")
    if number not in AU_NAMES:
        raise UnknownNameError(f"unknown action unit {key!r}: known AUs are {_known_list()}")
    if number in SIDED_ONLY and not side:
        raise AvatarInputError(
            f"AU{number} ({AU_NAMES[number]}) needs a side, the direction it moves: write 'L{number}' or 'R{number}'"
        )
    return number, side


def au_label(number: int, side: str = "") -> str:
    """Return the canonical label: "AU12" when bilateral, FACS-style "L12" / "R12" when one-sided."""
    return f"{side}{number}" if side else f"AU{number}"


# -------------------------------------------------------------------------- ActionUnits


@dataclass(frozen=True, eq=False)
class ActionUnits(Mapping[str, float]):
    """AU intensities in [0, 1], keyed by label ("AU12" bilateral, "L12"/"R12" one side).

    A read-only mapping: ``au[12]``, ``au["AU12"]`` and ``au["R12"]`` all work (0.0 when absent);
    iteration yields canonical labels in AU order. A side-specific entry adds to that side only,
    so the effective intensity of a side is ``min(1, bilateral + side entry)``.

    Build one from a dict (``ActionUnits({1: 0.6, "AU4": 0.8, "R12": 0.5})``) or from the CLI
    syntax (``ActionUnits.parse("AU1=0.6,AU4=0.8,R12=0.5")``).
    """

    intensities: Mapping[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        src = self.intensities
        if isinstance(src, ActionUnits):
            src = src.intensities
        if not isinstance(src, Mapping):
            raise AvatarInputError(
                f"action units must be a mapping such as {{'AU12': 0.8}} or a string 'AU12=0.8', got {type(src).__name__}"
            )
        parsed: dict[tuple[int, str], float] = {}
        for key, value in src.items():
            number, side = parse_au_key(key)
            if (number, side) in parsed:
                raise AvatarInputError(f"action unit {key!r} is given twice: give each AU once")
            parsed[(number, side)] = check_unit(value, f"intensity of {key!r}")
        order = {n: i for i, n in enumerate(AU_NUMBERS)}
        items = sorted(parsed.items(), key=lambda kv: (order[kv[0][0]], SIDES.index(kv[0][1])))
        object.__setattr__(self, "intensities", {au_label(n, s): v for (n, s), v in items})

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, key: int | str) -> float:
        number, side = parse_au_key(key)
        return self.intensities.get(au_label(number, side), 0.0)

    def __iter__(self) -> Iterator[str]:
        return iter(self.intensities)

    def __len__(self) -> int:
        return len(self.intensities)

    def __contains__(self, key: object) -> bool:
        try:
            number, side = parse_au_key(key)  # type: ignore[arg-type]
        except AvatarInputError:
            return False
        return au_label(number, side) in self.intensities

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v:.3g}" for k, v in self.intensities.items())
        return f"ActionUnits({body})"

    # ------------------------------------------------------------- constructors
    @classmethod
    def parse(cls, text: str) -> ActionUnits:
        """Return the AUs written as "AU1=0.6,AU4=0.8,R12=0.5" (also "1=0.6", "AU12R=0.5"; "AU12" alone = 1.0).

        Entries are separated by commas or semicolons; ":" works in place of "=".
        """
        if isinstance(text, ActionUnits):
            return text
        if not isinstance(text, str):
            raise AvatarInputError(f"action units text must be a string like 'AU12=0.8', got {type(text).__name__}")
        values: dict[str, Any] = {}
        for raw in re.split(r"[,;]", text):
            token = raw.strip()
            if not token:
                continue
            key, sep, val = token.replace(":", "=").partition("=")
            key, val = key.strip(), val.strip()
            if not key or (sep and not val):
                raise AvatarInputError(f"malformed action unit entry {token!r}: write it like 'AU12=0.8'")
            try:
                number, side = parse_au_key(key)
            except _MalformedKeyError:
                raise AvatarInputError(
                    f"malformed action unit entry {token!r}: write it like 'AU12=0.8', '12=0.8' or 'R12=0.5'"
                ) from None
            label = au_label(number, side)
            if label in values:
                raise AvatarInputError(f"action unit {key!r} is given twice in {text!r}: give each AU once")
            if sep:
                try:
                    x = float(val)
                except ValueError:
                    raise AvatarInputError(
                        f"malformed action unit entry {token!r}: intensity {val!r} is not a number, use 0..1"
                    ) from None
                if not (np.isfinite(x) and 0.0 <= x <= 1.0):
                    raise AvatarInputError(f"intensity in {token!r} is outside the range: use 0..1")
                values[label] = x
            else:
                values[label] = 1.0
        return cls(values)

    @classmethod
    def coerce(cls, value: ActionUnits | Mapping[Any, Any] | str | None) -> ActionUnits:
        """Return `value` as ActionUnits: an ActionUnits, a {key: intensity} dict, the CLI string, or None (none)."""
        if value is None:
            return cls()
        if isinstance(value, ActionUnits):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls(value)

    @classmethod
    def from_vector(cls, vector: Any, min_intensity: float = 0.0) -> ActionUnits:
        """Return bilateral AUs from an (n_AU,) vector in `AU_NUMBERS` order; entries <= `min_intensity` are left out."""
        v = np.asarray(vector, dtype=np.float64)
        if v.shape != (NUM_AU,):
            raise ShapeError(f"AU vector must have shape ({NUM_AU},) in AU_NUMBERS order, got {tuple(v.shape)}")
        if np.any(v[list(AU_NUMBERS.index(n) for n in SIDED_ONLY)] > min_intensity):
            raise AvatarInputError("an AU vector cannot hold AU30 (jaw sideways): give it as 'L30' or 'R30'")
        return cls({f"AU{n}": float(np.clip(x, 0, 1)) for n, x in zip(AU_NUMBERS, v) if x > min_intensity})

    @classmethod
    def from_sides(cls, sides: Any, min_intensity: float = 1e-3, tol: float = 1e-3) -> ActionUnits:
        """Return AUs from a (2, n_AU) array of effective [left, right] intensities.

        Where both sides agree within `tol` the AU is bilateral (their mean); otherwise the weaker
        side is the bilateral part and the excess becomes an "L"/"R" entry. AU30 is always sided.
        """
        s = np.clip(np.asarray(sides, dtype=np.float64), 0.0, 1.0)
        if s.shape != (2, NUM_AU):
            raise ShapeError(f"AU sides must have shape (2, {NUM_AU}) (left, right), got {tuple(s.shape)}")
        out: dict[str, float] = {}
        for i, n in enumerate(AU_NUMBERS):
            left, right = float(s[0, i]), float(s[1, i])
            if n in SIDED_ONLY:
                bilateral = 0.0
            elif abs(left - right) <= tol:
                bilateral, left, right = (left + right) / 2, 0.0, 0.0
            else:
                bilateral = min(left, right)
                left, right = left - bilateral, right - bilateral
            for side, x in (("", bilateral), ("L", left), ("R", right)):
                if x > min_intensity:
                    out[au_label(n, side)] = min(1.0, x)
        return cls(out)

    # ---------------------------------------------------------------- converters
    def to_dict(self) -> dict[str, float]:
        """Return {label: intensity}, e.g. {"AU6": 0.8, "R12": 0.5} (a plain copy, JSON-ready)."""
        return dict(self.intensities)

    def to_sides(self) -> np.ndarray:
        """Return (2, n_AU) float32 effective intensities of the [left, right] side, in `AU_NUMBERS` order."""
        out = np.zeros((2, NUM_AU), np.float32)
        for label, x in self.intensities.items():
            number, side = parse_au_key(label)
            i = AU_NUMBERS.index(number)
            if side != "R":
                out[0, i] += x
            if side != "L":
                out[1, i] += x
        return np.clip(out, 0.0, 1.0)

    def to_vector(self) -> np.ndarray:
        """Return (n_AU,) float32 intensities in `AU_NUMBERS` order; a one-sided AU counts at its stronger side."""
        return self.to_sides().max(axis=0)

    def to_arkit(self) -> np.ndarray:
        """Return the (52,) float32 ARKit weights of these AUs: the sum of their rows, clipped to [0, 1]."""
        return sides_to_arkit(self.to_sides())

    # ---------------------------------------------------------------- arithmetic
    def scaled(self, factor: float) -> ActionUnits:
        """Return every intensity multiplied by `factor` (in [0, 1])."""
        f = check_unit(factor, "intensity of the scale factor")
        return ActionUnits({k: v * f for k, v in self.intensities.items()})

    def names(self) -> dict[str, str]:
        """Return {label: FACS name} for the AUs present, e.g. {"AU12": "lip corner puller"}."""
        return {k: AU_NAMES[parse_au_key(k)[0]] for k in self.intensities}


def sides_to_arkit(sides: Any) -> np.ndarray:
    """Return ARKit weights (..., 52) float32 in [0, 1] from (..., 2, n_AU) [left, right] AU intensities."""
    s = np.asarray(sides, dtype=np.float32)
    if s.shape[-2:] != (2, NUM_AU):
        raise ShapeError(f"AU sides must have shape (..., 2, {NUM_AU}), got {tuple(s.shape)}")
    w = s[..., 0, :] @ AU_TO_ARKIT_LEFT + s[..., 1, :] @ AU_TO_ARKIT_RIGHT
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def au_to_arkit(aus: ActionUnits | Mapping[Any, Any] | str) -> np.ndarray:
    """Return the (52,) float32 ARKit weights of AUs given as ActionUnits, a dict or the CLI string."""
    return ActionUnits.coerce(aus).to_arkit()

