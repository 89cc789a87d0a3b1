"""Every view frames the whole face with a margin: front, three-quarter, profile and any yaw in -90..90, for every
emotion at full intensity (a wide-open jaw makes the face box tallest) and for a large and a default identity."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.emotion import EMOTIONS, emotion_to_arkit
from avatar.head import default_head
from avatar.views import PRESET_YAWS
from renderers.cameras import Camera, resolve_camera
from renderers.face_boxes import face_boxes_of_points

SIZE = 256
MARGIN = 0.03  # of the image side, on every side of the detector-style face box (1.3 x the landmarks' extent)


@pytest.mark.parametrize("identity", [None, 140])
def test_face_box_is_inside_the_image_with_a_margin_from_every_view(identity: int | None) -> None:
    head = default_head(identity)
    weights = np.stack([np.zeros(52, np.float32) if e == "neutral" else emotion_to_arkit(e, 1.0) for e in EMOTIONS])
    points = head.landmarks(head.pose(weights))
    views = [*PRESET_YAWS, *range(-90, 91, 15)]
    for view in views:
        camera = resolve_camera(view)
        boxes = face_boxes_of_points(points, camera, SIZE, SIZE)
        margin = np.minimum(np.minimum(boxes[:, 0], boxes[:, 1]), np.minimum(SIZE - boxes[:, 2], SIZE - boxes[:, 3]))
        worst = int(np.argmin(margin))
        assert margin[worst] >= MARGIN * SIZE, (
            f"view {view!r}, {EMOTIONS[worst]}: face box {boxes[worst].round(1)} leaves {margin[worst]:.1f} px of {SIZE}")


def test_views_pan_to_the_face_without_turning_the_lights() -> None:
    """A view pans eye and target together: the viewing direction (what the lights turn with) is the orbit's."""
    for yaw in (-90, -35, 0, 35, 90):
        cam = Camera.preset(yaw=yaw)
        d = np.subtract(cam.eye, cam.target)
        assert np.degrees(np.arctan2(d[0], d[2])) == pytest.approx(yaw, abs=1e-6)
        assert np.linalg.norm(d) == pytest.approx(62.0)


@pytest.mark.gl
@pytest.mark.parametrize("view", ["three-quarter", -35.0])
def test_the_far_eyes_lashes_stay_inside_the_face_outline(view: str | float) -> None:
    """Pixels the eyelash cards add past the head's outline: 17 at 256 px when the whole ICT card was drawn opaque (a
    black wedge beside the far eye at three-quarter); the cards' root half only adds none or a stray pixel."""
    from avatar.head import ICT_PARTS
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    opts = RendererOptions(width=SIZE, height=SIZE, camera=view, background=None, samples=0)
    with GLRenderer(options=opts) as r:
        v = r.head.pose(np.zeros((1, 52), np.float32))[0]
        with_lashes = r.render_vertices(v)[..., 3] > 0
        hidden = v.copy()
        a, b = ICT_PARTS["eyelashes"]
        hidden[a:b] = v[slice(*ICT_PARTS["eyeball_left"])].mean(0)  # inside an eyeball: drawn nowhere visible
        without = r.render_vertices(hidden)[..., 3] > 0
    assert int((with_lashes & ~without).sum()) <= 4
