"""Returns the Shading group: the renderer's appearance switches as checkboxes, and the Appearance a choice of them asks for.

One group above the tabs applies to every render the Expression, Speech and Fidelity tabs make, as `--no-cavity
--no-wrinkles --mouth-shadow --catch-lights --no-skin-detail --no-skin-regions --no-subsurface --no-ambient-occlusion
--shadows --no-teeth-shade` do on the command line and `appearance=` does in Python. The boxes
start at `avatar.appearance.Appearance`'s own defaults, so an untouched page renders what `avatar.render` does.
Beside it, the head's one switch of its shapes: the `Brow lowerer` slider (`--brow-lowerer`, `brow_lowerer=`; the
Expression, Speech and Fidelity tabs' renders), starting at the shipped `avatar.brow_lowerer.BROW_LOWERER`, and the
Look row: skin tone, eye colour, hair style, hair colour and clothing colour, by name (`--skin --eyes --hair-style
--hair-colour --clothing-colour`, the `Appearance` fields of the same names), starting at `Appearance()`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from avatar.errors import AvatarInputError

if TYPE_CHECKING:
    from avatar.appearance import Appearance

SWITCHES: dict[str, str] = {
    "cavity": "cavity shading (folds and hollows darkened)",
    "wrinkles": "expression lines",
    "mouth_shadow": "mouth shadow (an open mouth darkened with depth)",
    "catch_lights": "catch-lights on the corneas",
    "skin_detail": "skin detail (pores and fine lines)",
    "skin_regions": "skin highlight by region (oily T-zone, rough cheeks, glossy lips)",
    "subsurface": "subsurface warmth (ears, nose wings, eyelids)",
    "ambient_occlusion": "ambient occlusion (baked per identity)",
    "shadows": "soft shadows from the key light",
    "hair": "hair (geometry, strand highlights)",
    "brow_shell": "brows with depth (a raised shell)",
    "clothing": "clothing at the neck and shoulders",
    "teeth_shade": "teeth in the mouth's shade (side and far teeth darker)",
    "mouth_interior": "mouth interior (teeth, gums, tongue shaded inside the mouth)",
    "eye_detail": "eye detail (iris fibres, limbal ring, wet line at the lid)",
}
"""The `Appearance` switches the group shows, in its order, with their checkbox labels."""


LOOK: dict[str, str] = {
    "skin": "Skin tone",
    "eyes": "Eyes",
    "hair_style": "Hair style",
    "hair_colour": "Hair colour",
    "clothing_colour": "Clothing colour",
}
"""The `Appearance` colour and style fields the Look row sets, in its order, with their dropdown labels."""


def look_choices() -> dict[str, list[str]]:
    """Return the names each Look field offers (`avatar.appearance`'s tables, in their order)."""
    from avatar.appearance import CLOTHING_COLOURS, EYE_COLOURS, HAIR_COLOURS, HAIR_STYLES, SKIN_TONES

    return {"skin": list(SKIN_TONES), "eyes": list(EYE_COLOURS), "hair_style": list(HAIR_STYLES),
            "hair_colour": list(HAIR_COLOURS), "clothing_colour": list(CLOTHING_COLOURS)}


def look_of(values: Sequence[Any] | None) -> dict[str, str]:
    """Return the Look row's `Appearance` fields from its dropdowns' values, in `LOOK` order (None: the defaults, {});
    raise AvatarInputError naming the field and its choices for a name it does not offer."""
    if values is None:
        return {}
    if len(values) != len(LOOK):
        raise AvatarInputError(f"the look takes {len(LOOK)} values ({', '.join(LOOK)}), got {len(values)}")
    choices = look_choices()
    out = {}
    for (name, label), value in zip(LOOK.items(), values):
        if value is None:  # an API call that leaves one out: the library's default
            continue
        if value not in choices[name]:
            raise AvatarInputError(f"unknown {label.lower()} {value!r}: use one of {', '.join(choices[name])}")
        out[name] = value
    return out


def default_switches() -> list[str]:
    """Return the switches `Appearance()` turns on (the library's defaults), in `SWITCHES` order."""
    from avatar.appearance import Appearance

    library = Appearance()
    return [name for name in SWITCHES if getattr(library, name)]


def appearance_of(chosen: Sequence[str] | None, look: Sequence[Any] | None = None) -> Appearance:
    """Return the Appearance with exactly the `chosen` switches on (None: the library's defaults) and the Look row's
    `look` values (skin, eyes, hair style, hair colour, clothing colour; None: the defaults).

    Raises AvatarInputError naming the switches there are when `chosen` holds anything else (`look_of` for the look).
    """
    from avatar.appearance import Appearance

    fields = look_of(look)
    if chosen is None:  # an API call that leaves the group out
        return Appearance(**fields)
    if isinstance(chosen, str) or not all(isinstance(name, str) for name in chosen):
        raise AvatarInputError(f"shading must be a list of switch names ({', '.join(SWITCHES)}), got {chosen!r}")
    unknown = [name for name in chosen if name not in SWITCHES]
    if unknown:
        raise AvatarInputError(f"unknown shading switch {unknown[0]!r}: use any of {', '.join(SWITCHES)}")
    return Appearance(**{name: name in chosen for name in SWITCHES}, **fields)


def describe(appearance: Appearance | None) -> str:
    """Return how `appearance`'s switches and look differ from the library's, e.g. "cavity off, catch-lights on, skin tone
    dark" ("" when they don't)."""
    from avatar.appearance import Appearance

    if appearance is None:
        return ""
    library = Appearance()
    changed = [name for name in SWITCHES if getattr(appearance, name) != getattr(library, name)]
    looks = [f"{LOOK[name].lower()} {getattr(appearance, name)}" for name in LOOK
             if getattr(appearance, name) != getattr(library, name)]
    return ", ".join([f"{name.replace('_', '-')} {'on' if getattr(appearance, name) else 'off'}" for name in changed] + looks)


BROW_LOWERER_LABEL = "Brow lowerer"
"""The label of the brow lowerer's slider (docs/options.md)."""


def brow_lowerer_of(value: Any) -> float | None:
    """Return the slider's strength checked as every interface checks it (0..2; None: the shipped default)."""
    from avatar.brow_lowerer import check_brow_lowerer

    return check_brow_lowerer(value, "brow lowerer")


def build_look() -> list[Any]:
    """Return the Look row's dropdowns (skin tone, eyes, hair style, hair colour, clothing colour; `LOOK` order), each at
    `Appearance()`'s value, after laying them out in the current Blocks."""
    import gradio as gr

    from avatar.appearance import Appearance

    library, choices = Appearance(), look_choices()
    return [gr.Dropdown(choices[name], value=getattr(library, name), label=label, elem_id=f"look-{name.replace('_', '-')}",
                        min_width=110) for name, label in LOOK.items()]


def build_brow_lowerer() -> Any:
    """Return the Brow lowerer slider (0..2, at the shipped strength) after laying it out in the current Blocks."""
    import gradio as gr

    from avatar.brow_lowerer import BROW_LOWERER, BROW_LOWERER_MAX

    return gr.Slider(0, BROW_LOWERER_MAX, value=BROW_LOWERER, step=0.1, label=BROW_LOWERER_LABEL, elem_id="brow-lowerer",
                     info="AU4 correction on the head's browDown: the inner brows drawn together (0 = ICT's own shapes)")


def build() -> Any:
    """Return the Shading checkbox group (its value: the names of the switches on) after laying it out in the current Blocks."""
    import gradio as gr

    return gr.CheckboxGroup([(label, name) for name, label in SWITCHES.items()], value=default_switches(), label="Shading",
                            info="for the Expression, Speech and Fidelity renders; the defaults read best to judges that never chose "
                                 "them (docs/legibility.md)", elem_id="shading")
