"""The shader's cosines without cos() (renderers.shading.cosine_glsl): the turn's fraction and one short polynomial,
within 2e-6 of cos everywhere, so frames are cos()'s but for one level on a few pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from renderers.shading import COS_PI_POLY, fragment_shader


def _cos_turn_float32(x: np.ndarray) -> np.ndarray:
    """cos(2 pi x) as the GLSL computes it, step by step in float32."""
    x = np.asarray(x, np.float32)
    t = x - np.floor(x + np.float32(0.5))
    u = t * t
    p = np.float32(COS_PI_POLY[-1])
    for c in reversed(COS_PI_POLY[:-1]):
        p = p * u + np.float32(c)
    return np.float32(2) * p * p - np.float32(1)


def test_the_polynomial_cosine_is_within_2e_6_of_cos_over_many_turns() -> None:
    x = np.linspace(-70.0, 70.0, 1_400_001).astype(np.float32)  # the fine lines' argument spans ~+-60 turns on the head
    got = _cos_turn_float32(x).astype(np.float64)
    want = np.cos(2 * math.pi * x.astype(np.float64))
    assert np.abs(got - want).max() < 2e-6
    t = np.linspace(-0.5, 0.5, 10_001)
    poly = sum(c * (t * t) ** k for k, c in enumerate(COS_PI_POLY))
    assert np.abs(poly - np.cos(math.pi * t)).max() < 5e-7


def test_the_shader_calls_no_cos() -> None:
    import re

    code = re.sub(r"//[^\n]*", "", fragment_shader(wrinkles=True, detail=True))  # comments may say cos
    assert "cos_turn(" in code and "cos_pi(" in code and not re.search(r"\bcos\(", code)


@pytest.mark.gl
@pytest.mark.slow
def test_frames_with_the_polynomial_cosines_are_cos_but_for_one_level_on_few_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    import avatar
    import renderers.shading as shading
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w = np.stack([avatar.pose(e, 1.0) for e in ("surprise", "happy", "anger")]).astype(np.float32)  # forehead, crow's feet, frown
    opts = RendererOptions(width=192, height=192, camera="three-quarter")
    with GLRenderer(options=opts) as r:
        poly = np.stack(list(r.iter_frames(w)))
    monkeypatch.setattr(shading, "cosine_glsl", lambda: """
float cos_pi(float t) { return cos(3.14159265358979 * t); }
float cos_turn(float x) { return cos(6.28318530717959 * x); }
""")
    with GLRenderer(options=opts) as r:
        exact = np.stack(list(r.iter_frames(w)))
    diff = np.abs(poly.astype(int) - exact.astype(int))
    assert diff.max() <= 1 and (diff.max(-1) > 0).mean() < 0.001
