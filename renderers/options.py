"""Settings of both renderers: `RendererOptions` and the anti-aliasing modes it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    auto_exposure: scale every light by `renderers.lighting.skin_exposure(appearance.skin, exposure_power)`, as a camera
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
