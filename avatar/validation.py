"""Returns checked values for the rules every entry point shares: ranges, frame and sample rates, sizes, seeds.

One place for each rule, so the CLI, the facade, the generators and the file readers say the same
thing about the same mistake. Each check returns the value in its canonical type or raises an
`AvatarInputError` whose one-line message quotes what it got and says what to use instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from avatar.constants import MAX_FPS, MAX_IMAGE_SIDE, MIN_IMAGE_SIDE
from avatar.errors import AvatarInputError


def _number(value: Any) -> float | None:
    """Return `value` as a float, or None for non-numbers (booleans are not numbers here)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_range(value: Any, what: str, low: float = 0.0, high: float = 1.0) -> float:
    """Return `value` as a float after checking it is a finite number in [low, high].

    Used for intensities, AU intensities and mixture weights (0..1) and valence/arousal (-1..1).
    """
    rng = f"{low:g}..{high:g}"
    x = _number(value)
    if x is None:
        raise AvatarInputError(f"{what} must be a number in {rng}, got {value!r}")
    if not (math.isfinite(x) and low <= x <= high):
        raise AvatarInputError(f"{what} is {value!r}, outside the range: use {rng}")
    return x


def check_unit(value: Any, what: str = "intensity") -> float:
    """Return `value` as a float in [0, 1] (an intensity or weight), or raise naming `what`."""
    return check_range(value, what, 0.0, 1.0)


def check_signed_unit(value: Any, what: str) -> float:
    """Return `value` as a float in [-1, 1] (valence, arousal), or raise naming `what`."""
    return check_range(value, what, -1.0, 1.0)


def check_units(values: Iterable[Any], what: str = "intensity") -> tuple[float, ...]:
    """Return every value of `values` checked by `check_unit` (e.g. a list of intensities)."""
    return tuple(check_unit(v, what) for v in values)


def check_fps(fps: Any, what: str = "fps") -> float:
    """Return `fps` as a float after checking it is a positive finite rate up to `MAX_FPS`."""
    x = _number(fps)
    if x is None or not (math.isfinite(x) and 0.0 < x <= MAX_FPS):
        raise AvatarInputError(f"{what} must be a positive number up to {MAX_FPS:g}, got {fps!r}")
    return x


def check_sample_rate(rate: Any) -> int:
    """Return `rate` as an int number of samples per second (1 kHz .. 384 kHz)."""
    x = _number(rate)
    if x is None or not math.isfinite(x) or x != int(x) or not 1_000 <= x <= 384_000:
        raise AvatarInputError(f"sample_rate must be a whole number of Hz between 1000 and 384000 (e.g. 16000), got {rate!r}")
    return int(x)


def check_size(width: Any, height: Any | None = None) -> tuple[int, int]:
    """Return (width, height) as ints after checking each is a whole number of pixels in range."""
    height = width if height is None else height
    out = []
    for v in (width, height):
        x = _number(v)
        if x is None or not math.isfinite(x) or x != int(x) or not MIN_IMAGE_SIDE <= x <= MAX_IMAGE_SIDE:
            raise AvatarInputError(f"image size {width}x{height} is out of range: use {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE} pixels a side")
        out.append(int(x))
    return out[0], out[1]


def check_seed(seed: Any) -> int:
    """Return `seed` as a non-negative int (seeds drive blinks, gaze, identities and sampling)."""
    if isinstance(seed, bool) or _number(seed) is None or float(seed) != int(float(seed)) or int(float(seed)) < 0:
        raise AvatarInputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_choice(value: Any, choices: Iterable[str], what: str) -> str:
    """Return `value` when it is one of `choices`, else raise listing them."""
    options = tuple(choices)
    if value not in options:
        raise AvatarInputError(f"unknown {what} {value!r}: use one of {', '.join(options)}")
    return str(value)


def check_int(value: Any, what: str, low: int, high: int) -> int:
    """Return `value` as an int in [low, high]; raise a one-line AvatarInputError quoting it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise AvatarInputError(f"{what} must be a whole number in {low}..{high}, got {value!r}")
    return int(value)


def check_number(value: Any, what: str, low: float, high: float, low_open: bool = False) -> float:
    """Return `value` as a float in [low, high] ((low, high] with low_open); raise a one-line AvatarInputError otherwise."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or not (low < float(value) if low_open else low <= float(value)) or float(value) > high:
        side = "(" if low_open else "["
        raise AvatarInputError(f"{what} must be a number in {side}{low}, {high}], got {value!r}")
    return float(value)


MAX_IDENTITY_SEED = 1_000_000
"""Largest identity seed accepted (a typo guard; seeds index the head's identity-mode sampling)."""


def parse_identities(value: Any, what: str = "identities") -> tuple[int, ...]:
    """Return identity seeds from `"0,7,21"`, ranges `"101-140"`, one seed (`3` or `"3"`) or a sequence of them.

    The one parser the CLI, the facade, the playground and the batch manifest share. Strict: every
    seed is a whole number >= 0 written as one ("7.9" or "seven" raise a one-line `AvatarInputError`
    naming `what`); a range's end is included; at least one seed.
    """
    hint = "write seeds like '0,7,21' or ranges like '101-140' (whole numbers >= 0)"
    if isinstance(value, bool) or value is None:
        raise AvatarInputError(f"{what} {value!r}: {hint}")
    parts: list[Any]
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, (int, np.integer)):
        parts = [int(value)]
    elif isinstance(value, Iterable):
        parts = list(value)
    else:
        raise AvatarInputError(f"{what} {value!r}: {hint}")
    out: list[int] = []
    for part in parts:
        if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
            seeds = [int(part)]
        elif isinstance(part, str):
            lo, dash, hi = part.strip().partition("-")
            if dash and lo.strip():
                a, b = _seed_text(lo, what, value, hint), _seed_text(hi, what, value, hint)
                if b < a:
                    raise AvatarInputError(f"{what} {value!r}: range {part.strip()!r} runs backwards; write it low-high")
                seeds = list(range(a, b + 1))
            else:
                seeds = [_seed_text(part, what, value, hint)]
        else:
            raise AvatarInputError(f"{what} {value!r}: {part!r} is not a seed; {hint}")
        for s in seeds:
            if not 0 <= s <= MAX_IDENTITY_SEED:
                raise AvatarInputError(f"{what} {value!r}: seed {s} is out of range; use 0..{MAX_IDENTITY_SEED}")
        out.extend(seeds)
    if not out:
        raise AvatarInputError(f"{what} {value!r} names no seed: {hint}")
    return tuple(out)


def _seed_text(text: str, what: str, value: Any, hint: str) -> int:
    t = text.strip()
    if not t.isdigit():
        raise AvatarInputError(f"{what} {value!r}: {t!r} is not a whole number; {hint}")
    return int(t)


NAMED_COLOURS: dict[str, str] = {"white": "#ffffff", "black": "#000000", "grey": "#808080", "gray": "#808080", "green": "#00b140"}
"""Colour names a background may be given as (green: a green screen to key out)."""


def parse_colour(value: Any, what: str = "background") -> tuple[float, float, float] | None:
    """Return an RGB triple in 0..1 from "#rrggbb", "r,g,b" (0..1), a name, an (r, g, b) sequence, or None for "transparent".

    The one colour rule of the CLI's --background, the facade's `background=`, the playground and the manifest.
    `value` None is the default background (`avatar.constants.DEFAULT_BACKGROUND`).
    """
    from avatar.constants import DEFAULT_BACKGROUND

    if value is None:
        return DEFAULT_BACKGROUND
    if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
        vals = [_number(v) for v in value]
        if len(vals) == 3 and all(v is not None and 0.0 <= v <= 1.0 for v in vals):
            return (float(vals[0]), float(vals[1]), float(vals[2]))  # type: ignore[arg-type]
    elif isinstance(value, str):
        t = value.strip().lower()
        if t in ("transparent", "none"):
            return None
        t = NAMED_COLOURS.get(t, t)
        if t.startswith("#") and len(t) == 7:
            try:
                return (int(t[1:3], 16) / 255.0, int(t[3:5], 16) / 255.0, int(t[5:7], 16) / 255.0)
            except ValueError:
                pass
        parts = t.split(",")
        if len(parts) == 3:
            nums = [_number(p) for p in parts]
            if all(v is not None and 0.0 <= v <= 1.0 for v in nums):
                return (float(nums[0]), float(nums[1]), float(nums[2]))  # type: ignore[arg-type]
    raise AvatarInputError(f"{what} {value!r} is not a colour: use #rrggbb, r,g,b in 0..1, a name "
                           f"({', '.join(NAMED_COLOURS)}), or 'transparent'")
