"""A CPU rasterizer's shortcuts together (GLRenderer on llvmpipe: the per-segment vertex layout, the polynomial gamma
in the head's and the strands' shaders, hair and clothing facing the camera drawn before the head, the unrolled
resolve) leave the default look's frames where the exact path (a GPU's choices, forced on llvmpipe) draws them."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.gl, pytest.mark.slow]


def _clip() -> tuple[np.ndarray, np.ndarray]:
    """Return (5, 52) weights and (5, 6) head poses that turn the head both ways and nod it."""
    rng = np.random.default_rng(21)
    w = np.clip(rng.normal(0.15, 0.3, (5, 52)), 0, 1).astype(np.float32)
    hp = np.zeros((5, 6))
    hp[:, 1] = np.linspace(-0.6, 0.6, 5)
    hp[:, 0] = np.linspace(0.25, -0.25, 5)
    return w, hp


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("camera", ["front", "three-quarter"])
def test_the_shortcuts_keep_frames_within_50_db_of_the_exact_path(camera: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import renderers.gl as gl
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w, hp = _clip()
    # gpu_pose False and supersampling named, so the exact path differs from the fast one by the shortcuts alone.
    opts = RendererOptions(width=96, height=96, camera=camera, gpu_pose=False, antialias="supersample")
    with GLRenderer(options=opts) as r:
        assert r.software_rasterizer and r._source is not None  # llvmpipe, with its shortcuts on
        assert r._gl_attachments is not None and hasattr(r._gl_attachments, "_seg_order")
        fast = np.stack(list(r.iter_frames(w, hp)))
    monkeypatch.setattr(gl, "is_software_rasterizer", lambda ctx: False)
    with GLRenderer(options=opts) as r:
        assert r._source is None and not hasattr(r._gl_attachments, "_seg_order")  # the exact path
        exact = np.stack(list(r.iter_frames(w, hp)))
    diff = np.abs(fast.astype(int) - exact.astype(int)).max(-1)
    assert _psnr(fast, exact) >= 50
    assert (diff > 0).mean() < 0.01  # a few pixels a level off (the gamma), a few more at equal-depth ties


def test_hair_facing_the_camera_first_draws_the_same_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing the camera-facing half of the hair and clothing before the head changes only which fragments are
    shaded, not which one is seen (but at exactly equal depth)."""
    from renderers.gl import GLRenderer
    from renderers.gl_attachments import GLAttachments
    from renderers.options import RendererOptions

    w, hp = _clip()
    opts = RendererOptions(width=96, height=96, camera="three-quarter")
    with GLRenderer(options=opts) as r:
        a = r._gl_attachments
        # Every index of the rigid part is drawn once a frame: the front runs and the rest partition it.
        for pose in hp:
            r.render(w[0], pose)
            front, back = a._front_runs()
            covered = np.zeros(a._rigid_vertices, int)
            for first, count in front + back:
                covered[first:first + count] += 1
            assert (covered == 1).all() and front and back
        split = np.stack(list(r.iter_frames(w, hp)))
    monkeypatch.setattr(GLAttachments, "draw_front", lambda self: None)
    with GLRenderer(options=opts) as r:
        after = np.stack(list(r.iter_frames(w, hp)))
    assert _psnr(split, after) >= 60 and (np.abs(split.astype(int) - after.astype(int)).max(-1) > 0).mean() <= 1e-4
