"""scripts/validate_face_detail.py's boxed grid: the views it is asked for are the views it renders and scores
(docs/legibility.md, "Where it stands, end of 2026-12-07": profile through `--views profile`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

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


def test_boxed_renders_on_the_backdrop_it_is_given_and_the_selection_names_backdrops() -> None:
    """The backdrop study (docs/legibility.md, "A mid-grey backdrop", 2026-12-08): `options={"background": ...}` is
    what the judges see around the face, and `select_lift_contrast.backdrop` names the shipped default or one grey."""
    from avatar.constants import DEFAULT_BACKGROUND
    from avatar.emotion import EMOTIONS

    mod = _script()
    corners = []

    def record(images, boxes):
        corners.append(np.asarray(images)[:, :4, :4].reshape(-1, 3))
        return SimpleNamespace(emotion_probs=np.full((len(images), len(EMOTIONS)), 1.0 / len(EMOTIONS), np.float32))

    mod.boxed([30], "dark", {"stub": record}, views=("front",), options={"background": (0.25, 0.25, 0.25)})
    assert len(corners) == 2 and all(np.array_equal(c, np.full_like(c, 64)) for c in corners)  # round(0.25 * 255)

    spec = importlib.util.spec_from_file_location("select_lift_contrast", ROOT / "scripts" / "select_lift_contrast.py")
    sel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sel)
    assert sel.backdrop("default") == DEFAULT_BACKGROUND
    assert sel.backdrop("0.35") == (0.35, 0.35, 0.35)
    with pytest.raises(ValueError):
        sel.backdrop("1.5")
