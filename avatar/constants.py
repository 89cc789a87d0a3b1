"""The toolkit's shared constants, defined once: frame rates, the audio analysis grid, eye-look range.

Every module that needs one of these imports it from here, so a file format, the speech path
and the renderer cannot drift apart (a full eyeLook weight means the same angle everywhere).
"""

from __future__ import annotations

DEFAULT_FPS: float = 30.0
"""Frame rate of sequences the toolkit makes when the caller does not choose one."""

UNSTATED_FPS: float = 60.0
"""Frame rate assumed for a sequence file that does not state its own (any format), with a warning.

60 is Live Link Face's capture rate, the commonest source of files that carry no rate."""

MAX_FPS: float = 1000.0
"""Largest frame rate accepted anywhere (a typo guard: 30000 was meant as 30)."""

SAMPLE_RATE: int = 16_000
"""Sample rate (Hz) every speech stage works at; audio is resampled to it once, on load."""

HOP_S: float = 0.010
"""Audio analysis hop (s): RMS level, voice activity and pitch are computed on this 10 ms grid."""

RENDER_GAMMA: float = 2.2
"""The renderers' shading gamma: albedo arrives in sRGB and is linearised per vertex with this power, output goes back
with 1 / RENDER_GAMMA (`renderers.shading.GAMMA`; the teeth's exposure unlift uses it too)."""

EYE_LOOK_DEG: float = 30.0
"""Eye rotation (degrees) at a full eyeLook* weight, sideways and up/down (ARKit's typical range)."""

MIN_IMAGE_SIDE: int = 16
MAX_IMAGE_SIDE: int = 8192
"""Render sizes accepted, in pixels a side."""

DEFAULT_BACKGROUND: tuple[float, float, float] = (0.92, 0.92, 0.94)
"""Background colour (RGB in 0..1, a light blue-grey) of every render when the caller does not choose one:
the facade, the session, `RendererOptions` and the CLI's `--background` all read it from here."""

ICT_PARTS: dict[str, tuple[int, int]] = {
    "face": (0, 9409), "head_neck": (9409, 11248), "mouth_socket": (11248, 13294),
    "eye_sockets": (13294, 14062), "gums_tongue": (14062, 17039), "teeth": (17039, 21451),
    "eyeball_left": (21451, 23021), "eyeball_right": (23021, 24591), "lacrimal": (24591, 24999),
    "eye_blend": (24999, 25047), "eye_occlusion": (25047, 25351), "eyelashes": (25351, 26719),
}
"""Vertex ranges (end exclusive) of ICT-FaceKit's parts, from its README: the shipped head's layout, which any head
with ICT's vertex count shares."""
