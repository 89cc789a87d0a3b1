"""Settings of both renderers: `RendererOptions` and the anti-aliasing modes it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avatar.appearance import Appearance
from avatar.constants import DEFAULT_BACKGROUND
from renderers.cameras import Camera
from renderers.lighting import EXPOSURE_POWER, Lighting, skin_exposure

ANTIALIAS_MODES = ("auto", "msaa", "supersample")


@dataclass(frozen=True)
class RendererOptions:
    """Settings of a GLRenderer: image size, camera, background (None = transparent RGBA), anti-aliasing.

    samples: anti-aliasing samples per pixel (0: none). antialias: how they are taken: "msaa" (GL
    multisampling), "supersample" (render round(sqrt(samples)) times larger per side and box-filter down, as
    the differentiable renderer does; 4 -> 2x2) or "auto": supersample on a CPU rasterizer (llvmpipe, where it
    is cheaper than MSAA and closer to a 16x reference, docs/performance.md), MSAA on a GPU.
    auto_exposure: lift the lights by g = `renderers.lighting.skin_exposure(appearance.skin, exposure_power)` (the key
    by g ** (1 + `Lighting.lift_contrast`), the fill and ambient by g ** (1 - it), the rim by g), as a camera
    exposes for the face (1 for the medium tone); False lights every skin tone alike.
    exposure_power: how fully auto-exposure exposes for the skin (0: not at all, 1: to the medium tone's level);
    default `renderers.lighting.EXPOSURE_POWER`, chosen by scripts/select_exposure.py.
    gpu_pose: blend the shapes, normals, wrinkle amplitude and cornea normals in compute shaders (a frame
    uploads its weights, not its mesh); None: where GL 4.3 compute exists and the rasterizer is a GPU.
    shadow_map_size: texels a side of the key light's shadow map (`Appearance.shadows`): 1024 (default) gives ~0.4 mm
        texels over the ICT head; 512 halves the extra depth pass's cost on a CPU rasterizer with a coarser edge.
    backface_culling: skip triangles facing away from the camera (half the head; on llvmpipe ~1.5-2x faster
    frames). None: on for the ICT layout, whose surfaces are consistently wound, except its eyelash cards (the
    images are unchanged, `renderers.drawn_faces.two_sided_faces`), off for other heads; True: cull every triangle
    (a head you know is wound consistently); False: draw both sides of everything.
    """

    width: int = 512
    height: int = 512
    camera: Camera | str = "front"
    background: tuple[float, float, float] | None = DEFAULT_BACKGROUND
    samples: int = 4
    appearance: Appearance = field(default_factory=Appearance)
    lighting: Lighting = field(default_factory=Lighting)
    backend: str | None = "egl"
    antialias: str = "auto"
    auto_exposure: bool = True
    exposure_power: float = EXPOSURE_POWER
    gpu_pose: bool | None = None
    backface_culling: bool | None = None
    shadow_map_size: int = 1024


def renderer_exposure(options: RendererOptions, appearance: Appearance | None = None) -> float:
    """Return the gain on every light of a renderer with these options: auto-exposure for the skin of `appearance`
    (default: the options'), or 1 with `auto_exposure=False`. Both renderers use this."""
    return skin_exposure((appearance or options.appearance).skin, options.exposure_power) if options.auto_exposure else 1.0


UNLIFTED_PARTS: dict[str, dict[str, float]] = {
    "mouth_interior": {"teeth": 0.7, "gums_tongue": 1.0, "mouth_socket": 1.0},
    "eye_detail": {"eyeball_left": 0.5, "eyeball_right": 0.5},
    "teeth_shade": {"gums_tongue": 0.8},
}
"""Per `Appearance` switch, the ICT parts it keeps out of the auto-exposure's lift and how much of the gain (as a power)
each is kept out of (`renderer_albedo`): teeth get gain ** 0.3 (dark skin: x1.4 instead of x2.8), the eyeballs gain **
0.5, the mouth's soft inside none of it. Set by the look: with the full lift (before issue 19) the teeth and the whites
of the eyes clipped to flat, glowing white on dark skin and the tongue glowed salmon pink; with none, dark skin's teeth
were as dim as a medium face's and the eyes lost their whites; a share of 0.5 still clipped 17 % of a smile's teeth.
`teeth_shade` (on by default) keeps the teeth's full lift: with the mouth's inside withheld from it the held-out judge
read disgust on dark skin worse (0.50 -> 0.40 and 0.45 on two identity sets, docs/legibility.md), the shade alone did
not; withholding it from the gums, tongue and lining alone, with the mouth's highlight shoulder, cost disgust on dark
skin again (0.50 -> 0.45). It withholds gain ** 0.8 from the gums and tongue (issue 19 part 0: dark x1.23 instead of
x2.8; their albedo is no darker on a dark face, and lifted in full the tongue rendered brighter than the cheek, 1.25x
its luma on average), with the tongue's shading form (`renderers.teeth`, `MOUTH_KEY_SHADOW`); the held-out judge's
reading of it is in docs/legibility.md. The shoulder (`renderers.shading.MOUTH_WHITE`) is what keeps the lifted teeth
off white, and the same shoulder (`EYE_WHITE`) the whites of the eyes, lifted in full in the default look (`eye_detail`
off)."""


def renderer_albedo(head: Any, options: RendererOptions, appearance: Appearance | None = None) -> np.ndarray:
    """Return the (V, 3) float32 sRGB albedo a renderer with these options draws `head` with: `paint_head`, with the
    inside of the mouth (`Appearance.mouth_interior`) and the eyeballs (`Appearance.eye_detail`) divided by
    gain ** share (`UNLIFTED_PARTS`) in linear light, so they take only part of the exposure's lift. Both renderers
    use this.

    The gain lifts the lights for a dark face so its features stay out of the shadows (`renderer_exposure`); teeth and
    the whites of the eyes have the same colour on every face, and lifted with the skin by x2.8 they clipped to flat,
    glowing white on dark skin. With part of the lift they are brighter than on a medium face, as in a photograph
    exposed for dark skin, but keep their shading; the mouth's soft inside stays in its shade.
    """
    from avatar.appearance import paint_head
    from avatar.head import ICT_PARTS
    from renderers.shading import GAMMA

    look = appearance or options.appearance
    albedo = paint_head(head, look)
    gain = renderer_exposure(options, look)
    if gain != 1.0 and head.is_ict:
        shares: dict[str, float] = {}  # a part two switches keep out of the lift is kept out once, by the larger share
        for switch, parts in UNLIFTED_PARTS.items():
            if getattr(look, switch):
                for name, share in parts.items():
                    shares[name] = max(shares.get(name, 0.0), share)
        for name, share in shares.items():
            a, b = ICT_PARTS[name]
            albedo[a:b] *= np.float32(gain ** (-share / GAMMA))
    return albedo
