"""Returns portrait conditions: emotion + intensity, FACS action units or valence/arousal, resolved to one AU spec.

The portrait models are conditioned on the same AU catalogue that drives the 3D head (`avatar.facs`), so a
condition is resolved exactly as `generators.expression.expression_aus` resolves it for a pose: emotion labels
through the FACS prototypes (`avatar.emotion.DEFAULT_PROTOTYPES`), valence/arousal through the circumplex
mixture, AUs as given. A model reads `PortraitCondition.vector()`: each AU's (left, right) intensity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar.emotion import EMOTIONS, Emotion, va_to_mixture
from avatar.errors import AvatarInputError
from avatar.facs import ActionUnits
from avatar.validation import check_range


@dataclass(frozen=True)
class PortraitCondition:
    """One resolved condition: the AUs every model reads, and the emotion guidance aims at (None for bare AUs).

    aus: the `ActionUnits` to show. emotion: the label a critic is asked to read (the given label; for a
    valence/arousal point its strongest circumplex component; None for AUs). kind: "emotion", "aus", "va"
    or "neutral". source: the caller's spec, for reports.
    """

    aus: ActionUnits
    emotion: str | None
    kind: str
    source: dict[str, Any]

    def vector(self) -> np.ndarray:
        """Return the (2 * NUM_AU,) float32 model input: left intensities of `AU_NUMBERS`, then right ones."""
        return self.aus.to_sides().reshape(-1)

    def arkit(self) -> np.ndarray:
        """Return the (52,) float32 ARKit weights of these AUs (what the head shows for the same condition)."""
        return self.aus.to_arkit()

    def to_dict(self) -> dict[str, Any]:
        """Return the condition as JSON-able data: its kind, the caller's spec, target emotion and AUs."""
        return {"kind": self.kind, **self.source, "target_emotion": self.emotion,
                "aus": {k: round(float(v), 4) for k, v in self.aus.to_dict().items()}}


def resolve_condition(emotion: Emotion | str | None = None, intensity: float = 1.0,
                      aus: ActionUnits | Mapping[Any, float] | str | None = None,
                      va: tuple[float, float] | str | None = None) -> PortraitCondition:
    """Return the `PortraitCondition` of one of emotion (+ intensity in [0, 1]), aus or va; none given is neutral.

    Raises AvatarInputError (one line, quoting the value) for an unknown emotion or AU, an intensity or AU
    outside [0, 1], a VA point outside [-1, 1], or more than one kind of condition.
    """
    from generators.expression import expression_aus

    given = [k for k, v in (("emotion", emotion), ("aus", aus), ("va", va)) if v is not None]
    if len(given) > 1:
        raise AvatarInputError(f"give only one of emotion, aus or va; got {' and '.join(given)}")
    scale = check_range(intensity, "intensity")
    if isinstance(va, str):
        va = parse_va(va)
    if emotion is not None:
        emo = Emotion.coerce(emotion)
        if emo.is_va:
            return resolve_condition(va=emo.va, intensity=intensity)
        label = str(emo.label)
        got = expression_aus(emotion=emo, intensity=scale)
        # A label at intensity 0 is neutral: guidance then aims at "neutral", not at an emotion it cannot show.
        target = label if emo.intensity * scale > 0 else "neutral"
        return PortraitCondition(got, target, "emotion", {"emotion": label, "intensity": round(emo.intensity * scale, 4)})
    if aus is not None:
        got = expression_aus(aus=aus, intensity=scale)
        return PortraitCondition(got, None, "aus", {"intensity": scale})
    if va is not None:
        got = expression_aus(va=va, intensity=scale)
        v, a = (float(x) for x in va)  # already range-checked by expression_aus
        mix = va_to_mixture(v, a)
        return PortraitCondition(got, max(mix, key=mix.get), "va", {"va": [v, a], "intensity": scale})
    return PortraitCondition(ActionUnits(), "neutral", "neutral", {})


def parse_va(text: str) -> tuple[float, float]:
    """Return (valence, arousal) from the CLI form "-0.6,0.7", each checked to lie in [-1, 1]."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        v, a = (float(p) for p in parts)
    except ValueError:
        raise AvatarInputError(f"va must be 'valence,arousal' with two numbers in -1..1, got {text!r}") from None
    return check_range(v, "valence", -1.0), check_range(a, "arousal", -1.0)


def emotion_index(label: str) -> int:
    """Return the column of `label` in `avatar.emotion.EMOTIONS` (the critic's log-probability order)."""
    try:
        return EMOTIONS.index(label)
    except ValueError:
        raise AvatarInputError(f"unknown emotion {label!r}: use one of {', '.join(EMOTIONS)}") from None
