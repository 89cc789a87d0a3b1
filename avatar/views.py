"""Returns camera views parsed by the one rule every interface shares: a preset name or a yaw in degrees.

A view is a preset (`front`, `three-quarter`, `profile`; spellings such as `3/4` or `three_quarter` are
accepted) or a yaw in degrees written as a number (`20`, `-35.5`) or as `yaw=20`. A list of views is
comma-separated text (`front,yaw=20,profile`) or a sequence, and may mix the two kinds. The CLI
(`--view`, `--views`, `--yaw`), the facade (`view=`, `views=`), the playground and the batch manifest
all read views through `parse_view` / `parse_views`; the renderers turn the result into a camera.
Positive yaw moves the camera towards the subject's left, showing their left cheek.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from avatar.errors import AvatarInputError

PRESET_YAWS: dict[str, float] = {"front": 0.0, "three-quarter": 35.0, "profile": 90.0}
"""The named views and their camera yaws in degrees."""

_ALIASES = {"3/4": "three-quarter", "threequarter": "three-quarter", "three-quarters": "three-quarter",
            "side": "profile", "frontal": "front"}

View = str | float
"""A parsed view: a preset name from `PRESET_YAWS`, or a yaw in degrees (float)."""


def _help() -> str:
    return f"use a preset ({', '.join(PRESET_YAWS)}) or a yaw in degrees (e.g. 20 or yaw=20)"


def parse_view(view: Any) -> View:
    """Return the canonical view: a preset name, or a yaw in degrees (float in -180..180).

    Accepts a preset name (any case, `_` or space for `-`, aliases such as `3/4`), a number, or text
    `"20"` / `"yaw=20"`. Raises a one-line `AvatarInputError` quoting anything else.
    """
    if isinstance(view, bool) or view is None:
        raise AvatarInputError(f"view {view!r} is not a view: {_help()}")
    if isinstance(view, (int, float)) or type(view).__module__ == "numpy":
        return _yaw(view, view)
    if not isinstance(view, str):
        raise AvatarInputError(f"view {view!r} is not a view: {_help()}")
    text = view.strip().lower()
    if text.startswith("yaw="):
        return _yaw(text[4:], view)
    key = text.replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key in PRESET_YAWS:
        return key
    try:
        float(text)
    except ValueError:
        raise AvatarInputError(f"unknown view {view!r}: {_help()}") from None
    return _yaw(text, view)


def _yaw(value: Any, original: Any) -> float:
    try:
        yaw = float(value)
    except (TypeError, ValueError):
        raise AvatarInputError(f"view {original!r}: write a yaw as a number of degrees, e.g. 20 or yaw=20") from None
    if not (math.isfinite(yaw) and -180.0 <= yaw <= 180.0):
        raise AvatarInputError(f"view {original!r}: a yaw must be in -180..180 degrees")
    return yaw


def parse_views(views: Any) -> tuple[View, ...]:
    """Return the canonical views of a comma-separated text or a sequence (presets and yaws may mix), at least one."""
    if isinstance(views, str):
        items: Iterable[Any] = [t for t in views.split(",") if t.strip()]
    elif isinstance(views, Iterable):
        items = list(views)
    else:
        items = [views]
    out = tuple(parse_view(v) for v in items)
    if not out:
        raise AvatarInputError(f"views {views!r} names no view: {_help()}, comma-separated")
    return out


def view_yaw(view: Any) -> float:
    """Return the camera yaw in degrees of a view (preset or yaw)."""
    v = parse_view(view)
    return PRESET_YAWS[v] if isinstance(v, str) else v


def view_label(view: Any) -> str:
    """Return a view as text that `parse_view` reads back: the preset name, or `yaw=N`."""
    v = parse_view(view)
    return v if isinstance(v, str) else f"yaw={v:g}"
