"""Returns fonts and text sizes for the labelled images the toolkit draws (contact sheets, confusion matrices)."""

from __future__ import annotations

from typing import Any


def default_font(size: int) -> Any:
    """Return Pillow's default font at `size` pixels (scalable with FreeType, else the fixed bitmap font)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable when Pillow has FreeType (>= 10.1)
    except TypeError:  # older Pillow: fixed bitmap font
        return ImageFont.load_default()


def text_size(draw: Any, text: str, font: Any) -> tuple[int, int]:
    """Return the (width, height) in pixels that `text` takes when drawn with `font`."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0
