"""Static and keyframed expressions: emotion / AUs / valence-arousal / mixture -> ARKit weights.

`expression_weights` gives one (52,) pose; `Keyframe` + `timeline` give an `ExpressionSequence`
that holds each keyframe's pose and eases into the next one over `transition` seconds, arriving
exactly at the next keyframe's time. `parse_emotion_track` reads the CLI syntax
"0:neutral,1.5:anger@0.9,4:neutral".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from avatar.constants import DEFAULT_FPS
from avatar.emotion import Emotion, mixture_to_aus, va_to_aus, va_to_mixture
from avatar.errors import AvatarInputError, FileFormatError, UnknownNameError
from avatar.facs import ActionUnits
from avatar.rig import ARKIT_NAMES, NUM_ARKIT
from avatar.sequence import ExpressionSequence
from avatar.validation import check_fps, check_range

Easing = Callable[[np.ndarray], np.ndarray]


def _check_va(va: Any) -> tuple[float, float]:
    if isinstance(va, Emotion) and va.is_va:
        return va.va
    try:
        v, a = va
    except (TypeError, ValueError):
        raise AvatarInputError(f"va must be a (valence, arousal) pair in -1..1, got {va!r}") from None
    return check_range(v, "valence", -1.0), check_range(a, "arousal", -1.0)


def _one_condition(**given: Any) -> tuple[str, Any] | None:
    present = [(k, v) for k, v in given.items() if v is not None]
    if len(present) > 1:
        names = " and ".join(k for k, _ in present)
        raise AvatarInputError(f"give only one of emotion, aus, va or mixture; got {names}")
    return present[0] if present else None


def expression_aus(
    emotion: Emotion | str | None = None,
    intensity: float = 1.0,
    aus: ActionUnits | Mapping[Any, float] | str | None = None,
    va: tuple[float, float] | None = None,
    mixture: Mapping[str, float] | None = None,
    prototypes: Mapping[str, Any] | None = None,
) -> ActionUnits:
    """Return the ActionUnits of one condition (see `expression_weights`), scaled by `intensity`."""
    scale = check_range(intensity, "intensity")
    picked = _one_condition(emotion=emotion, aus=aus, va=va, mixture=mixture)
    if picked is None:
        return ActionUnits()
    kind, value = picked
    if kind == "emotion":
        result = Emotion.coerce(value, prototypes).to_aus(prototypes)
    elif kind == "aus":
        result = ActionUnits.coerce(value)
    elif kind == "va":
        result = va_to_aus(*_check_va(value), prototypes=prototypes)
    else:
        result = mixture_to_aus(value, prototypes=prototypes)
    return result.scaled(scale) if scale != 1.0 else result


def expression_weights(
    emotion: Emotion | str | None = None,
    intensity: float = 1.0,
    aus: ActionUnits | Mapping[Any, float] | str | None = None,
    va: tuple[float, float] | None = None,
    mixture: Mapping[str, float] | None = None,
    prototypes: Mapping[str, Any] | str | None = None,
) -> np.ndarray:
    """Return (52,) float32 ARKit weights in [0, 1] for one condition; none given = neutral (zeros).

    Give at most one of:
        emotion: a label ("happy", synonyms such as "angry"), "anger@0.9", or an `Emotion`
            (label or valence/arousal).
        aus: `ActionUnits`, a dict ({12: 0.8, "R14": 0.5}) or the CLI string "AU6=0.8,AU12=1".
        va: (valence, arousal) in [-1, 1], blended over the circumplex (`avatar.emotion.va_to_mixture`).
        mixture: {label: weight}, weights in [0, 1] (`avatar.emotion.mixture_to_aus`, summed).
    `intensity` in [0, 1] scales the resulting AUs (it multiplies an Emotion's own intensity).
    `prototypes` picks the emotion table: "facs" (EMFACS AU prototypes through the AU -> ARKit matrix),
    "refined" (the shipped recognizer-refined ARKit table, `refined_weights`), None for
    `DEFAULT_PROTOTYPE_TABLE`; or a mapping that overrides or extends the emotion -> AU table (FACS path).
    The refined table applies to emotion labels only; AUs, valence/arousal and mixtures go through FACS.
    """
    table, au_table = _tables(prototypes)
    if table == "refined" and emotion is not None and aus is None and va is None and mixture is None:
        emo = emotion if isinstance(emotion, Emotion) else Emotion.coerce(emotion)
        if not emo.is_va and emo.label in refined_table():
            return refined_weights(str(emo.label), emo.intensity * check_range(intensity, "intensity"))
    return expression_aus(emotion, intensity, aus, va, mixture, au_table).to_arkit()


# ------------------------------------------------------------------------ prototype tables

PROTOTYPE_TABLES: tuple[str, ...] = ("facs", "refined")
"""Emotion tables `expression_weights(prototypes=...)` accepts by name."""

REFINED_TABLE_PATH = Path(__file__).parent / "data" / "arkit_prototypes_v4.json"
"""The recognizer-refined ARKit prototype table: scripts/refine_prototypes.py's table v3 (arkit_prototypes_v3.json),
with sad's, disgust's and anger's upper lids lowered (AU43 0.25 / 0.2 / 0.2) and a broader smile (AU11 0.2 and AU14
0.5 on happy; scripts/select_prototype_edits.py): docs/refinement.md, docs/legibility.md ("Lowered lids", "A broader
smile")."""

# Table v3 (each EMFACS prototype's AU intensities refined against the two FER2013-trained critics by central
# differences) is the default because face-api, which the optimisation never used, reads it better than the FACS
# prototypes on both held-out identity sets: 0.782 -> 0.864 and 0.736 -> 0.793 over front + three-quarter
# (benchmarks/results/refined_v3_validation.json, docs/legibility.md "Step 4"). "facs" stays selectable by name.
DEFAULT_PROTOTYPE_TABLE = "refined"
"""The table `avatar.pose` and every emotion label use when none is named (see docs/refinement.md for why)."""


def _tables(prototypes: Mapping[str, Any] | str | None) -> tuple[str, Mapping[str, Any] | None]:
    """Return (table name, AU overrides or None) for `expression_weights`' `prototypes` argument."""
    if prototypes is None:
        return DEFAULT_PROTOTYPE_TABLE, None
    if isinstance(prototypes, str):
        key = prototypes.strip().lower()
        if key not in PROTOTYPE_TABLES:
            raise AvatarInputError(f"unknown prototype table {prototypes!r}: use one of {', '.join(PROTOTYPE_TABLES)}")
        return key, None
    return "facs", prototypes


@lru_cache(maxsize=1)
def refined_table() -> dict[str, np.ndarray]:
    """Return {emotion: (52,) float32 refined ARKit weights at intensity 1} from the shipped table (read once)."""
    return read_prototype_table(REFINED_TABLE_PATH)


def read_prototype_table(path: str | Path) -> dict[str, np.ndarray]:
    """Return {emotion: (52,) float32 ARKit weights at intensity 1} from a prototype table file (`emoavatar refine --all`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        names, emotions = tuple(data["names"]), data["emotions"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FileFormatError(f"{path.name}: not a prototype table ({type(err).__name__}: {err}); "
                              "make one with `emoavatar refine --all -o TABLE.json`") from None
    if names != ARKIT_NAMES:
        raise FileFormatError(f"{path.name}: columns are not the ARKit 52 in order")
    out = {}
    for label, entry in emotions.items():
        w = np.asarray(entry["weights"], np.float32)
        if w.shape != (NUM_ARKIT,) or not np.all((w >= 0) & (w <= 1)):
            raise FileFormatError(f"{path.name}: {label!r} weights must be 52 values in [0, 1]")
        out[label] = w
    return out


def facs_weights(label: str, intensity: float = 1.0) -> np.ndarray:
    """Return (52,) float32 ARKit weights of an emotion label from the FACS prototypes (AUs -> ARKit)."""
    return Emotion.coerce(label).to_aus().scaled(check_range(intensity, "intensity")).to_arkit()


def refined_weights(label: str, intensity: float = 1.0, table: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Return (52,) float32 ARKit weights of an emotion from the refined table: facs(i) + i * (refined - facs(1)), clipped.

    At intensity 1 this is the refined pose; at 0 it is neutral; in between, the FACS pose's own
    scaling plus a proportional share of what refinement changed. Labels the table lacks use FACS.
    `table` ({emotion: (52,) weights at intensity 1}) replaces the shipped one, e.g. a candidate table.
    """
    emo = Emotion.coerce(label)
    i = check_range(intensity, "intensity")
    table = refined_table() if table is None else table
    facs_i = facs_weights(str(emo.label), i)
    if emo.label not in table:
        return facs_i
    return np.clip(facs_i + i * (table[str(emo.label)] - facs_weights(str(emo.label), 1.0)), 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------- easing


def _linear(s: np.ndarray) -> np.ndarray:
    return s


def _smoothstep(s: np.ndarray) -> np.ndarray:
    return s * s * (3.0 - 2.0 * s)


def _cubic(s: np.ndarray) -> np.ndarray:
    # Ease-in-out cubic: accelerates over the first half, mirrors over the second.
    return np.where(s < 0.5, 4.0 * s**3, 1.0 - (2.0 - 2.0 * s) ** 3 / 2.0)


EASINGS: dict[str, Easing] = {"linear": _linear, "smoothstep": _smoothstep, "cubic": _cubic}
"""Easing curves on [0, 1]: each maps 0 -> 0 and 1 -> 1 and never decreases."""


def _easing(easing: str | Easing) -> Easing:
    if callable(easing):
        return easing
    fn = EASINGS.get(str(easing).lower())
    if fn is None:
        raise AvatarInputError(f"unknown easing {easing!r}: use one of {', '.join(EASINGS)}")
    return fn


# ----------------------------------------------------------------------------- keyframes


@dataclass(frozen=True)
class Keyframe:
    """A pose at a time (seconds): one of emotion / aus / va / mixture (none = neutral), times `intensity`.

    The condition is validated on construction (except labels that only exist in user prototypes,
    which are checked when the timeline is built with them).
    """

    time: float
    emotion: Emotion | str | None = None
    aus: ActionUnits | Mapping[Any, float] | str | None = None
    va: tuple[float, float] | None = None
    intensity: float = 1.0
    mixture: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        try:
            t = float(self.time)
        except (TypeError, ValueError):
            raise AvatarInputError(f"keyframe time must be a number of seconds, got {self.time!r}") from None
        if not (math.isfinite(t) and t >= 0):
            raise AvatarInputError(f"keyframe time is {self.time!r}: use a finite time >= 0 seconds")
        object.__setattr__(self, "time", t)
        object.__setattr__(self, "intensity", check_range(self.intensity, "keyframe intensity"))
        _one_condition(emotion=self.emotion, aus=self.aus, va=self.va, mixture=self.mixture)
        if isinstance(self.emotion, str):
            try:
                object.__setattr__(self, "emotion", Emotion.parse(self.emotion))
            except UnknownNameError:
                pass  # may be a label of user prototypes: kept as text, resolved by `weights(prototypes=...)`
        elif self.emotion is not None and not isinstance(self.emotion, Emotion):
            raise AvatarInputError(f"keyframe emotion must be a label or an Emotion, got {self.emotion!r}")
        if self.aus is not None:
            object.__setattr__(self, "aus", ActionUnits.coerce(self.aus))
        if self.va is not None:
            object.__setattr__(self, "va", _check_va(self.va))
        if self.mixture is not None:
            try:
                mixture_to_aus(self.mixture)
            except UnknownNameError:
                pass  # as above: labels of user prototypes are checked when the timeline is built

    def aus_at(self, prototypes: Mapping[str, Any] | str | None = None) -> ActionUnits:
        """Return this keyframe's ActionUnits (FACS; a table name in `prototypes` counts as no overrides)."""
        return expression_aus(self.emotion, self.intensity, self.aus, self.va, self.mixture, _tables(prototypes)[1])

    def weights(self, prototypes: Mapping[str, Any] | str | None = None) -> np.ndarray:
        """Return this keyframe's (52,) float32 ARKit weights (`expression_weights`, so the same table as `avatar.pose`)."""
        return expression_weights(self.emotion, self.intensity, self.aus, self.va, self.mixture, prototypes)

    def label(self, prototypes: Mapping[str, Any] | None = None) -> str:
        """Return the emotion label this keyframe shows ("" for raw AUs; the dominant one for VA / mixtures)."""
        if self.emotion is not None:
            return Emotion.coerce(self.emotion, prototypes).dominant()
        if self.va is not None:
            mix = va_to_mixture(*self.va)
        elif self.mixture is not None:
            mix = {Emotion.coerce(k, prototypes).dominant(): float(w) for k, w in self.mixture.items()}
        elif self.aus is not None:
            return ""
        else:
            return "neutral"
        return max(mix, key=mix.__getitem__) if mix else "neutral"


def parse_emotion_track(text: str, prototypes: Mapping[str, Any] | None = None) -> list[Keyframe]:
    """Return keyframes from "TIME:EMOTION[@INTENSITY],..." e.g. "0:neutral,1.5:anger@0.9,4:neutral".

    TIME is in seconds; EMOTION is any label or synonym (or "va=V/A" for a valence/arousal point).
    Times must increase. Errors quote the bad entry.
    """
    if not isinstance(text, str) or not text.strip():
        raise AvatarInputError(f"emotion track must be text like '0:neutral,1.5:anger@0.9', got {text!r}")
    frames: list[Keyframe] = []
    for raw in text.split(","):
        token = raw.strip()
        time_text, sep, spec = token.partition(":")
        if not sep or not time_text.strip() or not spec.strip():
            raise AvatarInputError(f"malformed keyframe {token!r}: write TIME:EMOTION[@INTENSITY], e.g. '1.5:anger@0.9'")
        try:
            t = float(time_text)
        except ValueError:
            raise AvatarInputError(f"malformed keyframe {token!r}: time {time_text.strip()!r} is not a number of seconds") from None
        try:
            emotion = Emotion.parse(spec.strip(), prototypes)
            key = Keyframe(t, emotion=emotion)
        except AvatarInputError as err:
            raise type(err)(f"in keyframe {token!r}: {err}") from None
        if frames and key.time <= frames[-1].time:
            raise AvatarInputError(
                f"keyframe {token!r} is not after the previous one at {frames[-1].time:g}s: times must increase"
            )
        frames.append(key)
    return frames


def timeline(
    keyframes: Sequence[Keyframe] | str,
    fps: float = DEFAULT_FPS,
    duration: float | None = None,
    easing: str | Easing = "smoothstep",
    transition: float | None = 0.3,
    prototypes: Mapping[str, Any] | str | None = None,
) -> ExpressionSequence:
    """Return an ExpressionSequence that holds each keyframe's pose and eases into the next.

    Frame i is at time i / fps. Before the first keyframe its pose holds; between keyframes k and
    k+1 the pose holds until ``t[k+1] - transition`` (never before ``t[k]``) and then blends the
    ARKit weights with ``easing`` so that it reaches keyframe k+1's pose exactly at ``t[k+1]``;
    after the last keyframe its pose holds. `transition` None eases over the whole gap, 0 jumps.
    `duration` defaults to ending on the last keyframe (one frame at its time). Per-frame labels
    are the emotion of the keyframe with the larger blend weight.

    `keyframes` may also be the track text `parse_emotion_track` reads.
    """
    au_table = _tables(prototypes)[1]
    if isinstance(keyframes, str):
        keyframes = parse_emotion_track(keyframes, au_table)
    keys = list(keyframes)
    if not keys:
        raise AvatarInputError("timeline needs at least one keyframe, e.g. [Keyframe(0, 'neutral')]")
    for k in keys:
        if not isinstance(k, Keyframe):
            raise AvatarInputError(f"timeline takes Keyframe objects, got {k!r}")
    times = np.array([k.time for k in keys])
    for a, b in zip(keys, keys[1:]):
        if b.time <= a.time:
            raise AvatarInputError(f"keyframe times must increase: {b.time:g}s comes after {a.time:g}s")
    fps_f = check_fps(fps)
    if transition is not None:
        try:
            tr = float(transition)
        except (TypeError, ValueError):
            tr = float("nan")
        if not (math.isfinite(tr) and tr >= 0):
            raise AvatarInputError(f"transition must be seconds >= 0 (or None for the whole gap), got {transition!r}")
    if duration is None:
        n_frames = int(round(times[-1] * fps_f)) + 1
    else:
        try:
            dur = float(duration)
        except (TypeError, ValueError):
            dur = float("nan")
        if not (math.isfinite(dur) and dur > 0):
            raise AvatarInputError(f"duration must be a positive number of seconds, got {duration!r}")
        n_frames = max(1, int(round(dur * fps_f)))
    ease = _easing(easing)

    poses = np.stack([k.weights(prototypes) for k in keys]).astype(np.float32)  # (K, 52)
    labels_k = [k.label(au_table) for k in keys]
    t = np.arange(n_frames, dtype=np.float64) / fps_f
    # Segment k covers [t[k], t[k+1]); frames before the first key use segment 0 held at its start.
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 1)
    s = np.zeros(n_frames)
    inside = (seg < len(keys) - 1) & (t >= times[0])
    if inside.any():
        k = seg[inside]
        t_next = times[k + 1]
        span = t_next - times[k] if transition is None else np.minimum(float(transition), t_next - times[k])
        start = t_next - span
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.where(span > 0, (t[inside] - start) / span, (t[inside] >= t_next).astype(float))
        s[inside] = np.clip(ease(np.clip(raw, 0.0, 1.0)), 0.0, 1.0)
    nxt = np.minimum(seg + 1, len(keys) - 1)
    weights = (1.0 - s)[:, None] * poses[seg] + s[:, None] * poses[nxt]
    labels = [labels_k[b] if w >= 0.5 else labels_k[a] for a, b, w in zip(seg, nxt, s)]
    assert weights.shape == (n_frames, NUM_ARKIT)
    return ExpressionSequence(weights.astype(np.float32), fps=fps_f, labels=labels)
