"""Light for the skin tone (renderers.lighting.skin_exposure): darker skin gets more light, yet every tone keeps its
place (light > medium > tan > brown > dark, dark at most half of light) in both renderers, which agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.appearance import Appearance, SKIN_TONES
from avatar.emotion import DEFAULT_PROTOTYPES
from renderers.differentiable import DifferentiableRenderer, psnr
from renderers.gl import GLRenderer
from renderers.lighting import skin_exposure
from renderers.options import RendererOptions

pytestmark = [pytest.mark.gl]

TONES = ("light", "medium", "tan", "brown", "dark")
assert tuple(SKIN_TONES) == TONES


def test_gain_lifts_darker_skin_only() -> None:
    gains = [skin_exposure(t) for t in TONES]
    assert gains[0] == pytest.approx(1.0) and gains[1] == pytest.approx(1.0)  # lights never dimmed for light skin
    assert 1.0 < gains[2] < gains[3] < gains[4]
    assert skin_exposure((0.36, 0.24, 0.17)) == pytest.approx(gains[4])  # an sRGB triple works like its name


def _cheek_luminance(img: np.ndarray, box: np.ndarray) -> float:
    """Mean linear Rec. 709 luminance of a patch on the face's right cheek (image left), placed by the face box."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    patch = img[int(y0 + 0.62 * h):int(y0 + 0.70 * h), int(x0 + 0.26 * w):int(x0 + 0.34 * w), :3] / 255.0
    return float((patch ** 2.2 @ np.array([0.2126, 0.7152, 0.0722])).mean())


def _cheeks(renderer: str) -> list[float]:
    out = []
    neutral = np.zeros(52, np.float32)
    for tone in TONES:
        opts = RendererOptions(width=128, height=128, samples=0, appearance=Appearance(skin=tone))
        with GLRenderer(options=opts) as gl:
            box = gl.face_boxes(neutral)[0]
            if renderer == "gl":
                img = gl.render(neutral).astype(np.float64)
            else:
                with DifferentiableRenderer(options=opts) as diff:
                    img = diff(torch.from_numpy(neutral)[None])[0].permute(1, 2, 0).detach().numpy() * 255.0
        out.append(_cheek_luminance(img, box))
    return out


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("renderer", ["gl", "differentiable"])
def test_skin_tones_keep_their_order_and_distance(renderer: str) -> None:
    y = _cheeks(renderer)
    assert all(a > b for a, b in zip(y, y[1:])), f"cheek luminance not strictly light > ... > dark: {y}"
    assert y[-1] <= 0.5 * y[0], f"dark cheek {y[-1]:.3f} is more than half the light one {y[0]:.3f}"
    assert y[-1] <= 0.8 * y[-2], f"dark {y[-1]:.3f} barely darker than brown {y[-2]:.3f}"


def _render(skin: str, auto: bool) -> np.ndarray:
    opts = RendererOptions(width=96, height=96, samples=0, auto_exposure=auto, appearance=Appearance(skin=skin))
    with GLRenderer(options=opts) as r:
        return r.render(DEFAULT_PROTOTYPES["happy"].to_arkit()).astype(np.float64)


@pytest.mark.slow
def test_a_dark_face_gets_more_light_and_a_medium_or_light_one_does_not() -> None:
    dark_on, dark_off = _render("dark", True), _render("dark", False)
    face = dark_off.sum(-1) < 3 * 0.9 * 255  # not the light background
    assert dark_on[face].mean() > dark_off[face].mean() + 10
    assert np.array_equal(_render("medium", True), _render("medium", False))
    assert np.array_equal(_render("light", True), _render("light", False))


def test_the_highlight_does_not_grow_with_the_lift() -> None:
    """The specular is softened by the key's gain: a lit-up dark face's highlight (specular x key) is as bright as an
    unlifted face's, though its key takes more than the plain lift (`Lighting.lift_contrast`); the hair's highlight
    scale is the same 1 / key gain. Scaled with the key, the highlight made a lifted dark face oily and drew light lines
    between the crow's feet (tests/test_wrinkles.py)."""
    from renderers.lighting import Lighting, key_gain, light_colours, light_specular

    light = Lighting()
    gain = skin_exposure("dark")
    key = light_colours(light, gain)["key_rgb"][0] / light.key_rgb[0]
    assert key == pytest.approx(key_gain(light, gain)) and key > gain
    assert light_specular(light, gain) * key == pytest.approx(light.specular)
    assert light_specular(light, 1.0) == light.specular


def test_the_lift_goes_more_to_the_key_than_to_the_fill() -> None:
    """`Lighting.lift_contrast` (issue 19): a dark face's lift raises its key more than its fill and ambient, so the
    lifted face keeps a photographer's key-to-fill ratio (x g ** 2c higher than the rig's own), and the rim (its
    separation from the backdrop) takes the plain gain; a face with gain 1 (medium, light) is lit alike by every value."""
    from renderers.lighting import LIFT_CONTRAST, Lighting, light_colours

    light = Lighting()
    assert light.lift_contrast == LIFT_CONTRAST > 0
    g = skin_exposure("dark")
    lit = light_colours(light, g)
    key, fill = lit["key_rgb"][0] / light.key_rgb[0], lit["fill_rgb"][0] / light.fill_rgb[0]
    assert key == pytest.approx(g ** (1 + LIFT_CONTRAST)) and fill == pytest.approx(g ** (1 - LIFT_CONTRAST))
    assert lit["ambient"][0] / light.ambient[0] == pytest.approx(fill)
    assert lit["rim_rgb"][0] / light.rim_rgb[0] == pytest.approx(g)
    assert key / fill == pytest.approx(g ** (2 * LIFT_CONTRAST)) and key / fill > 2.0  # dark: key-to-fill x2.3
    flat = light_colours(Lighting(lift_contrast=0.0), g)
    assert all(v == pytest.approx(g * x) for name, vals in flat.items() for v, x in zip(vals, getattr(light, name)))
    for c in (0.0, 0.4, 1.0):
        assert light_colours(Lighting(lift_contrast=c), 1.0) == light_colours(Lighting(lift_contrast=0.0), 1.0)


@pytest.mark.slow
def test_lift_contrast_models_a_dark_face_and_leaves_medium_alone() -> None:
    """Rendered: a medium face is the same image under any `lift_contrast` (its gain is 1); a dark face under the
    default is brighter on its key-lit side than with the lift shared alike, darker in the fill's shadow on the other
    side of its nose, and its neutral cheek stays darker than a brown one's (the order test above holds too)."""
    from renderers.lighting import Lighting

    def render(skin: str, c: float | None) -> tuple[np.ndarray, np.ndarray]:
        light = Lighting() if c is None else Lighting(lift_contrast=c)
        opts = RendererOptions(width=128, height=128, samples=0, appearance=Appearance(skin=skin), lighting=light)
        neutral = np.zeros(52, np.float32)
        with GLRenderer(options=opts) as gl:
            return gl.render(neutral).astype(np.float64), gl.face_boxes(neutral)[0]

    assert np.array_equal(render("medium", None)[0], render("medium", 0.0)[0])
    (shared, box), (default, _) = render("dark", 0.0), render("dark", None)
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    y = (default[..., :3] / 255.0) ** 2.2 @ np.array([0.2126, 0.7152, 0.0722])
    y0_ = (shared[..., :3] / 255.0) ** 2.2 @ np.array([0.2126, 0.7152, 0.0722])
    rows = slice(int(y0 + 0.45 * h), int(y0 + 0.70 * h))
    # The key comes from the head's left (image right, `Lighting.key_dir` x > 0), the fill from its right.
    key_side = slice(int(x0 + 0.66 * w), int(x0 + 0.74 * w))
    fill_side = slice(int(x0 + 0.26 * w), int(x0 + 0.34 * w))
    ratio = y[rows, key_side].mean() / y[rows, fill_side].mean()
    ratio0 = y0_[rows, key_side].mean() / y0_[rows, fill_side].mean()
    assert y[rows, key_side].mean() > 1.1 * y0_[rows, key_side].mean()
    assert ratio > ratio0
    assert _cheek_luminance(default, box) < 0.8 * _cheek_luminance(render("brown", None)[0], box)


@pytest.mark.slow
def test_the_differentiable_renderer_lights_the_same() -> None:
    opts = RendererOptions(width=96, height=96, samples=0, appearance=Appearance(skin="dark"))
    w = DEFAULT_PROTOTYPES["anger"].to_arkit()
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts) as diff:
        ours = diff(torch.from_numpy(w)[None])[0].permute(1, 2, 0).detach().numpy()
        assert psnr(ours, gl.render(w) / 255.0) >= 45.0


@pytest.mark.slow
def test_the_exposure_power_is_an_option_field_not_a_module_global() -> None:
    """`RendererOptions.exposure_power` is what scripts/select_exposure.py sweeps: 0 lights every tone alike."""
    def render(**fields: object) -> np.ndarray:
        opts = RendererOptions(width=96, height=96, samples=0, appearance=Appearance(skin="dark"), **fields)
        with GLRenderer(options=opts) as r:
            return r.render(DEFAULT_PROTOTYPES["happy"].to_arkit()).astype(np.float64)

    assert np.array_equal(render(exposure_power=0.0), render(auto_exposure=False))
    from renderers.lighting import EXPOSURE_POWER

    default, lower, higher = render(), render(exposure_power=EXPOSURE_POWER / 2), render(exposure_power=EXPOSURE_POWER * 2)
    assert np.array_equal(default, render(exposure_power=EXPOSURE_POWER))
    face = render(auto_exposure=False).sum(-1) < 3 * 0.9 * 255
    assert render(auto_exposure=False)[face].mean() < lower[face].mean() < default[face].mean() < higher[face].mean()
