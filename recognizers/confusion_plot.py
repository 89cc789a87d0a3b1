"""Renders a confusion matrix as a labelled PIL heat-map (no matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from avatar.drawing import default_font, text_size


def confusion_image(
    confusion: np.ndarray,
    labels: Sequence[str],
    no_face: np.ndarray | None = None,
    cell: int = 56,
    title: str = "",
) -> Any:
    """Return a PIL RGB image of `confusion` (K, K), rows expected, columns predicted, with counts.

    Cells are shaded by the row-normalised fraction (white 0 -> dark blue 1), so each row reads
    as that class's recall profile. A "no face" column is added when `no_face` has any count.
    Size: (label_w + cols * cell + pad, top + K * cell + pad), label_w and top from the text.
    """
    from PIL import Image, ImageDraw

    conf = np.asarray(confusion, dtype=np.int64)
    k = len(labels)
    extra = no_face is not None and int(np.asarray(no_face).sum()) > 0
    counts = np.concatenate([conf, np.asarray(no_face, np.int64)[:, None]], 1) if extra else conf
    col_names = [*labels, "no face"] if extra else list(labels)
    font, small = default_font(max(10, cell // 4)), default_font(max(9, cell // 5))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(text_size(probe, s, font)[0] for s in labels) + 16
    # Column names are written vertically so long names never overlap.
    col_h = max(text_size(probe, s, small)[0] for s in col_names) + 10
    title_h = text_size(probe, title or "x", font)[1] + 12
    top = title_h + col_h + 4
    pad = 10
    width, height = label_w + len(col_names) * cell + pad, top + k * cell + pad
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((pad, 6), title, fill="black", font=font)

    rows = counts.sum(1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros(counts.shape, np.float64), where=rows > 0)
    for j, name in enumerate(col_names):
        w, h = text_size(probe, name, small)
        txt = Image.new("L", (w + 4, h + 6), 0)
        ImageDraw.Draw(txt).text((2, 0), name, fill=255, font=small)
        rotated = txt.rotate(90, expand=True)
        x = label_w + j * cell + (cell - rotated.width) // 2
        img.paste((0, 0, 0), (x, top - 4 - rotated.height), rotated)
    for i, name in enumerate(labels):
        _, h = text_size(probe, name, font)
        draw.text((8, top + i * cell + (cell - h) // 2), name, fill="black", font=font)
        for j in range(len(col_names)):
            f = float(frac[i, j])
            # White -> (20, 60, 140): linear blend; text flips to white on the dark half.
            colour = tuple(int(round(255 + (c - 255) * f)) for c in (20, 60, 140))
            x0, y0 = label_w + j * cell, top + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour, outline=(200, 200, 200))
            text = str(int(counts[i, j]))
            tw, th = text_size(draw, text, font)
            draw.text((x0 + (cell - tw) // 2, y0 + (cell - th) // 2 - 2), text, fill="white" if f > 0.5 else "black", font=font)
    return img
