"""Returns float32 values as the shortest decimal text that reads back exactly (for JSON and CSV writers)."""

from __future__ import annotations

import numpy as np


def float32_text(values: np.ndarray) -> list[list[str]]:
    """Return each float32 of the 2-D `values` as the shortest decimal text that parses back to it.

    Parsing goes through float64 first in most readers (Python, JavaScript); in the rare case that
    double rounding would change the shortest text's float32, 9 significant digits (always safe) are used.
    """
    a = np.asarray(values, np.float32)
    if not a.size:
        return [[] for _ in range(len(a))]
    a = a.reshape(len(a), -1)
    text = [[str(v) for v in row] for row in a]
    back = np.array(text, dtype=np.float64).astype(np.float32)
    for i, j in zip(*np.nonzero(back != a)):
        text[i][j] = f"{float(a[i, j]):.9g}"
    return text
