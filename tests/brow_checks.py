"""Checks both brow fields share (tests/test_brow_lowerer.py, tests/test_brow_combo.py): the eyes, lids, nose and mouth stay
put under a brow field, and GL and the differentiable renderer draw a shaped head alike, visibly unlike the head without it."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.head import ICT_PARTS, LANDMARK68_NAMES

STILL_PARTS = ("eyeball_left", "eyeball_right", "teeth", "gums_tongue", "mouth_socket")
STILL_LANDMARKS = ("eye_left_top", "eye_right_top", "eye_left_bottom", "eye_right_bottom", "nose_tip", "upper_lip_top")


def assert_face_below_the_brows_stays(head, field: np.ndarray) -> None:
    """Assert (2, V, 3) `field` on `head` moves no eyeball, tooth, gum, tongue or mouth socket vertex and the lids' margins,
    the nose tip and the upper lip by under 0.1 mm."""
    for part in STILL_PARTS:
        a, b = ICT_PARTS[part]
        assert not field[:, a:b].any(), part
    for name in STILL_LANDMARKS:
        i = head.landmarks68[LANDMARK68_NAMES[name]]
        assert np.abs(field[:, i]).max() < 0.01, name


def assert_renderers_draw_it(plain, shaped, w: np.ndarray) -> None:
    """Assert the differentiable renderer draws `shaped` under weights `w` as GL does (>= 45 dB at 128 px), and that the
    shape changes GL's picture of `plain` far more than the two renderers differ."""
    torch = pytest.importorskip("torch")
    from renderers.differentiable import DifferentiableRenderer, psnr
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    opts = RendererOptions(width=128, height=128, samples=0)
    with GLRenderer(shaped, opts) as gl, DifferentiableRenderer(shaped, options=opts) as diff, torch.no_grad():
        ours = diff(torch.from_numpy(w))[0].permute(1, 2, 0).numpy()
        theirs = gl.render(w).astype(np.float64) / 255
        gl.set_head(plain)
        before = gl.render(w).astype(np.float64) / 255
    assert psnr(ours, theirs) >= 45.0
    assert psnr(before, theirs) < psnr(ours, theirs) - 5  # the shape changes the picture far more than the renderers differ
