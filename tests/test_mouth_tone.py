"""The highlight shoulder of the mouth and the whites of the eyes (issue 19): teeth and sclera roll off below white and
the tongue keeps its hue on every skin tone, in both renderers, and nothing else changes (`renderers.shading.mouth_tone_np`,
`highlight_white`; docs/appearance.md)."""

from __future__ import annotations

import numpy as np
import pytest

import avatar
from avatar.appearance import ICT_SCLERA_IRIS, Appearance
from avatar.head import ICT_PARTS, default_head
from renderers.shading import (EYE_WHITE, GAMMA, MOUTH_KNEE, MOUTH_TONE_PARTS, MOUTH_WHITE, TONE, highlight_white,
                               mouth_tone_np)

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


def test_only_the_inside_of_the_mouth_and_the_whites_of_the_eyes_get_the_shoulder() -> None:
    """The mouth's parts and the sclera spheres; not the skin, the lips, the lids, nor the iris spheres (whose catch
    light keeps the skin's curve, the brightest point of the eye). No triangle mixes a sclera vertex with another part's,
    so GL's interpolated attribute and torch's per-face one agree."""
    head = default_head()
    white = highlight_white(head)
    inside = np.zeros(head.num_vertices, bool)
    for name in MOUTH_TONE_PARTS:
        a, b = ICT_PARTS[name]
        inside[a:b] = True
    sclera = np.zeros(head.num_vertices, bool)
    for (a, b), _ in ICT_SCLERA_IRIS:
        sclera[a:b] = True
    assert np.all(white[inside] == np.float32(MOUTH_WHITE ** GAMMA)) and np.all(white[sclera] == np.float32(EYE_WHITE ** GAMMA))
    assert not white[~(inside | sclera)].any()
    for (_, _), (a, b) in ICT_SCLERA_IRIS:
        assert not white[a:b].any()  # the iris spheres: iris, pupil, catch light
    assert not (inside | sclera)[slice(*ICT_PARTS["face"])].any()
    in_sclera = sclera[head.faces]
    assert not (in_sclera.any(1) & ~in_sclera.all(1)).any()


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


def _sclera_vertices(head) -> np.ndarray:
    out = np.zeros(head.num_vertices, bool)
    for (a, b), _ in ICT_SCLERA_IRIS:
        out[a:b] = True
    return out


def _render_with_parts(skin: str, weights: np.ndarray, shoulder: bool = True, size: int = 256,
                       eye_shoulder: bool = True, look: dict | None = None,
                       view: str | float = "front") -> tuple[np.ndarray, np.ndarray]:
    """Return (the GL frame, (H, W) each pixel's triangle's first vertex or -1) of the default look on `skin`, front;
    `shoulder` False draws the mouth with the skin's curve (its white attribute zeroed), as before the shoulder;
    `eye_shoulder` False the same for the whites of the eyes."""
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions
    from renderers.visibility import GLVisibilityRasterizer

    head = default_head()
    with GLRenderer(head, RendererOptions(width=size, height=size, camera=view,
                                          appearance=Appearance(skin=skin, **(look or {})))) as r:
        white = highlight_white(head)
        if not shoulder:
            white[~_sclera_vertices(head)] = 0
        if not eye_shoulder:
            white[_sclera_vertices(head)] = 0
        r.vbo_white.write(r._laid_out(white).tobytes())
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
    # before the shoulder, with the tongue lifted in full (the teeth shade withholds most of its lift since issue 19 part 0)
    old, _ = _render_with_parts("dark", w, shoulder=False, look={"teeth_shade": False})
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
    near = _near(mouth)
    changed = np.abs(img.astype(int) - old.astype(int)).max(-1) > 0
    assert changed[mouth].mean() > 0.5 and not changed[~near].any()


def _near(mask: np.ndarray) -> np.ndarray:
    """The mask and its 8-neighbours (the supersampled edge mixes a part with what is next to it)."""
    out = mask.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= np.roll(mask, (dy, dx), axis=(0, 1))
    return out


@pytest.mark.gl
@pytest.mark.slow
def test_dark_skins_surprised_eyes_have_shaded_off_white_whites_and_the_skin_is_untouched() -> None:
    """Dark skin, surprise 1.0 (the widest whites), front, 256 px: the exposure's lift (x2.8) clipped most of the
    sclera to flat white with the skin's curve; with the shoulder under 2 % of the eyeballs' pixels have a channel at
    254 or more (the catch lights, which keep the skin's curve and stay the brightest point), none of the sclera's; the
    whites stay clearly brighter than the cheek, off-white (blue below red) and shaded (a spread of levels, not one),
    and no pixel changes off the eyes."""
    head = default_head()
    w = avatar.pose("surprise", 1.0)
    img, first = _render_with_parts("dark", w)
    old, _ = _render_with_parts("dark", w, eye_shoulder=False)
    ball = _part(first, "eyeball_left", "eyeball_right")
    sclera = (first >= 0) & _sclera_vertices(head)[np.maximum(first, 0)]
    iris = ball & ~sclera
    cheek = (first >= 0) & _cheek_vertices(head)[np.maximum(first, 0)]
    assert sclera.sum() > 200 and iris.sum() > 100
    clipped = (img[ball] >= 254).any(1).mean()
    assert clipped < 0.02, f"{clipped:.1%} of the eyeballs clipped"
    assert not (img[sclera] >= 254).any()
    assert (old[sclera] >= 254).any(1).mean() > 0.3  # the skin's curve: flat white
    y = img.astype(np.float64) @ LUMA
    assert np.median(y[sclera]) > 1.6 * np.median(y[cheek])  # still the whites of the eyes on a dark face
    rgb = img[sclera].astype(np.float64)
    assert np.median(rgb[:, 2]) < np.median(rgb[:, 0]) - 5  # off-white, as painted
    assert np.subtract(*np.percentile(y[sclera], [90, 10])) > 20  # shaded, not a flat disc
    assert img[iris].min(1).max() >= 250  # a catch light is still the key light's white reflection
    changed = np.abs(img.astype(int) - old.astype(int)).max(-1) > 0
    assert changed[sclera].mean() > 0.5 and not changed[~_near(ball)].any()


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("skin", ["medium", "light"])
def test_medium_and_light_eyes_are_nearly_as_before(skin: str) -> None:
    """On the tones the exposure does not lift, the whites sit mostly below the shoulder's knee: at surprise (the widest,
    brightest whites) the sclera's median luma moves by under 3 levels and its mean by under 5 (measured 1.6-2.1 and
    3.7; the brightest, over the knee, roll off by up to ~12), and their shading stays (the same pattern of levels)."""
    head = default_head()
    w = avatar.pose("surprise", 1.0)
    img, first = _render_with_parts(skin, w)
    old, _ = _render_with_parts(skin, w, eye_shoulder=False)
    sclera = (first >= 0) & _sclera_vertices(head)[np.maximum(first, 0)]
    y, y_old = img.astype(np.float64) @ LUMA, old.astype(np.float64) @ LUMA
    assert abs(np.median(y[sclera]) - np.median(y_old[sclera])) < 3
    assert np.abs(y[sclera] - y_old[sclera]).mean() < 5
    assert np.corrcoef(y[sclera], y_old[sclera])[0, 1] > 0.95


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


def _both_renderers(look: Appearance, view: str | float, poses: list[tuple[str, float]], size: int = 192):  # noqa: ANN202
    """Return (torch renderer's frames, GL's frames, per pixel the first vertex of the GL triangle seen (-1: none), the
    head): both renderers at `view`, no anti-aliasing, float RGB in [0, 1]."""
    torch = pytest.importorskip("torch")
    from renderers.differentiable import DifferentiableRenderer
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions
    from renderers.visibility import GLVisibilityRasterizer

    opts = RendererOptions(width=size, height=size, samples=0, camera=view, appearance=look)
    batch = np.stack([avatar.pose(e, i) for e, i in poses]).astype(np.float32)
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts, device="cpu") as diff:
        with torch.no_grad():
            ours = diff(torch.from_numpy(batch)).permute(0, 2, 3, 1).numpy()
        theirs = [gl.render(w).astype(np.float64) / 255 for w in batch]
        with GLVisibilityRasterizer(gl._faces, gl.head.num_vertices, size, size, gl.camera) as vis:
            tri = [vis.rasterize(gl._poser.pose(w).copy()) for w in batch]
        firsts = [np.where(t >= 0, gl._faces[np.maximum(t, 0), 0], -1) for t in tri]
        return ours, theirs, firsts, gl.head


@pytest.mark.gl
@pytest.mark.slow
def test_both_renderers_draw_the_shoulder_alike() -> None:
    """Dark skin, surprise 1.0 (the widest tongue and whites) and happy 0.8, no anti-aliasing: the differentiable
    renderer's torch shoulder matches GL's GLSL to 8-bit rounding, inside the mouth and on the eyes as everywhere."""
    from renderers.differentiable import psnr

    ours, theirs, firsts, head = _both_renderers(Appearance(skin="dark"), "front", [("surprise", 1.0), ("happy", 0.8)])
    for i, first in enumerate(firsts):
        mouth = _part(first, *MOUTH_TONE_PARTS)
        assert mouth.sum() > 100 and (ours[i][mouth].max(1) > 0.75).mean() > 0.1  # bright teeth: the shoulder at work
        assert psnr(ours[i], theirs[i]) >= 50.0
        assert np.abs(ours[i][mouth] - theirs[i][mouth]).max() <= 2.5 / 255
        sclera = (first >= 0) & _sclera_vertices(head)[np.maximum(first, 0)]
        assert sclera.sum() > 40 and (ours[i][sclera].max(1) > 0.8).mean() > 0.3  # over the knee: the shoulder at work
        assert np.abs(ours[i][sclera] - theirs[i][sclera]).max() <= 2.5 / 255


# ------------------------------------------------------------------------------- the tongue in the mouth's shade
POSES = (("happy", 0.8), ("surprise", 1.0), ("anger", 1.0), ("fear", 1.0))


def _tongue_and_cheek(skin: str, view: str | float, size: int = 256) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Return, per pose of `POSES`, (the gums' and tongue's pixel lumas, their rest depth z, the cheek's median luma)
    of the default look on `skin` seen from `view` (GL)."""
    head = default_head()
    cheek_v = _cheek_vertices(head)
    out = []
    for e, i in POSES:
        img, first = _render_with_parts(skin, avatar.pose(e, i), size=size, view=view)
        y = img.astype(np.float64) @ LUMA
        tongue = _part(first, "gums_tongue")
        cheek = (first >= 0) & cheek_v[np.maximum(first, 0)]
        out.append((y[tongue], head.generic_neutral[first[tongue], 2], float(np.median(y[cheek]))))
    return out


@pytest.mark.gl
@pytest.mark.slow
def test_the_tongue_is_no_brighter_than_the_cheek_on_any_tone() -> None:
    """Issue 19 part 0: the face's exposure lift (x2.8 on dark skin) lifted the tongue, whose albedo is no darker on a
    dark face, so on dark skin it rendered brighter than the cheek (mean luma 1.25x the cheek's median over happy 0.8,
    surprise, anger and fear 1.0, front and yaw 30; up to 1.37x). With the tongue in the mouth's shade and most of its
    lift withheld, on every tone and in each of those renders its mean luma is at most the cheek's (measured: up to
    0.98x on dark skin at 384 px), and the tones' cheeks keep their order."""
    worst, cheeks = {}, {}
    for skin in ("light", "medium", "tan", "brown", "dark"):
        for view in ("front", 30.0):
            for y, _, cheek in _tongue_and_cheek(skin, view):
                assert len(y) > 30
                worst[skin] = max(worst.get(skin, 0.0), float(y.mean()) / cheek)
                cheeks.setdefault(skin, []).append(cheek)
    assert max(worst.values()) <= 1.0, worst
    order = [np.median(c) for c in cheeks.values()]
    assert all(a > b for a, b in zip(order, order[1:])), cheeks


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("skin", ["medium", "dark"])
def test_the_tongue_is_a_shaded_form_darker_towards_the_throat(skin: str) -> None:
    """Surprise 1.0 (the widest tongue), front, 384 px: the tongue was lit as evenly as a flat disc (luma p90 - p10 3
    levels on dark skin, 14 on medium; its back third by rest depth as bright as its front third). Now it is darker
    towards the throat and under the upper teeth (its back third under 0.85x its front third; measured 0.62-0.65) and
    shaded (p90 - p10 over 25 levels), with its brightest pixels (the soft sheen on its top) in its front half."""
    y, depth, _ = _tongue_and_cheek(skin, "front", size=384)[1]
    front, back = depth >= np.percentile(depth, 67), depth <= np.percentile(depth, 33)
    assert y[back].mean() < 0.85 * y[front].mean(), (y[back].mean(), y[front].mean())
    assert np.subtract(*np.percentile(y, [90, 10])) > 25
    top = y >= np.percentile(y, 99)
    assert (depth[top] >= np.median(depth)).mean() > 0.8


@pytest.mark.gl
@pytest.mark.slow
@pytest.mark.parametrize("view", ["front", 30.0])
def test_the_tongues_shade_changes_no_pixel_off_the_mouth(view: str | float) -> None:
    """Dark skin, surprise 1.0 and happy 0.8: the teeth shade (the tongue's shade and withheld lift with it) changes the
    pixels inside the lips and at most their supersampled edge; every cheek pixel is the same, bit for bit."""
    head = default_head()
    cheek_v = _cheek_vertices(head)
    for e, i in (("surprise", 1.0), ("happy", 0.8)):
        img, first = _render_with_parts("dark", avatar.pose(e, i), view=view)
        old, _ = _render_with_parts("dark", avatar.pose(e, i), view=view, look={"teeth_shade": False})
        tongue = _part(first, "gums_tongue")
        changed = np.abs(img.astype(int) - old.astype(int)).max(-1) > 0
        cheek = (first >= 0) & cheek_v[np.maximum(first, 0)]
        assert cheek.sum() > 20 and changed[tongue].mean() > 0.5
        assert not changed[cheek].any() and not changed[~_near(_part(first, *MOUTH_TONE_PARTS))].any()


@pytest.mark.gl
@pytest.mark.slow
def test_both_renderers_shade_the_tongue_alike_at_three_quarter() -> None:
    """Dark skin, yaw 30, anger and surprise 1.0, no anti-aliasing: the differentiable renderer's tongue and teeth shade,
    withheld lift and sheen match GL's to 8-bit rounding (measured 0.6 levels at most; the same formula in torch,
    `renderers.teeth`). One pixel of the lining at surprise differs by 16 levels in both trees, before this change too
    (a depth tie deep in the mouth), so the lining is left out of the bound."""
    from renderers.differentiable import psnr

    ours, theirs, firsts, _ = _both_renderers(Appearance(skin="dark"), 30.0, [("anger", 1.0), ("surprise", 1.0)])
    for i, first in enumerate(firsts):
        tongue = _part(first, "gums_tongue")
        assert tongue.sum() > 100 and np.ptp(ours[i][tongue].mean(1)) > 0.1  # shaded, not flat
        assert psnr(ours[i], theirs[i]) >= 50.0
        shaded = _part(first, "teeth", "gums_tongue")
        assert np.abs(ours[i][shaded] - theirs[i][shaded]).max() <= 2.5 / 255
