"""The portrait training script's data loop: an identity the renderer cannot build is replaced, never rendered broken."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def training_script() -> object:
    spec = importlib.util.spec_from_file_location("train_portrait_model", ROOT / "scripts" / "train_portrait_model.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


class Head:
    def __init__(self, ident: int = 0) -> None:
        self.ident = ident

    def with_identity(self, ident: int) -> Head:
        return Head(ident)


class Renderer:
    """Fails, as the GL renderer's hair builder does for some identities, on the identities in `broken`."""

    def __init__(self, broken: set[int]) -> None:
        self.broken, self.head, self.look = broken, None, None

    def set_head(self, head: Head, look: str) -> None:
        if head.ident in self.broken:
            raise ValueError("all input arrays must have the same shape")
        self.head, self.look = head, look


def test_an_identity_that_renders_is_kept_and_draws_nothing() -> None:
    script = training_script()
    rng, skipped, renderer = np.random.default_rng(0), set(), Renderer({27, 95})
    state = rng.bit_generator.state
    assert script.set_identity(renderer, Head(), 12, lambda i: f"look {i}", rng, skipped) == 12
    assert renderer.head.ident == 12 and renderer.look == "look 12"  # the look is drawn for the identity it gets
    assert skipped == set() and rng.bit_generator.state == state  # the data's random stream is untouched


def test_a_broken_identity_is_replaced_by_one_that_renders_and_recorded() -> None:
    script = training_script()
    broken = set(range(0, 200, 2)) - {0}  # half of the identities fail (identity 0, the base head, is odd here: it renders)
    rng, skipped, renderer = np.random.default_rng(1), set(), Renderer(broken)
    got = script.set_identity(renderer, Head(), 94, lambda i: f"look {i}", rng, skipped)
    assert got not in broken and 0 <= got < 200
    assert renderer.head.ident == got and renderer.look == f"look {got}"  # the head and its look belong together
    assert 94 in skipped and skipped <= broken  # every skipped identity was a broken one, the asked one first
