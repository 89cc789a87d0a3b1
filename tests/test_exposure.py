"""Auto-exposure (renderers.lighting.skin_exposure): darker skin gets more light, medium none, both renderers agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.appearance import Appearance
from avatar.emotion import DEFAULT_PROTOTYPES
from renderers.differentiable import DifferentiableRenderer, psnr
from renderers.gl import GLRenderer, RendererOptions, skin_exposure


def test_gain_follows_skin_luminance_and_medium_is_untouched() -> None:
    gains = [skin_exposure(t) for t in ("light", "medium", "tan", "brown", "dark")]
    assert gains[1] == pytest.approx(1.0)
    assert gains[0] < 1.0 < gains[2] < gains[3] < gains[4]
    assert skin_exposure((0.36, 0.24, 0.17)) == pytest.approx(gains[4])  # an sRGB triple works like its name


def _render(skin: str, auto: bool) -> np.ndarray:
    opts = RendererOptions(width=96, height=96, samples=0, auto_exposure=auto, appearance=Appearance(skin=skin))
    with GLRenderer(options=opts) as r:
        return r.render(DEFAULT_PROTOTYPES["happy"].to_arkit()).astype(np.float64)


def test_a_dark_face_is_exposed_for_and_a_medium_one_is_not() -> None:
    dark_on, dark_off = _render("dark", True), _render("dark", False)
    face = dark_off.sum(-1) < 3 * 0.9 * 255  # not the light background
    assert dark_on[face].mean() > dark_off[face].mean() + 15
    assert np.array_equal(_render("medium", True), _render("medium", False))


def test_the_differentiable_renderer_exposes_the_same() -> None:
    opts = RendererOptions(width=96, height=96, samples=0, appearance=Appearance(skin="dark"))
    w = DEFAULT_PROTOTYPES["anger"].to_arkit()
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts) as diff:
        ours = diff(torch.from_numpy(w)[None])[0].permute(1, 2, 0).detach().numpy()
        assert psnr(ours, gl.render(w) / 255.0) >= 45.0
