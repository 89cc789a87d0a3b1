"""The output gamma a CPU rasterizer computes without pow() (renderers.shading.gamma_encode_glsl): within a few
hundred-thousandths of x ** (1 / 2.2), so frames differ from pow()'s by at most one level on a few pixels."""

from __future__ import annotations

import numpy as np
import pytest

from renderers.shading import GAMMA, fragment_shader, gamma_encode_np


def test_the_polynomial_gamma_is_within_3e_5_of_pow_on_0_to_1() -> None:
    x = np.concatenate([np.linspace(0, 1, 200_001, dtype=np.float32), np.geomspace(1e-12, 1, 2_001).astype(np.float32)])
    got = gamma_encode_np(x).astype(np.float64)
    want = x.astype(np.float64) ** (1 / GAMMA)
    assert np.abs(got - want).max() < 3e-5  # 0.008 of an 8-bit level
    assert got[0] < 1e-6 and abs(got[200_000] - 1) < 3e-5  # black stays black, white white


def test_only_the_fast_shader_uses_it() -> None:
    assert "gamma_encode(" in fragment_shader(fast_gamma=True) and "pow(clamp(lin" not in fragment_shader(fast_gamma=True)
    assert "gamma_encode" not in fragment_shader() and "pow(clamp(lin" in fragment_shader()


@pytest.mark.gl
@pytest.mark.slow
def test_frames_with_the_polynomial_gamma_are_pows_but_for_one_level_on_few_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    import renderers.shading as shading
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    rng = np.random.default_rng(5)
    w = np.clip(rng.normal(0.2, 0.3, (5, 52)), 0, 1).astype(np.float32)
    hp = np.zeros((5, 6))
    hp[:, 1] = np.linspace(-0.5, 0.5, 5)
    opts = RendererOptions(width=96, height=96, camera="three-quarter")
    with GLRenderer(options=opts) as r:
        assert r.software_rasterizer  # the machine the tests run on draws with llvmpipe
        fast = np.stack(list(r.iter_frames(w, hp)))
    exact_shader = shading.fragment_shader
    monkeypatch.setattr(shading, "fragment_shader", lambda *a, fast_gamma=False: exact_shader(*a))
    with GLRenderer(options=opts) as r:
        exact = np.stack(list(r.iter_frames(w, hp)))
    diff = np.abs(fast.astype(int) - exact.astype(int))
    assert diff.max() <= 1 and 0 < (diff.max(-1) > 0).mean() < 0.005  # it is the other shader, and one level off at most
