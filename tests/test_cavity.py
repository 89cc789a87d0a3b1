"""Cavity shading (renderers.cavity): folds darken with the expression, convex skin does not, pose does not matter,
numpy and torch agree and the torch path has the gradient finite differences give."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.blend import vertex_normals
from avatar.emotion import DEFAULT_PROTOTYPES
from avatar.head import default_head
from renderers.cavity import cavity_field, cavity_matrix_torch, cavity_shade, cavity_shade_torch

pytestmark = [pytest.mark.gl]


@pytest.fixture(scope="module")
def head():
    return default_head()


@pytest.fixture(scope="module")
def field(head):
    return cavity_field(head)


def _shade(head, field, weights, head_pose=None):
    v = head.pose(np.asarray(weights, np.float32), head_pose)
    return cavity_shade(field, v, vertex_normals(v, head.faces)), v


def _near(head, verts, point, radius):
    """Skin vertices within `radius` cm of a point on the posed face."""
    return np.flatnonzero(np.linalg.norm(verts - point, axis=1) < radius)


@pytest.mark.parametrize("emotion, marks, radius, drop", [
    ("happy", (48, 54), 0.8, 0.02),   # the smile's cheeks bunch round the mouth corners
    ("anger", (38, 43), 0.6, 0.01),   # lowered brows deepen the socket over the inner upper lids
])
def test_the_expression_deepens_its_folds(head, field, emotion, marks, radius, drop):
    neutral, _ = _shade(head, field, np.zeros(52))
    posed, v = _shade(head, field, DEFAULT_PROTOTYPES[emotion].to_arkit())
    for m in marks:
        idx = np.intersect1d(_near(head, v, v[head.landmarks68[m]], radius), field.skin)
        assert len(idx) > 20
        assert posed[idx].mean() < neutral[idx].mean() - drop, f"no deeper shading near landmark {m} for {emotion}"


def test_convex_skin_keeps_its_albedo(head, field):
    for weights in (np.zeros(52), DEFAULT_PROTOTYPES["happy"].to_arkit()):
        shade, v = _shade(head, field, weights)
        tip = _near(head, v, v[head.landmarks68[30]], 0.3)  # the nose tip
        assert shade[tip].min() > 0.99


def test_off_skin_vertices_are_untouched_and_factors_are_in_range(head, field):
    shade, _ = _shade(head, field, DEFAULT_PROTOTYPES["surprise"].to_arkit())
    off = np.setdiff1d(np.arange(head.num_vertices), field.skin)
    assert np.all(shade[off] == 1.0)
    assert shade.min() >= 1 - 0.8 - 1e-6 and shade.max() <= 1.0
    assert (shade[field.skin] < 0.9).mean() > 0.02  # some skin is in a fold


def test_head_pose_does_not_change_the_shading(head, field):
    w = DEFAULT_PROTOTYPES["disgust"].to_arkit()
    a, _ = _shade(head, field, w)
    b, _ = _shade(head, field, w, np.array([0.2, -0.6, 0.1, 3.0, -1.0, 2.0]))
    np.testing.assert_allclose(a, b, atol=2e-4)


@pytest.mark.slow
def test_torch_matches_numpy_and_its_gradient_matches_finite_differences(head, field):
    w = DEFAULT_PROTOTYPES["anger"].to_arkit()
    want, v = _shade(head, field, w)
    matrix = cavity_matrix_torch(field, dtype=torch.float64)
    skin = torch.from_numpy(field.skin)
    vt = torch.from_numpy(v.astype(np.float64))[None]
    nt = torch.from_numpy(vertex_normals(v, head.faces).astype(np.float64))[None]
    got = cavity_shade_torch(matrix, skin, vt, nt)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)

    # A vertex whose factor is between the clamps, moved along its normal (normals held fixed).
    inside = np.flatnonzero((got > 0.3) & (got < 0.95))
    k = int(inside[len(inside) // 2])
    x = vt.clone().requires_grad_(True)
    cavity_shade_torch(matrix, skin, x, nt)[0, k].backward()
    direction = nt[0, k]
    analytic = float((x.grad[0, k] * direction).sum())
    eps = 1e-4
    step = torch.zeros_like(vt)
    step[0, k] = direction * eps
    f = lambda y: float(cavity_shade_torch(matrix, skin, y, nt)[0, k])  # noqa: E731
    numeric = (f(vt + step) - f(vt - step)) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-6)
    assert analytic > 0  # moving a fold's floor outwards, towards its smoothed surface, lightens it


@pytest.mark.slow
def test_render_switch_and_cli_flag_turn_cavity_shading_off(tmp_path) -> None:
    """Cavity shading only darkens (never brightens) and darkens a real part of the face; `appearance=` and
    `--no-cavity` switch it off."""
    from PIL import Image

    import avatar
    from avatar.app.cli import main
    from avatar.appearance import Appearance

    from generators.expression import expression_weights

    w = expression_weights("happy")  # the pose `render --emotion happy` draws (the default prototype table)
    shaded = avatar.render(w, width=128, height=128).astype(int)
    plain = avatar.render(w, width=128, height=128, appearance=Appearance(cavity=False)).astype(int)
    assert (shaded - plain).max() <= 1
    assert ((plain - shaded).max(-1) >= 8).mean() > 0.02
    out = tmp_path / "plain.png"
    assert main(["render", "--emotion", "happy", "--size", "128", "--no-cavity", "-o", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")).astype(int), plain)


@pytest.mark.slow
def test_cavity_darkens_dark_skin_without_greying_it() -> None:
    """A cavity dims the highlight with the albedo: where it darkens dark skin (beside the nose, yaw 30, a smile) the
    skin keeps its colour. With the highlight left lit, 1 % of those pixels lost >= 0.16 of their saturation, a grey
    smudge beside the nose."""
    from avatar.appearance import Appearance
    from avatar.emotion import emotion_to_arkit
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w = emotion_to_arkit("happy", 0.8)
    images = {}
    for on in (False, True):
        opts = RendererOptions(width=256, height=256, camera=30.0, appearance=Appearance(skin="dark", cavity=on, wrinkles=False))
        with GLRenderer(options=opts) as r:
            images[on] = r.render(w).astype(np.float64) / 255
    sat = {k: (v.max(-1) - v.min(-1)) / np.maximum(v.max(-1), 1e-3) for k, v in images.items()}
    darker = images[False].sum(-1) - images[True].sum(-1) > 0.09
    assert darker.sum() > 500
    assert np.percentile(sat[False][darker] - sat[True][darker], 99) < 0.05


@pytest.mark.slow
def test_the_tuned_values_are_appearance_fields_passed_to_both_renderers() -> None:
    """`Appearance.cavity_strength` / `_iterations` / `_depth_cm` and `lip_shade` are what the selection scripts sweep:
    strength 0 renders as cavity shading off, and a changed value reaches the GL and the differentiable renderer alike."""
    import torch

    from avatar.appearance import Appearance
    from avatar.emotion import DEFAULT_PROTOTYPES
    from renderers.differentiable import DifferentiableRenderer
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w = DEFAULT_PROTOTYPES["disgust"].to_arkit()

    def gl(look: Appearance) -> np.ndarray:
        with GLRenderer(options=RendererOptions(width=96, height=96, samples=0, appearance=look)) as r:
            return r.render(w).astype(np.int64)

    def diff(look: Appearance) -> np.ndarray:
        with DifferentiableRenderer(options=RendererOptions(width=96, height=96, samples=0, appearance=look)) as r, torch.no_grad():
            return r(torch.as_tensor(w)[None]).numpy()

    assert np.array_equal(gl(Appearance(cavity_strength=0.0)), gl(Appearance(cavity=False)))
    strong, default = Appearance(cavity_strength=1.0, cavity_iterations=40, cavity_depth_cm=0.3), Appearance()
    assert gl(strong).sum() < gl(default).sum()  # darker folds
    assert diff(strong).sum() < diff(default).sum()
    assert np.abs(gl(Appearance(lip_shade=0.6)) - gl(default)).max() > 10  # the lips are painted darker
