"""Returns per-vertex albedo for a head (painted skin, brows, lips, irises, teeth) and where it wrinkles and glints.

The ICT head has no textures, so everything a face is read from is painted per vertex here.

A face is read from its brows, lips and eyes, so they are painted from the head's landmarks and
parts: brows as tapered bands along landmarks 17-26, lips inside the lip contour (48-59), irises
and pupils by distance from each eyeball's optical axis. Painting uses the generic neutral mesh, so
it follows the vertices through every expression and identity.

`Appearance` is the look a user picks (skin, eyes, brows, hair cap, the shading switches and the tuned values
behind them); `paint_head` is what the renderers and the glTF export share. What only the renderers need lives
under renderers/: where a head wrinkles (`renderers.wrinkles`), its corneas (`renderers.corneas`), which
triangles are drawn and from which sides (`renderers.drawn_faces`). See docs/appearance.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.errors import AvatarInputError
from avatar.head import ICT_PARTS, BlendshapeHead


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Return linear-light values of sRGB colours in [0, 1] (the piecewise sRGB curve)."""
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Return sRGB values of linear-light colours in [0, 1] (inverse of `srgb_to_linear`)."""
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055).astype(np.float32)

# sRGB colours (0..1).
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "light": (0.93, 0.78, 0.69),
    "medium": (0.84, 0.64, 0.52),
    "tan": (0.74, 0.54, 0.40),
    "brown": (0.55, 0.38, 0.27),
    "dark": (0.36, 0.24, 0.17),
}
EYE_COLOURS: dict[str, tuple[float, float, float]] = {
    "brown": (0.36, 0.22, 0.12), "blue": (0.30, 0.45, 0.62), "green": (0.33, 0.45, 0.28),
    "hazel": (0.45, 0.35, 0.18), "grey": (0.45, 0.48, 0.50),
}
HAIR_COLOURS: dict[str, tuple[float, float, float]] = {
    "black": (0.06, 0.05, 0.05), "dark brown": (0.17, 0.11, 0.07), "brown": (0.33, 0.21, 0.12),
    "blonde": (0.72, 0.58, 0.36), "red": (0.52, 0.21, 0.09), "grey": (0.62, 0.61, 0.60),
}
"""sRGB albedo of the hair's colour names (the strands' mean; the shading adds strand-to-strand variation)."""
CLOTHING_COLOURS: dict[str, tuple[float, float, float]] = {
    "navy": (0.14, 0.18, 0.30), "charcoal": (0.22, 0.22, 0.24), "white": (0.86, 0.86, 0.84),
    "olive": (0.33, 0.35, 0.22), "burgundy": (0.40, 0.10, 0.14), "teal": (0.12, 0.36, 0.38),
}
"""sRGB albedo of the clothing's colour names."""


@dataclass(frozen=True)
class HairStyle:
    """Where a hair style covers the scalp and how thick it is (cm; heights relative to the head's landmarks).

    The hairline is a height per azimuth around the head: `front` above the brows' top (the forehead's lines,
    1-4 cm above the brows, stay clear at every shipped style), `side` above the brows' top over the ears, `back`
    above the chin at the nape. `top` / `sides`: the shell's thickness on the crown and at the sides. `drape`:
    None, or how far below the chin the hair falls as a curtain at the sides and back (bob, long), leaving the face
    open within `open_deg` of straight ahead. `density` < 1 mixes the skin into the hair's colour (a buzz cut).
    """

    front: float
    side: float
    back: float
    top: float
    sides: float
    drape: float | None = None
    open_deg: float = 62.0
    density: float = 1.0


HAIR_STYLES: dict[str, HairStyle] = {
    "buzz": HairStyle(front=5.0, side=0.0, back=4.0, top=0.12, sides=0.1, density=0.55),
    "short": HairStyle(front=5.0, side=0.0, back=4.0, top=1.1, sides=0.55),
    "medium": HairStyle(front=4.8, side=-2.5, back=1.0, top=1.7, sides=1.1),
    "bob": HairStyle(front=4.8, side=-2.5, back=1.0, top=1.6, sides=1.0, drape=-2.5),
    "long": HairStyle(front=4.8, side=-2.5, back=1.0, top=1.6, sides=1.0, drape=5.5),
}
"""The shipped hair styles (`Appearance.hair_style`); a bald head is `Appearance(hair=False)`."""

HAIR_TIP_CM = 2.4
"""How far a curtain's (bob, long) ends wander about the style's length (`hair_tip_length`): strands end in clumps of
different lengths, each tapering to a point, not at a ruled cut. The same for every head."""
HAIR_TIP_CLUMPS = 30
"""Clumps of strands around the head at a curtain's ends (~2 cm wide at the sides of the ICT head)."""
HAIR_CLUMP_CM = 0.3
"""How far the middle of a clump stands out from the notches beside it at a curtain's ends (growing from 0 where the
curtain leaves the head): locks that part towards the tips, shaded by their own normals, instead of one flat board."""

# Defaults of the expression-appearance switches, chosen by the held-out judges (docs/appearance.md):
# wrinkles raised face-api (+4.6 points) and face-classification (+1.0); catch-lights raised neither.
WRINKLES_DEFAULT = True
CATCH_LIGHTS_DEFAULT = False
MOUTH_SHADOW_DEFAULT = False
"""Off by default: the held-out face-api judge read the emotions worse with it (0.68 vs 0.71; open dark mouths pull anger
and fear towards surprise), though the FER2013-trained judges read better (docs/legibility.md)."""
LIP_SHADE = 0.85
"""Default of `Appearance.lip_shade`: factor on the lips' painted colour (skin x (0.86, 0.58, 0.58) + (0.06, 0, 0.02)): darker lips draw the mouth's shape
more clearly in grey. Chosen among 1.0, 0.85, 0.7 by the FER2013-trained judges on identities 101-140, kept because the
held-out face-api judge read better on both held-out identity sets (scripts/select_lip_shade.py, docs/legibility.md)."""
CAVITY_DEFAULT = True
"""Default of `Appearance.cavity`, on: with it the held-out face-api judge read the seven emotions better on both held-out identity sets (0.707 -> 0.754
and 0.675 -> 0.707 over front and three-quarter views); face-classification read better too, fer2013 on one set of
the two (docs/legibility.md)."""
CAVITY_ITERATIONS = 20
"""Default of `Appearance.cavity_iterations`, the smoothing passes of cavity shading (`renderers.cavity`): on the ICT head's
~0.3-0.5 cm edges the smoothed surface spans ~1.5-2 cm, a fold's width."""
CAVITY_DEPTH_CM = 0.5
"""Default of `Appearance.cavity_depth_cm`: depth below the smoothed surface at which the cavity shading is full."""
CAVITY_STRENGTH = 0.8
"""Default of `Appearance.cavity_strength`: how much of its sRGB albedo a fully occluded vertex loses. The three cavity
values were chosen by scripts/select_cavity.py on the selection identities and judges and kept because the held-out
judge read better (docs/legibility.md)."""
SKIN_DETAIL_DEFAULT = True
"""Default of `Appearance.skin_detail`: pores and fine lines tilt the skin's normal (renderers.shading, renderers.skin)."""
SKIN_DETAIL_STRENGTH = 0.16
"""Default of `Appearance.skin_detail_strength`: the surface slope of the pores' noise at its steepest, about 0.1 on
average: the highlight breaks up on a close-up, the mean luminance of the face moves by under 1 %."""
SKIN_REGIONS_DEFAULT = True
"""Default of `Appearance.skin_regions`: an oilier, sharper highlight on the T-zone, a rougher one on the cheeks, glossy lips."""
SUBSURFACE_DEFAULT = True
"""Default of `Appearance.subsurface`: red-shifted wrap light on thin skin (ears, nose wings, eyelids)."""
AMBIENT_OCCLUSION_DEFAULT = True
"""Default of `Appearance.ambient_occlusion`: per-vertex occlusion baked once per identity dims the ambient, fill and rim light."""
AMBIENT_OCCLUSION_STRENGTH = 0.7
"""Default of `Appearance.ambient_occlusion_strength`: the share of the baked occlusion applied (under the chin, in the
nostrils and behind the ears; the rest of the indirect light stands for light bounced off the surroundings)."""
SHADOWS_DEFAULT = False
"""Default of `Appearance.shadows`, off: the key light's soft cast shadows (nose on cheek, brows on lids, chin on neck)
made the held-out face-api judge read medium skin worse (0.857 -> 0.811 with all five skin switches; 0.868 with all but
the shadows, ids 0, 7, 21, 80, 95), so they are an option, like the mouth shadow (docs/legibility.md)."""
SHADOW_STRENGTH = 0.8
"""Default of `Appearance.shadow_strength`: the share of the key light a fully shadowed point loses."""
SHADOW_SOFTNESS_CM = 0.3
"""Default of `Appearance.shadow_softness_cm`: spacing of the shadow test's 3 x 3 taps, about half the penumbra's width
(a key light the size of a softbox a metre or two away)."""
MOUTH_SHADOW_DEPTH_CM = 2.0
"""Depth behind the front teeth over which the light falls to 1/e of the way to MOUTH_SHADOW_FLOOR."""
MOUTH_SHADOW_FLOOR = 0.2
"""Fraction of its albedo the deepest part of the mouth keeps."""
MOUTH_TONGUE_SHADE = 0.55
"""Extra factor for the tongue, gums and socket, which lie under the upper teeth and palate."""
EYE_DETAIL_DEFAULT = False
"""Default of `Appearance.eye_detail`, off: iris fibres and collarette, a defined limbal ring, a dark pupil, the whites
shaded towards the corners, and the wet line of the lower lid (issue 19; docs/appearance.md, "Eyes"). Off by default
because the held-out face-api judge read the emotions worse with it and the mouth interior on, on held-out identities
(docs/legibility.md, "Issue 19"); the FER2013-trained judges read better."""
LIMBAL_RING = 0.6
"""Default of `Appearance.limbal_ring`: the fraction of the iris colour lost at the iris's outer rim (0: no ring)."""
IRIS_FIBRES = 0.22
"""Contrast of the iris's radial fibres (a fraction of its colour, either way), outside the collarette."""
SCLERA_CORNER_SHADE = 0.72
"""Fraction of its colour the white of the eye keeps where it meets the lids at the corners (the socket shades it)."""
WET_LINE_CM = 0.10
"""How near the eyeball a lower-lid vertex lies to be painted as the lid's wet margin (the waterline)."""
MOUTH_INTERIOR_DEFAULT = False
"""Default of `Appearance.mouth_interior`, off: teeth, gums, tongue and the mouth's lining lit only through the lips'
opening (issue 19; docs/appearance.md, "The inside of the mouth"). Off by default for the same reason as
`EYE_DETAIL_DEFAULT`: the held-out judge read worse (anger above all: a dark open mouth, as with `mouth_shadow`)."""
TEETH_COLOUR = (0.90, 0.87, 0.80)
"""Default of `Appearance.teeth_colour` (sRGB): off-white enamel, a little yellow."""
MOUTH_INTERIOR_DEPTH_CM = 2.0
"""Depth behind the front teeth at which the light inside the mouth has fallen 1/e of the way to MOUTH_INTERIOR_FLOOR
(a Gaussian of the depth: the incisors and canines of a smile stay lit, the premolars darken, the molars are in shade)."""
MOUTH_INTERIOR_FLOOR = 0.45
"""Fraction of its sRGB albedo the deepest part of the mouth keeps: dark, never black."""
MOUTH_INTERIOR_FRONT = 1.0
"""Fraction the front teeth keep: they fill the lips' opening and are lit as the lips are (a darker value turned the
incisors of a light-skinned smile grey)."""
MOUTH_LINGUAL_SHADE = 0.6
"""Extra factor on the teeth's inner (lingual) faces and the tongue, which face the mouth's dark inside, not the opening."""
TEETH_SHADE_DEFAULT = True
"""Default of `Appearance.teeth_shade`, on: the teeth lit through the lips' opening as posed in each frame (issue 19;
docs/appearance.md, "Teeth in the mouth's shade"; `renderers.teeth`). It removes the lower canines lit like fangs at the
corners of surprise's open mouth and the far-side lower tooth floating, lit, in the gap at three-quarter, and leaves the
teeth a mouth shows between its lips lit (fear's side teeth, anger's bared ones, disgust's). It shades the gums and
tongue too (issue 19 part 0: darker under the upper teeth and towards the throat, `MOUTH_KEY_SHADOW`) and withholds
most of the exposure's lift from them (`renderers.options.UNLIFTED_PARTS`). On since the lips' depth and
the teeth's facing count (anger's side teeth no longer dimmed like surprise's fangs): on held-out identities the
held-out judge reads the same with it as without (face-api 0.763 -> 0.763 over four cells, as a quarter-pixel camera
shift does; docs/legibility.md)."""
TEETH_OPENING_CM = 0.5
"""How far outside the posed lips' opening (beyond an inner corner, past the inner edge of a lip it lies behind) a tooth
lies for the light through it to be gone (a smooth ramp from `TEETH_OPENING_MARGIN_CM`). Set by the look
(renderers.teeth), not by a judge."""
TEETH_OPENING_MARGIN_CM = 0.1
"""How far outside the opening's outline the ramp starts: the outline is the eight inner-lip landmarks joined by chords,
and the real edge bulges past them at a rounded mouth's corners (a tooth seen there lay up to ~0.15 cm outside), and a
tooth is shaded per vertex, so a vertex just behind a lip would dim the visible part of its triangles."""
TEETH_BEHIND_CM = 0.3
"""How far behind a lip's inner edge a tooth lies for that lip to shade it fully (none when level with it or in front):
the raised upper lip of disgust leaves its incisors in front of the lower lip, where nothing hides them from the light."""
TEETH_DEPTH_START_CM = 1.0
"""How far behind the posed inner lip corners a tooth may lie before the light through the opening falls with depth."""
TEETH_DEPTH_CM = 1.0
"""Depth beyond `TEETH_DEPTH_START_CM` at which the cheek's shade on a tooth's outer face has fallen 1/e of the way to
MOUTH_INTERIOR_FLOOR (a Gaussian): the lower canines and premolars that surprise's open jaw carries back behind its
rounded corners (2.8 cm behind them) face the cheek and are in its shade, fear's side teeth (0.6 cm) are not. Set by
the look, not by a judge (docs/appearance.md)."""
TEETH_DEPTH_INNER = 0.6
"""Share of that depth shade taken by the faces that look into the mouth's open space rather than at the cheek (the
biting surfaces, the inner sides): they face the opening, so the far lower teeth that a shout shows at three-quarter
stay teeth, not a grey hollow (`avatar.appearance.teeth_buccal_facing` says which faces look at the cheek)."""
TEETH_LINGUAL_SHADE = 0.45
"""Factor on the teeth's faces turned into the mouth (`teeth_shade`): what a three-quarter view sees of the far side's
teeth through the gap. Darker than `MOUTH_LINGUAL_SHADE` (0.6 left the far tooth of a smile at yaw 30 1.56x the gap's
luma with the per-frame shade; 0.45 with the opening term: 0.95x)."""
TEETH_FACING_SMOOTHING = 45
"""Times the side teeth's static facing factors (`teeth_lingual_light`, `teeth_buccal_facing`) are averaged over each
vertex's neighbours on its tooth. Read per vertex from the normal, the facing flips between in and out from cusp to
fissure of a premolar or molar (17 % of the teeth's edges joined a lit and a lingual-shaded vertex), and at
three-quarter the far side's teeth came out speckled, adjacent faces alternating light and dark (issue 19 part 0). 45
averages (a diffusion over about seven edges, ~1.2 cm, a molar's width) leave each tooth a smooth blend from its outer
to its inner side (10 still speckled; 30 and 60 looked alike). Set by the look and a speckle measure
(docs/appearance.md), not by a judge."""
TEETH_SAMPLE_SMOOTHING = 3
"""Times a side tooth's position is averaged over its neighbours before the per-frame light through the lips is read
there (`teeth_sample_offset`): the lip's edge ramps the light over 0.4 cm, a cusp stands 0.1-0.2 cm over its
fissure, so per vertex the cusps of a tooth behind a lip lit and its fissures shaded. Three averages take out the
cusps and move the sample by 0.12 cm (median; 0.19 at the 90th percentile); 6 and 10 pulled anger's lower side
crowns into the lower lip's shade (0.98 -> 0.95 and 0.83 of their light at front)."""
TEETH_SIDE_FROM_CM = (0.8, 1.4)
"""Distance of a tooth's middle from the midline (generic neutral) over which those averages blend in: the incisors are
thin, and a few averages carry one side's facing over the biting edge onto the other (their labial faces lost a
quarter of their light); their faces are smooth and seen head on, so they keep their own per-vertex facing."""
TEETH_SHADE_UNLIFT = 0.8
"""Share of the exposure's lift (as a power of the gain, `renderers.options.UNLIFTED_PARTS`) a tooth in the mouth's full
shade is kept out of, in proportion to its shade (`teeth_shade`, issue 19): a tooth keeps the gain **
(1 - TEETH_SHADE_UNLIFT (1 - lit)), lit its share of the light through the lips (the opening, the depth and its facing;
1 for the teeth between the lips, which keep the whole lift as the held-out judge asked of them). The lift is more key
light, and a tooth in the lips' or the cheek's shade is out of the key: with the whole lift, the far lower tooth a
smile shows at yaw 30 on dark skin came out near white (1.8x its luma on medium skin, 0.79 of the lit upper teeth's),
the highlight shoulder flattening its shade. The tongue's static share, so a tooth in full shade is lifted as the
tongue beside it is (dark skin: x1.23 instead of x2.8). Medium and lighter faces (gain 1) are unchanged. Set by the
look, not by a judge (docs/appearance.md)."""
MOUTH_KEY_SHADOW = 0.3
"""Share of the light the gums and tongue lose in the upper teeth's shadow (`teeth_shade`, issue 19 part 0): the key
light comes from above the camera, so under the upper teeth and towards the back of an open mouth the tongue is in
their shadow, and a tongue lit evenly read as a flat pink disc. 0.5 darkened a medium face's open mouth to a maroon
hollow (the held-out judge read dark open mouths as surprise before); set by the look, not by a judge."""
MOUTH_KEY_SLOPE = 0.5
"""How far the upper teeth's shadow line drops per cm behind the upper lip's inner edge: the default key light's
elevation (`renderers.lighting.Lighting.key_dir`, 27 degrees over the horizontal; tan 0.51)."""
MOUTH_KEY_SHADOW_CM = 0.3
"""How far below the upper lip's inner edge the shadow's line starts: the upper incisors' show below the lip."""
MOUTH_KEY_SOFT_CM = 0.4
"""Half the width of the shadow's soft edge (a smoothstep over twice this, centred on the line)."""
MOUTH_SOFT_DEPTH_START_CM = 1.0
"""How far behind the posed inner lip corners the gums and tongue may lie before the light through the opening falls
with depth (the teeth's is `TEETH_DEPTH_START_CM`)."""
MOUTH_SOFT_DEPTH_CM = 1.0
"""Depth beyond `MOUTH_SOFT_DEPTH_START_CM` over which the gums' and tongue's share of the depth shade
(`MOUTH_SOFT_DEPTH_SHARE`) falls 1/e of the way (the teeth's is `TEETH_DEPTH_CM`)."""
MOUTH_SOFT_DEPTH_SHARE = 0.6
"""Share of the teeth's depth shade (`TEETH_DEPTH_START_CM`, `TEETH_DEPTH_CM`) the gums and tongue take: darker towards
the throat. 1 (the cheek's full shade, as a tooth's outer face takes) left the back of surprise's tongue at the floor,
a maroon hollow on a medium face."""

HAIR_DEFAULT = True
"""Default of `Appearance.hair`, on: without hair the head read as a mannequin (issue 19); the held-out judge's reading
with and without it is in docs/legibility.md."""
HAIR_STYLE_DEFAULT = "short"
"""Default of `Appearance.hair_style`: a short cut above the ears, the hairline 5 cm above the brows."""
HAIR_COLOUR_DEFAULT = "dark brown"
BROW_SHELL_DEFAULT = True
"""Default of `Appearance.brow_shell`: brows with depth (a raised shell) over their paint."""
CLOTHING_DEFAULT = True
"""Default of `Appearance.clothing`: a crew-neck top instead of the neck's bare cut."""
CLOTHING_COLOUR_DEFAULT = "navy"
BROW_LIFT_CM = 0.12
"""How far the brow shell stands off the skin at the brows' middle (it tapers to the skin at their edges)."""

# Materials that are drawn: ICT's lacrimal fluid, eye blend and eye occlusion are transparent
# overlays meant for a compositing renderer; drawn opaque they hide the iris, so they are skipped.
HIDDEN_MATERIALS = ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion")


@dataclass(frozen=True)
class Appearance:
    """Look of a painted head: skin tone name or sRGB triple, eye colour, brow colour, hair, clothing, and switches.

    hair: hair as geometry (a shell over the scalp, a curtain for the longer styles) that moves rigidly with the
        head, with strand-textured albedo and anisotropic (Kajiya-Kay) highlights; the scalp under it is painted
        in the hair's root colour. Off: a bald head. `hair_style` names one of `HAIR_STYLES` (buzz, short,
        medium, bob, long), `hair_colour` one of `HAIR_COLOURS` or an sRGB triple.
    brow_shell: the brows drawn a second time as a thin raised shell (lifted up to `BROW_LIFT_CM` off the skin,
        following every expression) with strand texture and highlights, over their painted colour.
    clothing: a crew-neck top over the neck's cut and the shoulders, `clothing_colour` one of `CLOTHING_COLOURS`
        or an sRGB triple. `Appearance.from_seed(seed)` picks style and colours from a seed.

    wrinkles: expression lines where the posed mesh compresses against its neutral (forehead lines with a
        brow raise, glabellar furrows with a frown, crow's feet, nasolabial folds, nose-bridge lines).
    catch_lights: a small specular highlight of the key light on each cornea.
    cavity: skin in folds and hollows (eye sockets, nasolabial folds, under a lowered brow, mouth corners) darkened
        by how far it lies below its smoothed surface in the posed mesh, an ambient-occlusion stand-in that follows
        the expression (`renderers.cavity`).
    mouth_shadow: the mouth's inside (teeth, tongue, gums, socket) darkened with depth behind the front teeth, as
        the lips and cheeks shade it in a photograph; off, an open mouth shows a fully lit pink cavity.
    mouth_interior: teeth, gums, tongue and the mouth's lining lit only through the lips' opening: the front teeth
        keep `MOUTH_INTERIOR_FRONT` of their colour, everything deeper falls towards `MOUTH_INTERIOR_FLOOR` (dark,
        not black), and the faces turned into the mouth (the teeth's inner sides, the tongue) are darker still, so a
        back tooth seen through the gap at three-quarter stays in the mouth's shade instead of floating, lit, in it.
    teeth_shade: the teeth alone lit through the lips' opening as posed in each frame (on by default; `renderers.teeth`,
        both renderers): a tooth's light falls to `MOUTH_INTERIOR_FLOOR` as it lies outside the inner lip edges (beyond
        a corner, or past the edge of a lip it lies behind; up to `TEETH_OPENING_CM`) or, on the faces that look at the
        cheek, deep behind the inner corners (`TEETH_DEPTH_START_CM`, `TEETH_DEPTH_CM`; `TEETH_DEPTH_INNER` of that on
        the faces that look into the mouth), and its faces turned into the mouth get `TEETH_LINGUAL_SHADE`, so the teeth
        behind a rounded mouth's corners and a far-side tooth seen through the gap sit in the mouth's shade while the
        teeth between the lips stay lit. The gums, tongue and lining keep their colour (`mouth_interior` shades them
        too, and supersedes this).
    teeth_colour: sRGB enamel colour (default `TEETH_COLOUR`, off-white).
    eye_detail: iris fibres and a lighter collarette, the whites shaded towards the corners and the lower lid's wet line
        (`IRIS_FIBRES`, `SCLERA_CORNER_SHADE`, `WET_LINE_CM`); off, the iris is a flat disc with the ring below.
    limbal_ring: the fraction of the iris colour lost at its outer rim (default `LIMBAL_RING`), read with `eye_detail`
        on (off, the flat iris keeps its old ring: 0.55 spread over the outer quarter).
    lip_shade: factor on the lips' painted colour (default `LIP_SHADE`, chosen by scripts/select_lip_shade.py).
    cavity_strength, cavity_iterations, cavity_depth_cm: how dark a fully occluded fold gets, the smoothing
        passes, and the depth (cm) at which the shading is full (defaults `CAVITY_STRENGTH`, `CAVITY_ITERATIONS`,
        `CAVITY_DEPTH_CM`, chosen by scripts/select_cavity.py); read only with `cavity` on.
    skin_detail: pores and fine lines as a normal perturbation from noise on the neutral's positions (it moves with
        the skin); `skin_detail_strength` its slope.
    skin_regions: the skin's highlight by region: oilier and sharper on the T-zone, rougher on the cheeks, glossy lips.
    subsurface: red-shifted wrap light on thin skin (ears, nose wings, eyelids), as light scattered under it.
    ambient_occlusion: occlusion baked once per identity from its neutral mesh (64 directions) dims the ambient,
        fill and rim light (`ambient_occlusion_strength` of it); the cavity term still follows the expression.
    shadows: the key light casts soft shadows (a shadow map, `renderers.shadows`): `shadow_strength` of the key light
        lost in full shadow, `shadow_softness_cm` the filter's tap spacing.
    (docs/appearance.md, "A face that reads as a person".)
    """

    skin: str | tuple[float, float, float] = "medium"
    eyes: str | tuple[float, float, float] = "brown"
    brow_colour: tuple[float, float, float] = (0.16, 0.11, 0.08)
    hair: bool = HAIR_DEFAULT
    hair_style: str = HAIR_STYLE_DEFAULT
    hair_colour: str | tuple[float, float, float] = HAIR_COLOUR_DEFAULT
    brow_shell: bool = BROW_SHELL_DEFAULT
    clothing: bool = CLOTHING_DEFAULT
    clothing_colour: str | tuple[float, float, float] = CLOTHING_COLOUR_DEFAULT
    wrinkles: bool = WRINKLES_DEFAULT
    catch_lights: bool = CATCH_LIGHTS_DEFAULT
    mouth_shadow: bool = MOUTH_SHADOW_DEFAULT
    mouth_interior: bool = MOUTH_INTERIOR_DEFAULT
    teeth_shade: bool = TEETH_SHADE_DEFAULT
    teeth_colour: tuple[float, float, float] = TEETH_COLOUR
    eye_detail: bool = EYE_DETAIL_DEFAULT
    limbal_ring: float = LIMBAL_RING
    cavity: bool = CAVITY_DEFAULT
    lip_shade: float = LIP_SHADE
    cavity_strength: float = CAVITY_STRENGTH
    cavity_iterations: int = CAVITY_ITERATIONS
    cavity_depth_cm: float = CAVITY_DEPTH_CM
    skin_detail: bool = SKIN_DETAIL_DEFAULT
    skin_detail_strength: float = SKIN_DETAIL_STRENGTH
    skin_regions: bool = SKIN_REGIONS_DEFAULT
    subsurface: bool = SUBSURFACE_DEFAULT
    ambient_occlusion: bool = AMBIENT_OCCLUSION_DEFAULT
    ambient_occlusion_strength: float = AMBIENT_OCCLUSION_STRENGTH
    shadows: bool = SHADOWS_DEFAULT
    shadow_strength: float = SHADOW_STRENGTH
    shadow_softness_cm: float = SHADOW_SOFTNESS_CM


    @classmethod
    def from_seed(cls, seed: int, **asked: object) -> Appearance:
        """Return an Appearance whose hair style, hair colour, brow colour and clothing colour are drawn from `seed`.

        The same seed always gives the same look (numpy's PCG64, not the global state); every field in `asked`
        is kept as given (what a user asked for is never replaced by the draw).
        """
        from avatar.validation import check_seed

        check_seed(seed)
        rng = np.random.default_rng([int(seed), 19])
        style = str(rng.choice(list(HAIR_STYLES)))
        colour = str(rng.choice(list(HAIR_COLOURS)))
        clothing = str(rng.choice(list(CLOTHING_COLOURS)))
        brow = tuple(float(c) for c in np.clip(np.array(HAIR_COLOURS[colour]) * 0.8, 0.04, 0.5))
        drawn: dict[str, object] = dict(hair_style=style, hair_colour=colour, clothing_colour=clothing, brow_colour=brow)
        drawn.update(asked)
        return cls(**drawn)  # type: ignore[arg-type]


def skin_albedo(skin: str | tuple[float, float, float]) -> np.ndarray:
    """Return the (3,) sRGB albedo of a skin tone name or triple (one-line error for an unknown name)."""
    return _rgb(skin, SKIN_TONES, "skin tone")


def _rgb(value: str | tuple[float, float, float], table: dict[str, tuple[float, float, float]], what: str) -> np.ndarray:
    if isinstance(value, str):
        if value not in table:
            raise AvatarInputError(f"unknown {what} {value!r}: use one of {', '.join(table)} or an (r, g, b) triple in 0..1")
        return np.array(table[value], np.float32)
    arr = np.asarray(value, np.float32)
    if arr.shape != (3,) or arr.min() < 0 or arr.max() > 1:
        raise AvatarInputError(f"{what} must be a name or an (r, g, b) triple in 0..1, got {value!r}")
    return arr


def _polyline_distance(p: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distance, t along the line in 0..1) from 2-D points (N, 2) to a polyline (M, 2)."""
    best = np.full(len(p), np.inf)
    best_t = np.zeros(len(p))
    seg_len = np.linalg.norm(np.diff(line, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    for i in range(len(line) - 1):
        a, b = line[i], line[i + 1]
        ab = b - a
        u = np.clip(((p - a) @ ab) / (ab @ ab), 0, 1)
        d = np.linalg.norm(p - (a + u[:, None] * ab), axis=1)
        closer = d < best
        best[closer] = d[closer]
        best_t[closer] = (cum[i] + u[closer] * seg_len[i]) / cum[-1]
    return best, best_t


def _inside_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Return (N,) bool: which 2-D points lie inside the closed polygon (even-odd rule)."""
    inside = np.zeros(len(p), bool)
    x, y = p[:, 0], p[:, 1]
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xi)
    return inside


def _polygon_edge_distance(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    closed = np.concatenate([poly, poly[:1]])
    return _polyline_distance(p, closed)[0]


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Return the smooth 0 -> 1 ramp of `x` between edge0 and edge1 (3t^2 - 2t^3; the painting's and wrinkles' fades)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def paint_head(head: BlendshapeHead, appearance: Appearance | None = None) -> np.ndarray:
    """Return (V, 3) float32 sRGB albedo per vertex for `head`.

    The ICT layout (any identity) is painted part by part; another head shows its own colours (the
    file's COLOR_0 or material colours, `head.vertex_colors`), or plain skin when it has none.
    """
    app = appearance or Appearance()
    skin = _rgb(app.skin, SKIN_TONES, "skin tone")
    iris_rgb = _rgb(app.eyes, EYE_COLOURS, "eye colour")
    v = head.generic_neutral
    n = len(v)
    if not head.is_ict:
        return head.vertex_colors.copy() if head.vertex_colors is not None else np.tile(skin, (n, 1)).astype(np.float32)
    colour = np.tile(skin, (n, 1)).astype(np.float32)

    def part(name: str) -> slice:
        a, b = ICT_PARTS[name]
        return slice(a, b)

    lm = v[head.landmarks68]
    face = np.zeros(n, bool)
    face[part("face")] = True
    xy = v[:, :2]

    # Lips: inside the outer lip contour, on the front of the face (and the inner lip surface).
    outer = lm[48:60, :2]
    # Distances are measured only where a weight can be non-zero (the rest is weighted 0): same colours, less work.
    colour = colour.astype(np.float64)  # blended in float64 (as when whole-array weights promoted it)
    lip_front = np.flatnonzero(face & (v[:, 2] > lm[48:60, 2].min() - 1.2))
    d_edge = _polygon_edge_distance(xy[lip_front], outer)
    inside = _inside_polygon(xy[lip_front], outer)
    lip_w = np.where(inside, smoothstep(-0.02, 0.12, d_edge), 1 - smoothstep(0.0, 0.10, d_edge))
    lip_w = np.where(inside, lip_w, lip_w * 0.35)
    lip_colour = np.clip((skin * np.array([0.86, 0.58, 0.58]) + np.array([0.06, 0.0, 0.02])) * app.lip_shade, 0, 1)
    colour[lip_front] = colour[lip_front] * (1 - lip_w[:, None]) + lip_colour * lip_w[:, None]

    # Brows: tapered bands slightly below the brow landmarks (which trace the brow's upper edge).
    w = brow_weights(v, lm, face)
    near = np.flatnonzero(w > 0)
    colour[near] = colour[near] * (1 - w[near, None]) + np.asarray(app.brow_colour, np.float32) * w[near, None]

    # The scalp under the hair in the hair's root colour, so no skin shows between strands at the hairline. It stops
    # a little inside the hair's own edge (HAIR_ROOT_INSET_CM), so another identity's hair still covers it.
    if app.hair and app.hair_style in HAIR_STYLES:
        head_part = np.zeros(n, bool)
        head_part[part("face")] = True
        head_part[part("head_neck")] = True
        idx = np.flatnonzero(head_part)
        frame = head_frame(v, lm)
        root_w = hair_coverage(v[idx], frame, HAIR_STYLES[app.hair_style], inset=HAIR_ROOT_INSET_CM)
        style = HAIR_STYLES[app.hair_style]
        roots = hair_albedo(app) * HAIR_ROOT_SHADE * style.density + skin * (1 - style.density)
        colour[idx] = colour[idx] * (1 - root_w[:, None]) + roots * root_w[:, None]

    # Eyes: sclera off-white; the iris sphere painted by distance from the optical axis (pupil,
    # iris with a darker limbal ring). The sclera's cornea cap is not drawn (see drawn_faces).
    sclera_rgb = np.array([0.93, 0.90, 0.87])
    for k, eye in enumerate(eye_geometry(v)):
        r = eye.radial(v[eye.iris])
        front = eye.axial(v[eye.iris]) > 0
        t = r / IRIS_RADIUS
        pupil = 1 - smoothstep(0.36, 0.44, t)
        if app.eye_detail:
            # A defined limbal ring over the outer ~15 %, radial fibres (stripes around the axis) outside a lighter,
            # wavy collarette, and a darker ruff at the pupil's edge: what makes an iris read as an eye at 512 px.
            theta = _iris_angle(eye, v[eye.iris])
            rng = np.random.default_rng(7 + k)
            fibres = sum(np.cos(m * theta + rng.uniform(0, 2 * np.pi)) / len(IRIS_FIBRE_WAVES) for m in IRIS_FIBRE_WAVES)
            collar = 0.58 + 0.04 * np.cos(7 * theta + rng.uniform(0, 2 * np.pi))
            shade = 1 + IRIS_FIBRES * fibres * smoothstep(0.5, 0.7, t)
            shade = shade * (1 + 0.22 * (1 - smoothstep(0.0, 0.06, np.abs(t - collar))))
            shade = shade * (1 - 0.3 * (1 - smoothstep(0.44, 0.52, t)))
            shade = shade * (1 - app.limbal_ring * smoothstep(0.80, 0.96, t))
            c = np.clip(iris_rgb * shade[:, None], 0, 1)
        else:
            limbus = smoothstep(0.75, 1.0, t)  # the flat iris of before issue 19, ring and all
            c = iris_rgb * (1 - 0.55 * limbus[:, None])
        c = c * (1 - pupil[:, None]) + np.array([0.02, 0.02, 0.02]) * pupil[:, None]
        outside = (r > IRIS_RADIUS * 1.02) & front
        c[outside] = sclera_rgb
        # The iris sphere's back half is seen only through the pupil's opening in its front: it is the eye's dark
        # inside (painted white, it showed as a white patch in every pupil).
        c[~front] = (0.02, 0.02, 0.02) if app.eye_detail else sclera_rgb
        colour[eye.iris] = c
        colour[eye.sclera] = sclera_rgb
        if app.eye_detail:
            # The whites are shaded by the lids and socket towards the corners, so they do not glow as a flat disc.
            for idx in (eye.sclera, eye.iris):
                off_axis = eye.radial(v[idx])
                corner = smoothstep(0.7, 1.35, off_axis)
                is_white = np.ones(len(off_axis), bool) if idx is eye.sclera else (outside & front)
                colour[idx][is_white] = colour[idx][is_white] * (1 - (1 - SCLERA_CORNER_SHADE) * corner[is_white, None])
    if app.eye_detail:
        # The lower lid's wet margin (waterline): the skin that touches the eyeball below it, moist mucosa lighter and
        # pinker than the skin, catching the light as a thin line.
        margin = _lower_lid_margin(head)
        wet = np.clip(skin * np.array([0.90, 0.62, 0.60]) + np.array([0.22, 0.10, 0.10]), 0, 1)
        colour[margin] = colour[margin] * 0.25 + wet * 0.75

    colour[part("teeth")] = _rgb(app.teeth_colour, {}, "teeth colour")
    colour[part("gums_tongue")] = (0.70, 0.33, 0.33)
    colour[part("mouth_socket")] = (0.35, 0.12, 0.12)
    if app.mouth_interior:
        colour = colour * mouth_interior_light(head)[:, None]
    if app.mouth_shadow:
        # No renderer here casts shadows, so the occlusion of the oral cavity is baked into its albedo: light
        # reaches the front teeth and falls off towards the molars; the tongue and gums also sit under the
        # upper teeth and palate.
        front = v[part("teeth"), 2].max()
        for name, under in (("teeth", 1.0), ("gums_tongue", MOUTH_TONGUE_SHADE), ("mouth_socket", MOUTH_TONGUE_SHADE)):
            idx = part(name)
            depth = np.maximum(front - v[idx, 2], 0.0)
            lit = MOUTH_SHADOW_FLOOR + (1 - MOUTH_SHADOW_FLOOR) * np.exp(-depth / MOUTH_SHADOW_DEPTH_CM)
            colour[idx] = colour[idx] * (lit * under)[:, None]
    # Lashes are cards meant for an alpha texture; opaque they read as heavy eyeliner, so the upper
    # lashes are dark brown and the lower ones are not drawn (see drawn_faces).
    colour[part("eyelashes")] = np.asarray(app.brow_colour, np.float32) * 0.7
    colour[part("eye_sockets")] = skin * 0.8
    return colour.astype(np.float32)


IRIS_RADIUS = 0.60  # cm: a human iris is ~12 mm across
HAIR_ROOT_SHADE = 0.6
"""The scalp under the hair is painted in the hair's colour times this (roots and the shadow between strands)."""
HAIR_ROOT_INSET_CM = 0.6
"""The root paint's edge lies this far inside the hair's hairline."""


def hair_albedo(appearance: Appearance) -> np.ndarray:
    """Return the (3,) sRGB albedo of the appearance's hair colour (one-line error for an unknown name or style)."""
    if appearance.hair_style not in HAIR_STYLES:
        raise AvatarInputError(f"unknown hair style {appearance.hair_style!r}: use one of {', '.join(HAIR_STYLES)} "
                               "(no hair: hair=False, --no-hair)")
    return _rgb(appearance.hair_colour, HAIR_COLOURS, "hair colour")


def clothing_albedo(appearance: Appearance) -> np.ndarray:
    """Return the (3,) sRGB albedo of the appearance's clothing colour (one-line error for an unknown name)."""
    return _rgb(appearance.clothing_colour, CLOTHING_COLOURS, "clothing colour")


@dataclass(frozen=True)
class HeadFrame:
    """Where a head's skull is, for hair: `centre` (3,) of the skull, the brows' top height and the chin's height (cm)."""

    centre: np.ndarray
    brow_top: float
    chin_y: float


def head_frame(vertices: np.ndarray, landmarks: np.ndarray) -> HeadFrame:
    """Return the HeadFrame of (V, 3) ICT-layout vertices and their (68, 3) landmark positions."""
    brow_top = float(landmarks[17:27, 1].max())
    front = float(landmarks[17:27, 2].max())
    above = vertices[vertices[:, 1] > brow_top]
    back = float(above[:, 2].min()) if len(above) else front - 18.0
    centre = np.array([float(landmarks[:, 0].mean()), brow_top - 1.5, 0.5 * (front + back) - 0.5])
    return HeadFrame(centre=centre, brow_top=brow_top, chin_y=float(landmarks[8, 1]))


def hairline_height(points: np.ndarray, frame: HeadFrame, style: HairStyle, inset: float = 0.0) -> np.ndarray:
    """Return (N,) how far (cm) each of (N, 3) points lies above the hairline of `style` (negative: below it), the
    hairline being a height per azimuth about the skull's vertical axis (`HairStyle`) moved up by `inset`."""
    rel = np.asarray(points, np.float64) - frame.centre
    a = np.abs(np.degrees(np.arctan2(rel[:, 0], rel[:, 2])))
    front, side, back = frame.brow_top + style.front, frame.brow_top + style.side, frame.chin_y + style.back
    line = front + (side - front) * smoothstep(45.0, 90.0, a) + (back - side) * smoothstep(100.0, 140.0, a) + inset
    return np.asarray(points, np.float64)[:, 1] - line


def hair_clumps(azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (length, point), each in [0, 1], of the clump of strands a curtain's hair (bob, long) falls in at each
    azimuth (radians about the skull's vertical axis, atan2(x, z) of the direction from its centre).

    `HAIR_TIP_CLUMPS` clumps around the head, of uneven widths (a slow wobble of the clump phase) and lengths (a fixed
    hash per clump); `point` is 1 in a clump's middle and 0 at the notches between clumps. Periodic in the azimuth,
    so the clumps close around the back of the head; the same for every head."""
    az = np.asarray(azimuth, np.float64)
    phase = (az + np.pi) / (2 * np.pi) * HAIR_TIP_CLUMPS + 0.35 * np.sin(3.0 * az + 1.0) + 0.2 * np.sin(7.0 * az + 2.0)
    k = np.floor(phase)
    t = phase - k
    k = np.mod(k, HAIR_TIP_CLUMPS)
    length = np.modf(np.abs(np.sin(k * 12.9898 + 4.1) * 43758.5453))[0]  # a fixed pseudo-random length per clump
    point = 1.0 - np.abs(2.0 * t - 1.0) ** 0.7
    return length, point


def hair_tip_length(azimuth: np.ndarray) -> np.ndarray:
    """Return the extra length in cm (-0.3 to +1.0 times `HAIR_TIP_CM`) of a curtain's hair at each azimuth: each clump
    of strands (`hair_clumps`) longest in its middle and tapering to the notches, so the ends are not a ruled cut."""
    length, point = hair_clumps(azimuth)
    return HAIR_TIP_CM * (0.4 * length + 0.6 * point * (0.4 + 0.6 * length) - 0.3)


def hair_coverage(points: np.ndarray, frame: HeadFrame, style: HairStyle, inset: float = 0.0,
                  drape: bool = False) -> np.ndarray:
    """Return (N,) in [0, 1]: how much the hair `style` covers each of (N, 3) scalp points (1 inside the hairline).

    The hairline is a height per azimuth about the skull's vertical axis (front, over the ears, at the nape; see
    `HairStyle`), faded over 1 cm; `inset` moves it that far up. `drape` adds a styled curtain's sides and back
    (outside `open_deg` of straight ahead, down to `drape` below the chin, give or take its clumped ends:
    `hair_tip_length`).
    """
    cover = smoothstep(-0.2, 0.8, hairline_height(points, frame, style, inset))
    if drape and style.drape is not None:
        cover = np.maximum(cover, curtain_coverage(points, frame, style))
    return cover


def curtain_coverage(points: np.ndarray, frame: HeadFrame, style: HairStyle) -> np.ndarray:
    """Return (N,) in [0, 1]: how much a styled curtain (`HairStyle.drape`; 0 for a style without one) covers each of
    (N, 3) points: outside `open_deg` of straight ahead, down to `drape` below the chin give or take its clumped ends
    (`hair_tip_length`)."""
    points = np.asarray(points, np.float64)
    if style.drape is None:
        return np.zeros(len(points))
    rel = points - frame.centre
    azimuth = np.arctan2(rel[:, 0], rel[:, 2])
    bottom = frame.chin_y - style.drape - hair_tip_length(azimuth)
    return (smoothstep(style.open_deg, style.open_deg + 6.0, np.abs(np.degrees(azimuth)))
            * smoothstep(bottom - 0.5, bottom, points[:, 1]))


def brow_weights(vertices: np.ndarray, landmarks: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Return (V,) in [0, 0.92]: how much of the brows' colour each vertex takes (tapered bands along landmarks 17-26,
    slightly below them, since they trace the brow's upper edge; only on `face`, a (V,) bool mask)."""
    out = np.zeros(len(vertices))
    xy = vertices[:, :2]
    for idx in (slice(17, 22), slice(22, 27)):
        line = landmarks[idx, :2].copy()
        if line[0, 0] > line[-1, 0]:
            line = line[::-1]
        line[:, 1] -= 0.35
        near = np.flatnonzero(face & (vertices[:, 2] > landmarks[idx, 2].min() - 2.0))
        d, t = _polyline_distance(xy[near], line)
        inner_at_end = abs(line[-1, 0]) < abs(line[0, 0])
        t_inner = t if inner_at_end else 1 - t  # 1 at the inner end
        half = 0.22 + 0.30 * t_inner
        out[near] = np.maximum(out[near], (1 - smoothstep(half * 0.55, half, d)) * 0.92)
    return out

IRIS_FIBRE_WAVES = (5, 9, 13)
"""Angular frequencies of the iris's fibre pattern: the ICT iris has ~36 vertices around its outer ring, so the painted
pattern stays below that ring's Nyquist limit (18)."""


def _iris_angle(eye: Eyeball, p: np.ndarray) -> np.ndarray:
    """Return (N,) angles of points around the eye's gaze axis (0 towards the head's up)."""
    up = np.array([0.0, 1.0, 0.0]) - eye.axis[1] * eye.axis
    up /= np.linalg.norm(up)
    side = np.cross(eye.axis, up)
    rel = p - eye.centre
    return np.arctan2(rel @ side, rel @ up)


def _lower_lid_margin(head: BlendshapeHead) -> np.ndarray:
    """Return indices of face vertices of the lower lids that lie within `WET_LINE_CM` of their eyeball (on the
    generic neutral, so the line follows every expression and identity)."""
    v = head.generic_neutral
    a, b = ICT_PARTS["face"]
    found = []
    for eye in eye_geometry(v):
        ball = v[eye.sclera.start:eye.iris.stop]
        lo, hi = ball.min(0) - WET_LINE_CM, ball.max(0) + WET_LINE_CM
        cand = a + np.flatnonzero(np.all((v[a:b] > lo) & (v[a:b] < hi), axis=1))
        cand = cand[v[cand, 1] < eye.centre[1] - 0.1]
        if not len(cand):
            continue
        d = np.sqrt(((v[cand][:, None, :] - ball[None]) ** 2).sum(-1).min(1))
        found.append(cand[d < WET_LINE_CM])
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def mouth_interior_light(head: BlendshapeHead) -> np.ndarray:
    """Return (V,) float32 factors on the sRGB albedo: how much light reaches each vertex inside the mouth (1 elsewhere).

    No renderer here casts shadows, and the inside of the mouth is lit only through the lips' opening: the front teeth
    keep `MOUTH_INTERIOR_FRONT`, and the light falls with depth behind them (on the generic neutral, so it follows the
    jaw) towards `MOUTH_INTERIOR_FLOOR` over `MOUTH_INTERIOR_DEPTH_CM`. Faces turned into the mouth rather than out
    towards the lips (the teeth's lingual sides, the tongue's back and the gums behind the teeth) get
    `MOUTH_LINGUAL_SHADE` more: at three-quarter such a face of a far-side tooth is what shows through the gap.
    """
    tb = ICT_PARTS["teeth"][1]
    mouth = np.arange(ICT_PARTS["mouth_socket"][0], tb)  # socket, eye sockets (skipped below), gums and tongue, teeth
    mouth = mouth[(mouth < ICT_PARTS["eye_sockets"][0]) | (mouth >= ICT_PARTS["eye_sockets"][1])]
    light = np.ones(head.num_vertices, np.float32)
    light[mouth] = _light_through_lips(head, mouth, MOUTH_INTERIOR_DEPTH_CM, turned=mouth >= ICT_PARTS["gums_tongue"][0])
    return light


def teeth_lingual_light(head: BlendshapeHead) -> np.ndarray:
    """Return (T,) float32 static factors on the teeth's sRGB albedo for `Appearance.teeth_shade`: `TEETH_LINGUAL_SHADE`
    on the faces turned into the mouth (the same facing rule as `mouth_interior_light`, on the side teeth of the
    tooth's form: `_smooth_facing`), 1 on those facing out. The
    renderers multiply it by the light through the lips' opening as posed in each frame (`renderers.teeth`)."""
    inward = smoothstep(0.1, -0.4, _smooth_facing(head))
    return (1 - (1 - TEETH_LINGUAL_SHADE) * inward).astype(np.float32)


def _teeth_faces(head: BlendshapeHead) -> tuple[np.ndarray, int]:
    """Return (the triangles of ICT's teeth part, indexed from its first vertex; the part's vertex count)."""
    ta, tb = ICT_PARTS["teeth"]
    return head.faces[((head.faces >= ta) & (head.faces < tb)).all(1)] - ta, tb - ta


def tooth_of_vertex(head: BlendshapeHead) -> np.ndarray:
    """Return (T,) int64: which tooth (a connected piece of ICT's teeth part; 32 on ICT) each tooth vertex belongs to,
    numbered in the order of each tooth's lowest vertex index."""
    f, n = _teeth_faces(head)
    return connected_pieces(f, n)


def connected_pieces(faces: np.ndarray, n: int) -> np.ndarray:
    """Return (n,) int64: the connected piece of (F, 3) `faces` over `n` vertices each vertex lies in, numbered in the
    order of each piece's lowest vertex index (scipy.sparse.csgraph.connected_components' labels on the same graph).

    Label propagation with pointer jumping in numpy: importing scipy.sparse.csgraph pulls in scipy.sparse.linalg and
    scipy.linalg, ~0.25 s of every renderer's set-up (each of `emoavatar animate`'s render workers paid it)."""
    edges = np.asarray(faces, np.int64)[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    root = np.arange(n, dtype=np.int64)
    while True:
        low = np.minimum(root[edges[:, 0]], root[edges[:, 1]])
        new = root.copy()
        np.minimum.at(new, root[edges[:, 0]], low)  # each piece's root takes the lowest root it touches
        np.minimum.at(new, root[edges[:, 1]], low)
        new = new[new]  # pointer jumping: a vertex follows its root's root
        while not np.array_equal(new, new[new]):
            new = new[new]
        if np.array_equal(new, root):
            return np.unique(root, return_inverse=True)[1].reshape(n).astype(np.int64)
        root = new


def _smoothed_over_side_teeth(head: BlendshapeHead, values: np.ndarray, times: int) -> np.ndarray:
    """Return (T, ...) per-tooth-vertex `values` averaged `times` times over each vertex's neighbours on its tooth
    (uniform weights), on the side teeth: blended in by the tooth's distance from the midline over
    `TEETH_SIDE_FROM_CM` on the generic neutral, so the incisors (thin: a few averages carry one side's value over the
    biting edge onto the other) keep theirs."""
    from scipy.sparse import coo_matrix, diags

    ta, tb = ICT_PARTS["teeth"]
    f, n = _teeth_faces(head)
    adj = coo_matrix((np.ones(6 * len(f)), (f[:, [0, 1, 2, 1, 2, 0]].ravel(), f[:, [1, 2, 0, 0, 1, 2]].ravel())),
                     shape=(n, n)).tocsr()
    adj.data[:] = 1.0  # an edge shared by two triangles counts once
    average = diags(1 / np.maximum(np.asarray(adj.sum(1)).ravel(), 1)) @ adj
    raw = np.asarray(values, np.float64)
    out = raw
    for _ in range(times):
        out = average @ out
    tooth = tooth_of_vertex(head)
    x = np.abs(np.bincount(tooth, head.generic_neutral[ta:tb, 0]) / np.bincount(tooth))[tooth]
    w = smoothstep(TEETH_SIDE_FROM_CM[0], TEETH_SIDE_FROM_CM[1], x).reshape((-1,) + (1,) * (raw.ndim - 1))
    return (1 - w) * raw + w * out


def _smooth_facing(head: BlendshapeHead) -> np.ndarray:
    """Return (T,) the teeth's `_arch_facing` (the vertex normal out of the dental arch), averaged over the side teeth's
    surface `TEETH_FACING_SMOOTHING` times: the facing of the tooth's form rather than of its cusps. The value is
    averaged before it is thresholded, so a broad outer or inner face keeps its side (averaging the thresholded shade
    instead carried the inner side's onto the outer faces of fear's corner teeth, 0.98 -> 0.81 of their light)."""
    ta, tb = ICT_PARTS["teeth"]
    facing = _arch_facing(head, np.arange(ta, tb))
    return _smoothed_over_side_teeth(head, facing, TEETH_FACING_SMOOTHING)


def teeth_sample_offset(head: BlendshapeHead) -> np.ndarray:
    """Return (T, 3) float32: from where each tooth vertex's per-frame light through the lips is sampled to the vertex,
    in the head's rest axes (the renderers subtract it from the vertex's position in the mouth's frame): on the side
    teeth the vertex's position averaged `TEETH_SAMPLE_SMOOTHING` times over its neighbours, which takes out the
    cusps and fissures (the light's ramp at a lip's edge, 0.4 cm, is only twice their height), 0 on the incisors."""
    ta, tb = ICT_PARTS["teeth"]
    v = np.asarray(head.neutral[ta:tb], np.float64)
    return (v - _smoothed_over_side_teeth(head, v, TEETH_SAMPLE_SMOOTHING)).astype(np.float32)


def teeth_buccal_facing(head: BlendshapeHead) -> np.ndarray:
    """Return (T,) float32 0..1: how far each tooth vertex's face looks out of the dental arch, at the lips and the cheek
    (its labial/buccal side, 1) rather than up or into the mouth (its biting surface or inner side, 0), on the generic
    neutral (on the side teeth, of the tooth's form: `_smooth_facing`). `Appearance.teeth_shade` darkens the faces that
    look at the cheek with depth (the buccal corridor)."""
    return smoothstep(0.3, 0.8, _smooth_facing(head)).astype(np.float32)


def _light_through_lips(head: BlendshapeHead, idx: np.ndarray, depth_cm: float, turned: np.ndarray) -> np.ndarray:
    """Return (len(idx),) light factors of mouth vertices `idx`: `MOUTH_INTERIOR_FRONT` at the front teeth falling to
    `MOUTH_INTERIOR_FLOOR` with depth behind them (Gaussian over `depth_cm`, on the generic neutral so it follows the
    jaw), times `MOUTH_LINGUAL_SHADE` on faces turned into the mouth where `turned` (the lining, which faces in by
    nature, is left out)."""
    v = head.generic_neutral
    ta, tb = ICT_PARTS["teeth"]
    front = v[ta:tb, 2].max()
    depth = np.maximum(front - v[idx, 2], 0.0)
    lit = MOUTH_INTERIOR_FLOOR + (MOUTH_INTERIOR_FRONT - MOUTH_INTERIOR_FLOOR) * np.exp(-(depth / depth_cm) ** 2)
    inward = _turned_into_mouth(head, idx) * turned
    return lit * (1 - (1 - MOUTH_LINGUAL_SHADE) * inward)


def _turned_into_mouth(head: BlendshapeHead, idx: np.ndarray) -> np.ndarray:
    """Return (len(idx),) 0..1: how far each vertex's normal is turned into the mouth, on the generic neutral."""
    return smoothstep(0.1, -0.4, _arch_facing(head, idx))


def _arch_facing(head: BlendshapeHead, idx: np.ndarray) -> np.ndarray:
    """Return (len(idx),) the horizontal part of each vertex's normal along the direction out of the dental arch, on
    the generic neutral: ~1 on a tooth's labial/buccal side, ~-1 on its lingual side, ~0 on a biting surface."""
    from avatar.blend import vertex_normals

    v = head.generic_neutral
    ta, tb = ICT_PARTS["teeth"]
    # Facing: the vertex normal against the horizontal direction out of the dental arch (from a point on the midline
    # behind the molars), so a tooth's labial/buccal side counts as facing out, its lingual side as facing in.
    normals = vertex_normals(v, head.faces)
    centre_z = v[ta:tb, 2].min() - 2.0
    out = v[idx][:, [0, 2]] - np.array([0.0, centre_z])
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
    return (normals[idx][:, [0, 2]] * out).sum(1)


@dataclass(frozen=True)
class Eyeball:
    """One ICT eyeball: its sclera and iris vertex ranges, its centre and gaze axis (painting, corneas, the cut cap)."""

    sclera: slice
    iris: slice
    centre: np.ndarray
    axis: np.ndarray

    def axial(self, p: np.ndarray) -> np.ndarray:
        """Return (N,) distances of points along the gaze axis from the centre (> 0: in front)."""
        return (p - self.centre) @ self.axis

    def radial(self, p: np.ndarray) -> np.ndarray:
        """Return (N,) distances of points from the gaze axis."""
        rel = p - self.centre
        return np.linalg.norm(rel - (rel @ self.axis)[:, None] * self.axis, axis=1)


def eye_geometry(v: np.ndarray) -> list[Eyeball]:
    """Return each ICT eyeball's parts, centre and gaze axis (centre -> centroid of its iris sphere)."""
    eyes = []
    for sclera, iris in ((ICT_SCLERA_IRIS[0]), (ICT_SCLERA_IRIS[1])):
        centre = v[sclera[0]:iris[1]].mean(0)
        # Both parts are spheres; the iris sphere sits forward, so its centroid gives the gaze axis.
        axis = v[iris[0]:iris[1]].mean(0) - v[sclera[0]:sclera[1]].mean(0)
        axis = axis / np.linalg.norm(axis)
        eyes.append(Eyeball(slice(*sclera), slice(*iris), centre, axis))
    return eyes


# (sclera range, iris range) per eyeball, from ICT-FaceKit's README (end exclusive).
ICT_SCLERA_IRIS = (((21451, 22221), (22221, 23021)), ((23021, 23791), (23791, 24591)))


