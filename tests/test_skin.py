"""The skin of issue 19 part 1: pores and fine lines, the highlight by region, subsurface warmth, baked ambient occlusion
and the key light's soft shadows (renderers.skin, renderers.shadows, renderers.shading), in both renderers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar.appearance import Appearance
from avatar.head import ICT_PARTS, default_head

SKIN_SWITCHES = ("skin_detail", "skin_regions", "subsurface", "ambient_occlusion", "shadows")
SMOOTH = Appearance(**{s: False for s in SKIN_SWITCHES})


def _luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of the sRGB values (0..1) of a uint8 image."""
    return (img[..., :3].astype(np.float64) / 255.0) @ np.array([0.2126, 0.7152, 0.0722])


def _disk(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(xx - centre[0], yy - centre[1]) < radius


@pytest.fixture(scope="module")
def head():
    return default_head()


# ------------------------------------------------------------------------------ the material (numpy)
def test_regions_put_oil_on_the_t_zone_roughness_on_the_cheeks_gloss_on_the_lips(head) -> None:
    from renderers.skin import skin_material

    mat = skin_material(head)
    lm = head.generic_neutral[head.landmarks68]
    v = head.generic_neutral

    def at(p: np.ndarray) -> int:
        return int(np.argmin(np.linalg.norm(v[:ICT_PARTS["face"][1]] - p, axis=1)))

    nose, forehead = at(lm[30]), at(lm[19] * [0, 1, 1] + [0, 2.5, 0])
    cheek = at(0.5 * (lm[36:42].mean(0) + lm[48]) * [1.25, 1, 1] - [0, 0, 0.6])
    lips = at(0.5 * (lm[51] + lm[62]))
    assert mat.specular[nose] > 1.2 and mat.specular[forehead] > 1.2, "the T-zone is oilier"
    assert mat.specular[cheek] < 0.8 and mat.gloss[cheek] < -0.5, "the cheeks are rougher"
    assert mat.gloss[lips] > 0.5 and mat.specular[lips] > 1.2, "the lips are glossy"
    assert mat.gloss[nose] > mat.gloss[cheek]
    # Thin skin gets subsurface warmth, the forehead none; only skin gets pores.
    assert mat.thin[at(np.array([-8.5, 1.5, -0.3]))] > 0.5, "the ear is thin"
    assert mat.thin[at(lm[31])] > 0.3, "the nose wing is thin"
    assert mat.thin[forehead] == 0.0
    a, b = ICT_PARTS["teeth"]
    assert not mat.detail[a:b].any() and not mat.thin[a:b].any() and np.all(mat.specular[a:b] == 1)
    assert mat.detail[forehead] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_baked_occlusion_darkens_hollows_and_leaves_open_skin_and_the_mouth_alone(head) -> None:
    from renderers.drawn_faces import drawn_faces
    from renderers.skin import bake_ambient_occlusion

    ao = bake_ambient_occlusion(head, faces=drawn_faces(head))
    v, lm = head.neutral, head.neutral[head.landmarks68]
    face = np.arange(ICT_PARTS["face"][1])

    def around(p: np.ndarray, r: float = 1.0) -> float:
        return float(ao[face[np.linalg.norm(v[face] - p, axis=1) < r]].mean())

    cheek, forehead = around(np.array([-4.0, 0.5, 10.0])), around(lm[19] + [0, 2, 0])
    assert forehead > 0.95 and cheek > 0.85, (forehead, cheek)
    assert around(0.5 * (lm[31] + lm[32])) < 0.6 * cheek, "the nostrils are occluded"
    assert around(lm[39]) < 0.5 * cheek, "the inner eye corner is occluded"
    assert around(lm[8] + [0, -1.0, -2.0]) < cheek, "under the chin is occluded"
    for part in ("teeth", "gums_tongue", "mouth_socket"):  # baked on a closed mouth they would be black when it opens
        a, b = ICT_PARTS[part]
        assert np.all(ao[a:b] == 1.0)


@pytest.mark.slow
def test_the_noise_tilts_the_normal_by_the_gradient_of_its_value() -> None:
    """The pores are a height field: the tilt is the value's gradient (finite differences), in torch as in GLSL."""
    import torch

    from renderers.shading import value_noise_torch

    gen = torch.Generator().manual_seed(0)
    p = torch.rand(200, 3, generator=gen, dtype=torch.float64) * 40 - 20
    value, grad = value_noise_torch(p)
    assert 0 <= float(value.min()) and float(value.max()) < 1
    eps = 1e-5
    for axis in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[axis] = eps
        fd = (value_noise_torch(p + step)[0] - value_noise_torch(p - step)[0]) / (2 * eps)
        assert torch.allclose(grad[:, axis], fd, atol=1e-6)
    # Negative lattice coordinates hash like positive ones (32-bit wrap), not to a constant.
    assert float(value_noise_torch(-p)[0].std()) > 0.1


# ------------------------------------------------------------------------------ what a render shows (GL)
def _render(appearance: Appearance, camera: object = "front", size: int = 256, weights: np.ndarray | None = None,
            samples: int = 4) -> np.ndarray:
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    opts = RendererOptions(width=size, height=size, camera=camera, appearance=appearance, samples=samples)
    with GLRenderer(options=opts) as r:
        return r.render(np.zeros(52, np.float32) if weights is None else weights)


@pytest.mark.gl
@pytest.mark.slow
def test_the_nose_casts_a_shadow_on_the_cheek_away_from_the_key_and_the_lit_side_keeps_its_light(head) -> None:
    from renderers.cameras import resolve_camera

    size, cam = 256, resolve_camera(30.0)  # the key light comes from the camera's side: the nose shades the far cheek
    lm = head.neutral[head.landmarks68]
    on = _luminance(_render(Appearance(shadows=True), cam, size))
    off = _luminance(_render(Appearance(shadows=False), cam, size))
    darker = off - on
    assert darker.min() >= -1e-12, "a shadow never brightens"
    far_cheek = _disk(on.shape, cam.project((lm[31] + [-1.0, -0.3, -0.4])[None], size, size)[0], 4)
    lit_cheek = _disk(on.shape, cam.project((lm[35] + [1.0, -0.3, -0.4])[None], size, size)[0], 4)
    forehead = _disk(on.shape, cam.project((lm[19] + [1.5, 2.0, 0.0])[None], size, size)[0], 6)
    neck = _disk(on.shape, cam.project((lm[8] + [0.0, -2.5, -2.5])[None], size, size)[0], 4)
    assert darker[far_cheek].mean() > 0.05, f"nose shadow on the far cheek: {darker[far_cheek].mean():.4f}"
    assert darker[neck].mean() > 0.005, "the chin shades the neck"
    assert np.abs(darker[lit_cheek]).max() < 1 / 255 and np.abs(darker[forehead]).max() < 1 / 255, "the lit side is unchanged"


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("skin", ["medium", "dark"])
def test_pores_vary_a_close_up_at_high_frequency_and_keep_the_mean(head, skin: str) -> None:
    """On a close-up of the cheek, pores add high-frequency luminance (dark skin reads its pores and highlight too)
    while the face's mean luminance moves by under 2 %."""
    from renderers.cameras import Camera

    lm = head.neutral[head.landmarks68]
    cheek = 0.5 * (lm[36:42].mean(0) + lm[48]) * [1.1, 1, 1]
    close = Camera(eye=tuple(cheek + [4.0, 4.0, 18.0]), target=tuple(cheek), fov_y=14.0)
    on = _luminance(_render(Appearance(skin=skin, skin_detail=True), close, 192))
    off = _luminance(_render(Appearance(skin=skin, skin_detail=False), close, 192))
    skin_px = np.abs(np.diff(off, 2, axis=0))[:, 1:-1] < 0.02  # smooth skin without pores: away from edges

    def hf(img: np.ndarray) -> float:
        lap = img[1:-1, 1:-1] * 4 - img[:-2, 1:-1] - img[2:, 1:-1] - img[1:-1, :-2] - img[1:-1, 2:]
        return float(np.abs(lap)[skin_px].mean())

    assert skin_px.mean() > 0.5
    assert hf(on) > 2 * hf(off), f"{skin}: high-frequency energy {hf(on):.5f} vs {hf(off):.5f} without pores"
    face_on = _luminance(_render(Appearance(skin=skin, skin_detail=True)))
    face_off = _luminance(_render(Appearance(skin=skin, skin_detail=False)))
    covered = np.abs(face_off - face_off[0, 0]) > 0.02
    assert abs(face_on[covered].mean() / face_off[covered].mean() - 1) < 0.02


@pytest.mark.gl
@pytest.mark.slow
def test_thin_skin_glows_warmer_and_only_there(head) -> None:
    """Subsurface warmth reddens the ear (past the terminator) and leaves the forehead's colour alone."""
    from renderers.cameras import resolve_camera

    size, cam = 256, resolve_camera(60.0)
    on = _render(Appearance(subsurface=True), cam, size).astype(float)
    off = _render(Appearance(subsurface=False), cam, size).astype(float)
    delta = on - off
    assert np.all(delta >= -1), "scattered light only adds"
    ear = _disk(on.shape[:2], cam.project(np.array([[8.6, 1.5, -0.6]]), size, size)[0], 6)
    assert delta[ear].sum() > 0, "the ear gains light"
    assert delta[ear][:, 0].mean() > 2 * delta[ear][:, 2].mean(), "the light it gains is red-shifted"
    lm = head.neutral[head.landmarks68]
    forehead = _disk(on.shape[:2], cam.project((lm[24] + [0, 2.5, 0])[None], size, size)[0], 6)
    assert np.abs(delta[forehead]).max() <= 1


@pytest.mark.gl
@pytest.mark.slow
def test_every_skin_switch_off_is_the_smooth_render_and_each_changes_the_face() -> None:
    base = _render(SMOOTH, "three-quarter", 128).astype(int)
    for name in SKIN_SWITCHES:
        one = _render(replace(SMOOTH, **{name: True}), "three-quarter", 128).astype(int)
        assert np.abs(one - base).max() > 3, f"{name} changes nothing"
    # Strength 0 is the same as off (the tuned values mean what they say).
    zero = replace(SMOOTH, skin_detail=True, skin_detail_strength=0.0, shadows=True, shadow_strength=0.0,
                   ambient_occlusion=True, ambient_occlusion_strength=0.0)
    assert np.abs(_render(zero, "three-quarter", 128).astype(int) - base).max() <= 1


# ------------------------------------------------------------------------------ both renderers alike
@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("view", ["front", "three-quarter"])
def test_the_differentiable_renderer_shades_the_skin_as_gl_does(view: str) -> None:
    """Same shadow map (its own rasterizer from the light), same noise, same material: quantisation-level agreement."""
    import torch

    import avatar
    from renderers.differentiable import DifferentiableRenderer, psnr
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    opts = RendererOptions(width=128, height=128, samples=0, camera=view, appearance=Appearance(skin="dark", shadows=True))
    w = np.asarray(avatar.pose(emotion="happy"), np.float32).reshape(52)
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts) as diff:
        ours = diff(torch.from_numpy(w))[0].permute(1, 2, 0).detach().numpy()
        theirs = gl.render(w).astype(np.float64) / 255
        smooth = replace(opts, appearance=replace(SMOOTH, skin="dark"))
        with GLRenderer(options=smooth) as plain:
            assert np.abs(plain.render(w).astype(int) - gl.render(w).astype(int)).max() > 10  # the skin is on
    assert psnr(ours, theirs) >= 45.0, f"{view}: {psnr(ours, theirs):.1f} dB"


@pytest.mark.gl
@pytest.mark.slow
def test_gradients_reach_the_weights_through_the_skin_terms() -> None:
    import torch

    from renderers.differentiable import DifferentiableRenderer
    from renderers.options import RendererOptions

    with DifferentiableRenderer(options=RendererOptions(width=64, height=64, samples=0)) as diff:
        w = torch.zeros(1, 52, requires_grad=True)
        diff(w).mean().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and float(w.grad.abs().sum()) > 0
