"""Emotions: the AffectNet-8 vocabulary, EMFACS prototypes (emotion -> AUs), mixtures and valence/arousal.

Prototype AUs follow EMFACS (Friesen & Ekman 1983): happy 6+12, sad 1+4+15, surprise 1+2+5+26,
fear 1+2+4+5+7+20+26, anger 4+5+7+23, disgust 9+15+16, contempt R12+R14, each in the variant (open-mouthed,
teeth-showing, crying) that judges trained on photographs read best on the shipped head
(`scripts/select_prototypes.py`); what each adds beyond the core set is marked in `DEFAULT_PROTOTYPES`.

Intensity scales every AU of a prototype linearly: ARKit weights are already roughly linear in
perceived strength on this head, and a linear map keeps `emotion_to_aus(e, s)` equal to
``s * emotion_to_aus(e, 1)`` so that mixtures and timelines interpolate predictably.

Every function that reads prototypes takes ``prototypes=``: a {label: AUs} mapping merged over
the defaults, so a user can override a label or add a new one (``{"pain": "AU4=0.8,AU6=0.7,AU7=0.8,AU10=0.6"}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, UnknownNameError
from avatar.facs import ActionUnits, NUM_AU, sides_to_arkit
from avatar.validation import check_range

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
"""The vocabulary, in AffectNet-8 order (recognizers' class indices follow it)."""

SYNONYMS: Mapping[str, str] = MappingProxyType({
    "none": "neutral", "calm": "neutral", "rest": "neutral",
    "happiness": "happy", "joy": "happy", "joyful": "happy", "smile": "happy", "smiling": "happy",
    "sadness": "sad", "unhappy": "sad", "sorrow": "sad",
    "surprised": "surprise", "astonished": "surprise", "amazed": "surprise",
    "fearful": "fear", "afraid": "fear", "scared": "fear",
    "disgusted": "disgust",
    "angry": "anger", "mad": "anger",
    "contemptuous": "contempt", "scorn": "contempt",
})
"""Common spellings accepted for the eight labels (lower-case)."""

# Apex AU intensities (intensity 1.0) per emotion. Each is the EMFACS variant that judges trained on photographs
# read best on our head, chosen by scripts/select_prototypes.py (FER2013-trained judges on identities 101-140;
# validated on face-api and identities 0, 7, 21, 80, 95, which the choice never saw; docs/refinement.md).
# In this toolkit's AU -> ARKit map the visible upper-lip raise is AU11's row (mouthUpperUp), AU10's is
# mouthShrugUpper (avatar.facs), so the "upper lip raiser" variants carry AU11.
DEFAULT_PROTOTYPES: Mapping[str, ActionUnits] = MappingProxyType({
    "neutral": ActionUnits(),
    # A broad open smile showing the upper teeth (6+12+25+26): the most common "happy" in photographs.
    "happy": ActionUnits({"AU6": 1.0, "AU10": 0.3, "AU12": 1.0, "AU25": 1.0, "AU26": 0.3}),
    # The crying variant of 1+4+15+17: oblique brows (AU4 below AU1), cheeks raised, lips stretched a little,
    # gaze lowered.
    "sad": ActionUnits({"AU1": 1.0, "AU4": 0.7, "AU6": 0.4, "AU15": 1.0, "AU17": 0.6, "AU20": 0.3, "AU64": 0.2}),
    # The jaw dropped past AU26's range (1+2+5+27): the smaller 1+2+5+26 opening read as neutral or fear.
    "surprise": ActionUnits({"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU27": 0.6}),
    # 1+2+4+5+20+25+26 with the upper lip raised off the teeth.
    "fear": ActionUnits({"AU1": 1.0, "AU2": 0.7, "AU4": 0.7, "AU5": 1.0, "AU11": 0.4, "AU20": 1.0, "AU25": 1.0, "AU26": 0.3}),
    # Nose wrinkle with the upper lip raised and the chin pushed up (9+10+17), brows lowered, lids tightened.
    "disgust": ActionUnits({"AU4": 0.4, "AU7": 0.4, "AU9": 1.0, "AU11": 0.8, "AU17": 0.5}),
    # The open-mouthed form of 4+5+7 (with 10+16+22+25+26): the closed, pressed-lip form read as neutral.
    "anger": ActionUnits({"AU4": 1.0, "AU5": 0.8, "AU7": 0.5, "AU11": 0.6, "AU16": 0.6, "AU22": 0.4, "AU25": 1.0, "AU26": 0.6}),
    # Unilateral, on the subject's right; AU14 stronger than AU12 so it reads as a smirk, not a half smile.
    "contempt": ActionUnits({"R12": 0.6, "R14": 0.9}),
})

# Valence/arousal anchors in [-1, 1], after Russell's (1980) circumplex placements of the
# corresponding affect words (happy ~ (0.9, 0.2), sad ~ (-0.8, -0.4), afraid and angry at high
# arousal and negative valence) and the spread of AffectNet's per-class annotations, spaced
# around the circle (about 0.35 apart at least) so that every class owns a region.
CIRCUMPLEX: Mapping[str, tuple[float, float]] = MappingProxyType({
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.25),
    "sad": (-0.7, -0.45),
    "surprise": (0.35, 0.8),
    "fear": (-0.3, 0.8),
    "disgust": (-0.75, 0.3),
    "anger": (-0.6, 0.6),
    "contempt": (-0.7, 0.0),
})

VA_SIGMA = 0.25
"""Width of the Gaussian kernel `va_to_mixture` puts on each anchor (in VA units)."""


def _merged(prototypes: Mapping[str, Any] | None) -> dict[str, ActionUnits]:
    table = dict(DEFAULT_PROTOTYPES)
    for label, aus in (prototypes or {}).items():
        key = str(label).strip().lower()
        table[SYNONYMS.get(key, key)] = ActionUnits.coerce(aus)
    return table


def normalize_emotion(label: str, prototypes: Mapping[str, Any] | None = None) -> str:
    """Return the canonical label for `label` (case-insensitive, synonyms such as "angry" accepted).

    Labels added through `prototypes` are accepted too. Raises `UnknownNameError` otherwise.
    """
    if not isinstance(label, str):
        raise AvatarInputError(f"emotion must be a label such as 'happy', got {label!r}")
    key = label.strip().lower()
    key = SYNONYMS.get(key, key)
    if key in EMOTIONS or (prototypes and key in _merged(prototypes)):
        return key
    extra = [k for k in _merged(prototypes) if k not in EMOTIONS] if prototypes else []
    valid = ", ".join(EMOTIONS + tuple(extra))
    raise UnknownNameError(f"unknown emotion {label!r}: use one of {valid}")


# --------------------------------------------------------------------------------- Emotion


@dataclass(frozen=True)
class Emotion:
    """An emotion: a `label` with an `intensity` in [0, 1], or a point (`valence`, `arousal`) in [-1, 1]^2.

    ``Emotion("angry", 0.9)`` normalises the label to "anger"; ``Emotion(valence=0.8, arousal=0.5)``
    has no label of its own (`dominant` gives the nearest one). The constructor accepts the eight
    labels and their synonyms; a label added through user prototypes comes from
    ``Emotion.parse("pain@0.5", prototypes=...)``.
    """

    label: str | None = None
    intensity: float = 1.0
    valence: float | None = None
    arousal: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "intensity", check_range(self.intensity, "emotion intensity"))
        has_va = self.valence is not None or self.arousal is not None
        if has_va:
            if self.label is not None:
                raise AvatarInputError("give an emotion label or valence/arousal, not both")
            if self.valence is None or self.arousal is None:
                raise AvatarInputError("valence/arousal needs both values, e.g. Emotion(valence=0.8, arousal=0.5)")
            object.__setattr__(self, "valence", check_range(self.valence, "valence", -1.0))
            object.__setattr__(self, "arousal", check_range(self.arousal, "arousal", -1.0))
        elif self.label is None:
            object.__setattr__(self, "label", "neutral")
        else:
            object.__setattr__(self, "label", normalize_emotion(self.label))

    @classmethod
    def _custom(cls, label: str, intensity: float) -> Emotion:
        """Return an Emotion with a label from user prototypes (validated by the caller)."""
        obj = cls.__new__(cls)
        for name, value in (("label", label), ("intensity", check_range(intensity, "emotion intensity")),
                            ("valence", None), ("arousal", None)):
            object.__setattr__(obj, name, value)
        return obj

    @classmethod
    def parse(cls, text: str, prototypes: Mapping[str, Any] | None = None) -> Emotion:
        """Return the Emotion written as "anger", "anger@0.9", or "va=0.8/0.5" (valence/arousal)."""
        if isinstance(text, Emotion):
            return text
        if not isinstance(text, str) or not text.strip():
            raise AvatarInputError(f"emotion must be text like 'happy' or 'anger@0.9', got {text!r}")
        body = text.strip()
        m = re.fullmatch(r"va\s*[=:]\s*([^/]+)/(.+)", body, flags=re.IGNORECASE)
        if m:
            try:
                v, a = float(m.group(1)), float(m.group(2))
            except ValueError:
                raise AvatarInputError(f"malformed valence/arousal {text!r}: write it like 'va=0.8/0.5'") from None
            return cls(valence=v, arousal=a)
        label, sep, value = body.partition("@")
        if sep:
            try:
                intensity = float(value)
            except ValueError:
                raise AvatarInputError(
                    f"malformed emotion {text!r}: intensity {value.strip()!r} is not a number, write e.g. 'anger@0.9'"
                ) from None
        else:
            intensity = 1.0
        label = normalize_emotion(label, prototypes)
        intensity = check_range(intensity, f"intensity in {text!r}")
        return cls(label, intensity) if label in EMOTIONS else cls._custom(label, intensity)

    @classmethod
    def coerce(cls, value: Emotion | str, prototypes: Mapping[str, Any] | None = None) -> Emotion:
        """Return `value` (an Emotion, or text for `parse`) as an Emotion."""
        if isinstance(value, Emotion):
            return value
        if not isinstance(value, str):
            raise AvatarInputError(f"emotion must be a label such as 'happy' or an Emotion, got {value!r}")
        return cls.parse(value, prototypes)

    @property
    def is_va(self) -> bool:
        """Return True when this emotion is a valence/arousal point rather than a label."""
        return self.valence is not None

    @property
    def va(self) -> tuple[float, float]:
        """Return (valence, arousal): given, or the label's circumplex anchor scaled by intensity."""
        if self.valence is not None and self.arousal is not None:
            return (self.valence, self.arousal)
        v, a = CIRCUMPLEX.get(str(self.label), (0.0, 0.0))
        return (v * self.intensity, a * self.intensity)

    def dominant(self) -> str:
        """Return the label, or for a VA point the label with the largest `va_to_mixture` weight."""
        if self.label is not None:
            return self.label
        mix = va_to_mixture(*self.va)
        return max(mix, key=mix.__getitem__)

    def to_aus(self, prototypes: Mapping[str, Any] | None = None) -> ActionUnits:
        """Return the ActionUnits of this emotion (prototype scaled by intensity, or the VA blend)."""
        if self.is_va:
            return va_to_aus(self.valence, self.arousal, prototypes=prototypes)  # type: ignore[arg-type]
        return emotion_to_aus(str(self.label), self.intensity, prototypes=prototypes)

    def to_arkit(self, prototypes: Mapping[str, Any] | None = None) -> np.ndarray:
        """Return the (52,) float32 ARKit weights of this emotion."""
        return self.to_aus(prototypes).to_arkit()

    def __str__(self) -> str:
        if self.is_va:
            return f"va={self.valence:g}/{self.arousal:g}"
        return str(self.label) if self.intensity == 1.0 else f"{self.label}@{self.intensity:g}"


# ------------------------------------------------------------------------------- functions


def prototype(label: str, prototypes: Mapping[str, Any] | None = None) -> ActionUnits:
    """Return the apex ActionUnits (intensity 1) of an emotion label."""
    return _merged(prototypes)[normalize_emotion(label, prototypes)]


def emotion_to_aus(label: str, intensity: float = 1.0, prototypes: Mapping[str, Any] | None = None) -> ActionUnits:
    """Return the ActionUnits of `label` at `intensity` in [0, 1]: its prototype scaled linearly."""
    s = check_range(intensity, f"intensity of {label!r}")
    return prototype(label, prototypes).scaled(s)


def emotion_to_arkit(label: str, intensity: float = 1.0, prototypes: Mapping[str, Any] | None = None) -> np.ndarray:
    """Return the (52,) float32 ARKit weights of `label`'s FACS prototype at `intensity`.

    These are the EMFACS poses of `DEFAULT_PROTOTYPES`. The toolkit's own paths (`avatar.pose`, render, animate,
    batch) pose emotion labels with `generators.expression.expression_weights`, whose default table refines these
    poses' AU intensities (docs/refinement.md); `prototypes="facs"` there gives exactly this.
    """
    return emotion_to_aus(label, intensity, prototypes).to_arkit()


def _check_mixture(mixture: Mapping[str, Any], prototypes: Mapping[str, Any] | None) -> dict[str, float]:
    if not isinstance(mixture, Mapping):
        raise AvatarInputError(f"a mixture must be a mapping {{label: weight}}, e.g. {{'happy': 0.7, 'surprise': 0.3}}, got {mixture!r}")
    out: dict[str, float] = {}
    for label, weight in mixture.items():
        key = normalize_emotion(label, prototypes)
        out[key] = out.get(key, 0.0) + check_range(weight, f"mixture weight of {label!r}")
    return out


def mixture_to_aus(
    mixture: Mapping[str, float], prototypes: Mapping[str, Any] | None = None, combine: str = "sum"
) -> ActionUnits:
    """Return the ActionUnits of a {label: weight} mixture, weights in [0, 1].

    combine="sum" (default): each AU is the weighted sum of the prototypes' AUs, clipped to 1, so
    weights that add up to 1 interpolate between prototypes (as timelines do) and weights below
    1 in total fade toward neutral. combine="max": each AU takes its strongest weighted
    prototype, so emotions that share AUs (fear and surprise share 1, 2, 5) do not add up.
    Side-specific entries are combined per side.
    """
    if combine not in ("sum", "max"):
        raise AvatarInputError(f"combine must be 'sum' or 'max', got {combine!r}")
    weights = _check_mixture(mixture, prototypes)
    table = _merged(prototypes)
    stack = [w * table[label].to_sides() for label, w in weights.items()]
    if not stack:
        return ActionUnits()
    sides = np.sum(stack, axis=0) if combine == "sum" else np.max(stack, axis=0)
    return ActionUnits.from_sides(sides, min_intensity=1e-6, tol=1e-6)


def va_to_mixture(
    valence: float, arousal: float, coordinates: Mapping[str, tuple[float, float]] | None = None,
    sigma: float = VA_SIGMA,
) -> dict[str, float]:
    """Return {label: weight} (weights sum to 1, all labels present) for a valence/arousal point.

    Each label's weight is a Gaussian kernel of its distance to the point, exp(-d^2 / 2 sigma^2),
    normalised over the labels (a softmax of -d^2 / 2 sigma^2). Neutral's anchor at the origin
    makes the point's radius act as intensity: at an anchor the label dominates, halfway to the
    origin it shares about evenly with neutral. `coordinates` overrides or adds anchors.
    """
    v = check_range(valence, "valence", -1.0)
    a = check_range(arousal, "arousal", -1.0)
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise AvatarInputError(f"sigma must be a positive number, got {sigma!r}")
    anchors = {**CIRCUMPLEX, **(coordinates or {})}
    labels = list(anchors)
    pts = np.asarray([anchors[k] for k in labels], dtype=np.float64)
    d2 = ((pts - np.array([v, a])) ** 2).sum(axis=1)
    logits = -d2 / (2 * sigma**2)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return {k: float(x) for k, x in zip(labels, p)}


def va_to_aus(
    valence: float, arousal: float, prototypes: Mapping[str, Any] | None = None,
    coordinates: Mapping[str, tuple[float, float]] | None = None, sigma: float = VA_SIGMA,
) -> ActionUnits:
    """Return the ActionUnits of a valence/arousal point: `mixture_to_aus(va_to_mixture(...))`, summed."""
    mix = va_to_mixture(valence, arousal, coordinates=coordinates, sigma=sigma)
    labels = set(_merged(prototypes))
    return mixture_to_aus({k: w for k, w in mix.items() if k in labels}, prototypes=prototypes)


def mixture_to_va(mixture: Mapping[str, float], prototypes: Mapping[str, Any] | None = None) -> tuple[float, float]:
    """Return the (valence, arousal) of a mixture: the weighted sum of its labels' anchors, clipped to [-1, 1]."""
    weights = _check_mixture(mixture, prototypes)
    v = sum(w * CIRCUMPLEX.get(k, (0.0, 0.0))[0] for k, w in weights.items())
    a = sum(w * CIRCUMPLEX.get(k, (0.0, 0.0))[1] for k, w in weights.items())
    return (float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1)))


def prototype_matrix(prototypes: Mapping[str, Any] | None = None) -> np.ndarray:
    """Return (len(EMOTIONS), n_AU) float32 apex AU intensities (stronger side) in EMOTIONS order."""
    table = _merged(prototypes)
    out = np.zeros((len(EMOTIONS), NUM_AU), np.float32)
    for i, label in enumerate(EMOTIONS):
        out[i] = table[label].to_vector()
    return out


def arkit_prototypes(prototypes: Mapping[str, Any] | None = None) -> np.ndarray:
    """Return (len(EMOTIONS), 52) float32 apex ARKit weights in EMOTIONS order (e.g. for nearest-prototype labelling)."""
    table = _merged(prototypes)
    return np.stack([sides_to_arkit(table[label].to_sides()) for label in EMOTIONS])
