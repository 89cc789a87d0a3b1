"""The GL renderer draws a readable head: deterministic, expressions show where they should, eyes have irises."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.head import default_head
from avatar.rig import index_of
from renderers.cameras import Camera
from renderers.gl import GLRenderer
from renderers.options import RendererOptions

pytestmark = [pytest.mark.gl]


def weights(**named: float) -> np.ndarray:
    w = np.zeros(52, np.float32)
    for k, v in named.items():
        w[index_of(k)] = v
    return w


@pytest.fixture(scope="module")
def renderer() -> GLRenderer:
    r = GLRenderer(options=RendererOptions(width=256, height=256))
    yield r
    r.close()


def test_render_shape_dtype_and_determinism(renderer: GLRenderer) -> None:
    a = renderer.render(weights())
    b = renderer.render(weights())
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # The head covers a good part of the frame and is not flat colour.
    bg = np.array([0.92, 0.92, 0.94]) * 255
    head_px = np.abs(a.astype(float) - bg).sum(-1) > 30
    assert 0.25 < head_px.mean() < 0.9
    assert a[head_px].std() > 10


def _region_masks(renderer: GLRenderer, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return pixel masks for the lower face (below the nose tip) and the upper face (brows to nose)."""
    head = renderer.head
    verts = head.pose(w)
    lm = renderer.camera.project(head.landmarks(verts), 256, 256)
    x0, x1 = lm[:, 0].min(), lm[:, 0].max()
    nose_y = lm[30, 1]
    brow_y, chin_y = lm[17:27, 1].min(), lm[8, 1]
    yy, xx = np.mgrid[:256, :256]
    inside_x = (xx >= x0) & (xx <= x1)
    lower = inside_x & (yy > nose_y) & (yy <= chin_y)
    upper = inside_x & (yy >= brow_y - 10) & (yy <= nose_y)
    return lower, upper


def test_smile_changes_mostly_the_lower_face(renderer: GLRenderer) -> None:
    neutral = renderer.render(weights()).astype(float)
    smile = renderer.render(weights(mouthSmileLeft=1, mouthSmileRight=1)).astype(float)
    diff = np.abs(smile - neutral).sum(-1)
    lower, upper = _region_masks(renderer, weights())
    assert diff[lower].mean() > 3 * diff[upper].mean()
    assert diff[lower].mean() > 2.0


def test_brow_raise_changes_mostly_the_upper_face(renderer: GLRenderer) -> None:
    neutral = renderer.render(weights()).astype(float)
    raised = renderer.render(weights(browInnerUp=1, browOuterUpLeft=1, browOuterUpRight=1)).astype(float)
    diff = np.abs(raised - neutral).sum(-1)
    lower, upper = _region_masks(renderer, weights())
    assert diff[upper].mean() > 3 * diff[lower].mean()


def test_eyes_show_dark_pupils_on_white_sclera(renderer: GLRenderer) -> None:
    from avatar.appearance import eye_geometry

    img = renderer.render(weights()).astype(float)
    head = renderer.head
    for eye in eye_geometry(head.neutral):
        pupil_point = eye.centre + eye.axis * 1.2
        px, py = np.round(renderer.camera.project(pupil_point[None], 256, 256)[0]).astype(int)
        # The pupil is dark (a small catch-light from the key may sit on it, so take the darkest of a 5x5 patch).
        assert img[py - 2:py + 3, px - 2:px + 3].mean(-1).min() < 50, "pupil should be dark"
        # Somewhere beside the iris, within the eye opening, the sclera is bright.
        row = img[py, px - 8:px + 9].mean(-1)
        assert row.max() > 170


def test_transparent_background_gives_alpha() -> None:
    with GLRenderer(options=RendererOptions(width=128, height=128, background=None)) as r:
        img = r.render(weights())
    assert img.shape == (128, 128, 4)
    assert img[0, 0, 3] == 0 and img[64, 64, 3] == 255


def test_views_and_custom_camera(renderer: GLRenderer) -> None:
    front = renderer.render(weights())
    renderer.set_camera("three-quarter")
    tq = renderer.render(weights())
    renderer.set_camera(Camera.preset(yaw=-90))
    profile = renderer.render(weights())
    renderer.set_camera("front")
    assert np.abs(front.astype(int) - tq).mean() > 5
    assert np.abs(tq.astype(int) - profile).mean() > 5
    # Yaw -90 looks at the subject's right cheek: their nose points to the viewer's right.
    nose = renderer.head.landmark("nose_tip")
    cam = Camera.preset(yaw=-90)
    nose_x = cam.project(nose[None], 256, 256)[0, 0]
    centre_x = cam.project(renderer.head.neutral.mean(0)[None], 256, 256)[0, 0]
    assert nose_x > centre_x + 20


def test_identity_changes_the_face() -> None:
    h0, h7 = default_head(), default_head(7)
    assert np.abs(h7.neutral - h0.neutral).max() > 0.3
    assert np.array_equal(default_head(7).neutral, h7.neutral)  # seeded: same face every time
    assert np.abs(default_head(8).neutral - h7.neutral).max() > 0.3


def test_face_boxes_contain_the_face(renderer: GLRenderer) -> None:
    box = renderer.face_boxes(weights()[None])[0]
    x0, y0, x1, y1 = box
    assert 0 < x0 < x1 < 256 and 0 < y0 < y1 < 256
    assert 60 < x1 - x0 < 250


def test_unknown_view_and_bad_size_raise() -> None:
    from avatar.errors import AvatarInputError

    with pytest.raises(AvatarInputError, match="unknown view 'sideways'"):
        Camera.preset("sideways")
    with pytest.raises(AvatarInputError, match="out of range"):
        GLRenderer(options=RendererOptions(width=4, height=4))


def test_torch_output_is_float_on_device(renderer: GLRenderer) -> None:
    import torch

    frames = renderer.render(np.stack([weights(), weights(jawOpen=1)]))
    t = renderer.to_torch(frames, "cpu")
    assert t.shape == (2, 3, 256, 256) and t.dtype == torch.float32
    assert 0 <= float(t.min()) and float(t.max()) <= 1
    assert torch.allclose(t[0].permute(1, 2, 0) * 255, torch.from_numpy(frames[0]).float(), atol=0.5)


@pytest.mark.slow
def test_two_renderers_interleaved_draw_their_own_frames() -> None:
    first = GLRenderer(options=RendererOptions(width=96, height=96))
    a = first.render(weights())
    second = GLRenderer(options=RendererOptions(width=64, height=64, background=(0.0, 0.0, 0.0)))
    b = second.render(weights(jawOpen=1))
    assert np.array_equal(first.render(weights()), a)  # the first context is made current again
    assert np.array_equal(second.render(weights(jawOpen=1)), b)
    second.close()
    assert np.array_equal(first.render(weights()), a)
    first.close()


def test_a_renderer_refuses_another_thread_instead_of_drawing_nothing() -> None:
    import threading

    from avatar.errors import SetupError

    with GLRenderer(options=RendererOptions(width=64, height=64)) as r:
        r.render(np.zeros(52, np.float32))
        caught: list[BaseException] = []

        def other() -> None:
            try:
                r.render(np.zeros(52, np.float32))
            except BaseException as e:  # noqa: BLE001 - handed back to the test thread
                caught.append(e)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert len(caught) == 1 and isinstance(caught[0], SetupError) and "thread" in str(caught[0])
        assert r.render(np.zeros(52, np.float32)).shape == (64, 64, 3)  # still fine on its own thread


@pytest.mark.slow
def test_antialiasing_and_posing_modes_are_reported() -> None:
    """samples=0 draws one sample; 'auto' supersamples 2x2 on a CPU rasterizer (MSAA on a GPU); posing is numpy on
    a CPU rasterizer unless asked (docs/performance.md)."""
    with GLRenderer(options=RendererOptions(width=64, height=64, samples=0)) as r:
        assert r.antialias == "none" and r.supersample == 1
    with GLRenderer(options=RendererOptions(width=64, height=64)) as r:
        if r.software_rasterizer:
            assert r.antialias == "supersample" and r.supersample == 2 and not r.gpu_pose
        else:
            assert r.antialias == "msaa" and r.gpu_pose
    with GLRenderer(options=RendererOptions(width=64, height=64, antialias="msaa")) as r:
        assert r.antialias == "msaa" and r.supersample == 1
