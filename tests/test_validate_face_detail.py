"""scripts/validate_face_detail.py's boxed grid: the views it is asked for are the views it renders and scores
(docs/legibility.md, "Where it stands, end of 2026-12-07": profile through `--views profile`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("validate_face_detail", ROOT / "scripts" / "validate_face_detail.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_boxed_scores_the_views_asked_for_and_counts_hits_per_emotion() -> None:
    from avatar.emotion import EMOTIONS

    mod = _script()
    import inspect

    assert inspect.signature(mod.boxed).parameters["views"].default == ("front", "three-quarter")  # the default grid is unchanged
    seen = []

    def always_neutral(images, boxes):
        seen.append((np.asarray(images).shape, np.asarray(boxes).shape))
        p = np.zeros((len(images), len(EMOTIONS)), np.float32)
        p[:, EMOTIONS.index("neutral")] = 1.0
        return SimpleNamespace(emotion_probs=p)

    items: list = []
    out = mod.boxed([30], "medium", {"stub": always_neutral}, items=items, views=("profile",))
    assert list(out["stub"]) == ["profile"]
    acc = out["stub"]["profile"]
    assert acc["neutral"] == 1.0 and all(acc[e] == 0.0 for e in mod.EMOTIONS7 if e != "neutral")
    # 7 emotions x 2 intensities, scored at crops 0.9 and 1.0, each with its own box
    assert seen == [((14, 256, 256, 3), (14, 4))] * 2
    assert {r["view"] for r in items} == {"profile"} and len(items) == 28
    assert {r["crop"] for r in items} == {0.9, 1.0} and all(r["reading"] == "neutral" for r in items)
