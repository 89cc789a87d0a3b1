"""The mouth's highlight shoulder (issue 19): teeth roll off below white and the tongue keeps its hue on every skin tone,
in both renderers, and nothing outside the lips changes (`renderers.shading.mouth_tone_np`, docs/appearance.md)."""

from __future__ import annotations

import numpy as np
import pytest

import avatar
from avatar.appearance import Appearance
from avatar.head import ICT_PARTS, default_head
from renderers.shading import GAMMA, MOUTH_KNEE, MOUTH_TONE_PARTS, MOUTH_WHITE, TONE, mouth_tone_np, mouth_white

LUMA = np.array([0.2126, 0.7152, 0.0722])


def test_the_shoulder_matches_the_skin_curve_below_its_knee_and_never_reaches_white() -> None:
    white = MOUTH_WHITE ** GAMMA
    m = np.linspace(1e-3, 40.0, 20001)
    grey = mouth_tone_np(np.repeat(m[:, None], 3, 1), white)[:, 0]
    below = m / (1 + TONE * m) <= MOUTH_KNEE * white
    assert below.sum() > 100 and np.allclose(grey[below], (m / (1 + TONE * m))[below], rtol=1e-12)  # midtones as the skin's
    assert np.all(np.diff(grey) > 0) and grey.max() < white  # rolls on, never clips: 40x over the knee stays below white
    slope = np.diff(grey) / np.diff(m)
    knee = np.argmax(~below)
    assert slope[knee] == pytest.approx(slope[knee - 2], rel=0.01)  # no kink where the shoulder starts
    assert grey[-1] > white * 0.97  # the headroom is used: a highlight far over still reads brighter than the teeth


def test_the_shoulder_keeps_a_lifted_tongues_hue_where_the_skin_curve_paled_it() -> None:
    """The tongue's albedo under dark skin's x2.8 lift: the skin's curve per channel clipped its red while its green
    rose on, paling it to salmon; the shoulder scales every channel alike, so its red stays ~2x its green in sRGB."""
    tongue = np.array([0.70, 0.33, 0.33]) ** GAMMA * 2.8 * 1.05  # lit by the key and the ambient, times the lift
    old = np.clip(tongue / (1 + TONE * tongue), 0, 1) ** (1 / GAMMA)
    new = mouth_tone_np(tongue, MOUTH_WHITE ** GAMMA) ** (1 / GAMMA)
    assert old[0] >= 1.0 and old[0] / old[1] < 1.9  # before: clipped red, paled
    assert new[0] < MOUTH_WHITE and new[0] / new[1] == pytest.approx(0.70 / 0.33, rel=1e-6)


def test_only_the_inside_of_the_mouth_gets_the_shoulder() -> None:
    head = default_head()
    white = mouth_white(head)
    inside = np.zeros(head.num_vertices, bool)
    for name in MOUTH_TONE_PARTS:
        a, b = ICT_PARTS[name]
        inside[a:b] = True
    assert np.all(white[inside] == np.float32(MOUTH_WHITE ** GAMMA)) and not white[~inside].any()
    assert not inside[slice(*ICT_PARTS["face"])].any() and not inside[slice(*ICT_PARTS["eyeball_left"])].any()


# ------------------------------------------------------------------------------- rendered (GL, torch)
def _cheek_vertices(head) -> np.ndarray:
    """(V,) bool: face vertices within 1.5 cm of either cheek's middle (nose wing to jaw contour), on the generic neutral."""
    rest = head.generic_neutral
    lm = rest[np.asarray(head.landmarks68)]
    a, b = ICT_PARTS["face"]
    near = np.zeros(len(rest), bool)
    for c in ((lm[2] + lm[31]) / 2, (lm[14] + lm[35]) / 2):
        near[a:b] |= np.linalg.norm(rest[a:b] - c, axis=1) < 1.5
    return near


def _render_with_parts(skin: str, weights: np.ndarray, shoulder: bool = True, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Return (the GL frame, (H, W) each pixel's triangle's first vertex or -1) of the default look on `skin`, front;
    `shoulder` False draws the mouth with the skin's curve (its white attribute zeroed), as before the shoulder."""
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions
    from renderers.visibility import GLVisibilityRasterizer

    with GLRenderer(default_head(), RendererOptions(width=size, height=size, appearance=Appearance(skin=skin))) as r:
        if not shoulder:
            r.vbo_white.write(np.zeros(r.vbo_white.size // 4, np.float32).tobytes())
        img = r.render(weights)
        verts = r._poser.pose(weights).copy()
        with GLVisibilityRasterizer(r._faces, len(verts), size, size, r.camera) as vis:
            tri = vis.rasterize(verts)
        first = np.where(tri >= 0, r._faces[np.maximum(tri, 0), 0], -1)
    return img, first


def _part(first: np.ndarray, *names: str) -> np.ndarray:
    return np.any([(first >= ICT_PARTS[n][0]) & (first < ICT_PARTS[n][1]) for n in names], 0)


def _saturation(rgb: np.ndarray) -> float:
    rgb = np.asarray(rgb, np.float64)
    return float(np.median(1 - rgb.min(1) / np.maximum(rgb.max(1), 1)))


@pytest.mark.gl
@pytest.mark.slow
def test_dark_skins_smile_has_off_white_teeth_and_a_red_tongue_and_the_skin_is_untouched() -> None:
    """Dark skin, happy 0.8, front, 256 px: under 1 % of the teeth's pixels have a channel at 254 or more (82 % with the
    skin's curve), the teeth stay off-white (blue below red), the tongue's red stays about twice its green and as
    saturated as on a medium face (the skin's curve paled it), and the shoulder changes no pixel off the mouth."""
    w = avatar.pose("happy", 0.8)
    img, first = _render_with_parts("dark", w)
    old, _ = _render_with_parts("dark", w, shoulder=False)
    medium, first_medium = _render_with_parts("medium", w)
    teeth, tongue = _part(first, "teeth"), _part(first, "gums_tongue")
    assert teeth.sum() > 150 and tongue.sum() > 50
    clipped = (img[teeth] >= 254).any(1).mean()
    assert clipped < 0.01, f"{clipped:.1%} of the teeth clipped"
    assert (old[teeth] >= 254).any(1).mean() > 0.3  # the skin's curve: most of them flat white
    rgb = img[teeth].astype(np.float64)
    assert np.median(rgb[:, 2]) < np.median(rgb[:, 0]) - 10  # off-white, not grey or blue
    red = img[tongue].astype(np.float64).mean(0)
    assert red[0] > 1.9 * red[1], red
    assert _saturation(img[tongue]) > 0.95 * _saturation(medium[_part(first_medium, "gums_tongue")])
    assert _saturation(old[tongue]) < 0.9 * _saturation(medium[_part(first_medium, "gums_tongue")])  # the salmon before
    # Nothing outside the lips moves: the changed pixels are the mouth's (and at most its supersampled edge).
    mouth = _part(first, *MOUTH_TONE_PARTS)
    near = mouth.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= np.roll(mouth, (dy, dx), axis=(0, 1))
    changed = np.abs(img.astype(int) - old.astype(int)).max(-1) > 0
    assert changed[mouth].mean() > 0.5 and not changed[~near].any()


@pytest.mark.gl
@pytest.mark.slow
def test_skin_tones_keep_their_order_with_the_mouth_open() -> None:
    """Happy 0.8, front: the cheek's median luma falls light > medium > tan > brown > dark, dark at most half of light
    (in linear light), and the teeth's median luma is above the cheek's on every tone without clipping."""
    head = default_head()
    cheek_v = _cheek_vertices(head)
    w = avatar.pose("happy", 0.8)
    cheeks = {}
    for skin in ("light", "medium", "tan", "brown", "dark"):
        img, first = _render_with_parts(skin, w)
        cheek = (first >= 0) & cheek_v[np.maximum(first, 0)]
        teeth = _part(first, "teeth")
        y = img.astype(np.float64) @ LUMA
        cheeks[skin] = float(np.median(y[cheek]))
        assert (img[teeth] >= 254).any(1).mean() < 0.01, skin
        assert np.median(y[teeth]) > 0.85 * cheeks[skin], skin  # teeth read as teeth, not grey
    order = list(cheeks.values())
    assert all(a > b for a, b in zip(order, order[1:])), cheeks
    assert (cheeks["dark"] / 255) ** GAMMA <= 0.5 * (cheeks["light"] / 255) ** GAMMA, cheeks


@pytest.mark.gl
@pytest.mark.slow
def test_both_renderers_draw_the_mouths_shoulder_alike() -> None:
    """Dark skin, surprise 1.0 (the widest tongue) and happy 0.8, no anti-aliasing: the differentiable renderer's torch
    shoulder matches GL's GLSL to 8-bit rounding, inside the mouth as everywhere."""
    torch = pytest.importorskip("torch")
    from renderers.differentiable import DifferentiableRenderer, psnr
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    opts = RendererOptions(width=192, height=192, samples=0, appearance=Appearance(skin="dark"))
    batch = np.stack([avatar.pose("surprise", 1.0), avatar.pose("happy", 0.8)]).astype(np.float32)
    from renderers.visibility import GLVisibilityRasterizer

    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts, device="cpu") as diff:
        with torch.no_grad():
            ours = diff(torch.from_numpy(batch)).permute(0, 2, 3, 1).numpy()
        theirs = [gl.render(w).astype(np.float64) / 255 for w in batch]
        with GLVisibilityRasterizer(gl._faces, gl.head.num_vertices, 192, 192, gl.camera) as vis:
            tri = [vis.rasterize(gl._poser.pose(w).copy()) for w in batch]
    for i in range(len(batch)):
        mouth = _part(np.where(tri[i] >= 0, gl._faces[np.maximum(tri[i], 0), 0], -1), *MOUTH_TONE_PARTS)
        assert mouth.sum() > 100 and (ours[i][mouth].max(1) > 0.75).mean() > 0.1  # bright teeth: the shoulder at work
        assert psnr(ours[i], theirs[i]) >= 50.0
        assert np.abs(ours[i][mouth] - theirs[i][mouth]).max() <= 2.5 / 255
