"""Disentangled composition of speech and emotion, as EMOTE (Daněček et al., SIGGRAPH Asia 2023) argues.

Speech owns the mouth at high temporal frequency (tens of ms); emotion owns the whole face at low
frequency (hundreds of ms): its curves are eased by the emotion timeline and low-pass filtered here,
so an emotion can never flicker with the syllables.

Overlap rules, per ARKit column (see `compose`):

* articulation columns (jawOpen, jawForward, mouthClose, mouthPucker, mouthFunnel, mouthRoll*, mouthShrug*,
  tongueOut): speech drives them; the emotion's value is added on top but scaled down by
  `(1 - speech_share * talking)`, `talking` the `talking_envelope` (the voice, the pauses shorter than 0.5 s
  between its words, 0.25 s before it and 0.1 s after it), so surprise talks with a slightly dropped jaw instead of a
  jaw that stays wide open, and an angry talker's jaw does not drop open in every pause between words (a
  person's lips rest together there whatever they feel); a long pause or a clip without speech gets the
  emotion's full face back;
* expression columns around the mouth (mouthSmile*, mouthFrown*, mouthDimple*, mouthStretch*, mouthPress*,
  mouthLeft/Right, and the teeth-baring mouthUpperUp* / mouthLowerDown*): the emotion keeps its value and
  speech only adds into the headroom (`e + s * (1 - e)`), so a smile, a frown or a snarl stays visible while
  talking; speech's own small smile (for "ee") is damped by a frown, so sad speech does not grin;
* everything else (brows, eyes, cheeks, nose): the emotion alone.

Before those rules, an emotion listed in `TALKING_VARIANTS` (anger) takes its talking form on the talking envelope
(`talking_variant`): a snarl's bared teeth held the angry lips 1.4 cm apart between words where a person's rest
nearly shut, so while talking anger keeps half its upper-lip raise and none of its lower-lip depressor, jaw drop and
funnel, and shows itself with the brows, lids and a wrinkled nose instead (EMFACS's closed-mouth anger). Offline the
talking form holds `TALK_HOLD_S` before and after the voice (the stream: its own envelope); still frames, longer
pauses and silent clips keep the whole prototype.

Speech keeps its opening (`keep_speech_opening`): a smile, a frown or bared teeth turn the lips on the mesh, so
the same speech weights would part them less (on the shipped head a frown cost sad 6-13 % of neutral's speech
opening, disgust 7-18 %); where the posed inner-lip gap beyond the emotion's own mouth falls short of what the speech
opens on a neutral face, the jaw opens by the shortfall.

Then bilabials are enforced last: on p/b/m frames `visemes.close_lips` caps the jaw, removes lip-parting
shapes and solves mouthClose on the posed mesh, overriding whatever any emotion did to the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES, index_of
from generators.speech.visemes import RELEASE_S, LipModel, close_lips, closure_envelope, default_lip_model, tuck_lips

ARTICULATION_COLUMNS: tuple[str, ...] = (
    "jawOpen", "jawForward", "mouthClose", "mouthPucker", "mouthFunnel", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "tongueOut",
)
# The lip raiser and depressor (AU10/11, AU16) bare the teeth of anger, disgust and fear: judges trained on photographs
# lost those emotions while talking when speech took these columns over, so the emotion keeps them and speech adds
# into the headroom (bilabials still close: `close_lips` removes lip-parting shapes last).
EXPRESSION_MOUTH_COLUMNS: tuple[str, ...] = (
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthPressLeft", "mouthPressRight", "mouthLeft", "mouthRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
)


def keep_speech_opening(
    weights: np.ndarray, speech: np.ndarray, rest: np.ndarray, lip_model: LipModel | None = None, *, keep: float = 1.0,
) -> np.ndarray:
    """Return a copy of (T, 52) composed `weights` whose lips open at least `keep` times as far beyond the emotion's
    own mouth (`rest`, (T, 52)) as the (T, 52) `speech` weights open them beyond a neutral face, measured on the head.

    A smile, a frown or bared teeth change the lips' geometry: the same speech weights part the inner lips less on a
    smiling or frowning mesh (the opening's direction turns), and the headroom rule for the teeth-baring shapes
    (`e + s * (1 - e)`) compresses speech's own lip raise. On frames where the posed midline inner-lip gap (the
    `LipModel.gap` landmarks) falls short, jawOpen is raised by exactly what closes the shortfall (a quadratic
    in the jaw weight, since the gap is a distance); nothing else is touched, so the emotion keeps its shape,
    and `close_lips`, applied later, still shuts every bilabial.
    """
    lips = lip_model or default_lip_model()
    jaw = index_of("jawOpen")

    def midline(w: np.ndarray) -> np.ndarray:  # (T, 3) upper-minus-lower inner-lip vector at the midline
        return lips.gap_vectors(w)[:, 1]

    out = weights.astype(np.float32).copy()
    want = keep * (np.linalg.norm(midline(speech), axis=-1) - np.linalg.norm(lips.offset[1]))
    rest_gap = np.linalg.norm(midline(rest), axis=-1)
    v = midline(out)
    short = np.linalg.norm(v, axis=-1) - rest_gap < want
    if not short.any():
        return out
    # |v + d * b| = rest_gap + want for the jaw increment d >= 0 (b: the gap vector's change per unit jawOpen).
    b = lips.per_shape[jaw, 1]
    vb, bb = v @ b, float(b @ b)
    disc = vb ** 2 - bb * ((v ** 2).sum(-1) - (rest_gap + want) ** 2)
    d = np.where(short & (disc >= 0), (-vb + np.sqrt(np.maximum(disc, 0.0))) / max(bb, 1e-12), 0.0)
    out[:, jaw] = np.clip(out[:, jaw] + np.maximum(d, 0.0), 0.0, 1.0)
    return out


def _idx(names: tuple[str, ...]) -> np.ndarray:
    return np.array([index_of(n) for n in names], dtype=np.int64)


def lowpass(curves: np.ndarray, fps: float, cutoff_s: float) -> np.ndarray:
    """Return (T, K) curves smoothed by a Gaussian of standard deviation `cutoff_s` seconds (edges held)."""
    if cutoff_s <= 0 or len(curves) < 2:
        return curves.astype(np.float32)
    from generators.speech.smoothing import gaussian_filter1d

    return gaussian_filter1d(curves.astype(np.float64), sigma=cutoff_s * fps, axis=0, mode="nearest").astype(np.float32)


def emotion_curves(
    n_frames: int, fps: float, emotion: Any = "neutral", intensity: float = 1.0,
    emotion_track: str | list | None = None, *, smoothing_s: float = 0.12, easing: str | None = None,
    transition: float | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Return (T, 52) float32 low-frequency emotion weights and (T,) per-frame labels.

    Args:
        emotion: a label from `avatar.emotion.EMOTIONS`, an `Emotion`, or anything `expression_weights` takes.
        intensity: 0..1 scale of a constant `emotion` (ignored when a track is given: the track carries its own).
        emotion_track: "0:neutral,1.5:anger@0.9,4:neutral" or a list of keyframes; overrides `emotion`.
        smoothing_s: extra Gaussian low-pass on top of the track's easing, so emotion stays low-frequency.
        easing, transition: passed to `generators.expression.timeline` when given.
    """
    from generators.expression import expression_weights, parse_emotion_track, timeline

    if not 0.0 <= float(intensity) <= 1.0:
        raise AvatarInputError(f"intensity must be between 0 and 1, got {intensity!r}")
    duration = n_frames / fps
    if emotion_track is not None and not (isinstance(emotion_track, str) and not emotion_track.strip()):
        keys = parse_emotion_track(emotion_track) if isinstance(emotion_track, str) else list(emotion_track)
        kwargs: dict[str, Any] = {}
        if easing is not None:
            kwargs["easing"] = easing
        if transition is not None:
            kwargs["transition"] = transition
        seq = timeline(keys, fps=fps, duration=duration, **kwargs)
        w = _fit_length(seq.weights, n_frames)
        labels = list(seq.labels) if seq.labels is not None else [""] * len(seq)
        labels = (labels + [labels[-1] if labels else ""] * n_frames)[:n_frames]
        return np.clip(lowpass(w, fps, smoothing_s), 0.0, 1.0), labels
    if emotion is None:
        emotion = "neutral"
    pose = np.asarray(expression_weights(emotion=emotion, intensity=float(intensity)), np.float32).reshape(-1)
    if pose.shape != (len(ARKIT_NAMES),):
        raise AvatarInputError(f"expression_weights returned shape {pose.shape}, expected (52,)")
    return np.repeat(pose[None], n_frames, axis=0), [_label_of(emotion)] * n_frames


def _label_of(emotion: Any) -> str:
    """Return the canonical label of an emotion argument ("angry@0.9" -> "anger"; VA -> nearest label)."""
    from avatar.emotion import Emotion

    if not isinstance(emotion, (str, Emotion)):
        return "custom"
    try:
        e = Emotion.coerce(emotion)
    except Exception:  # labels from user prototypes: keep what the user wrote
        return str(emotion)
    return str(e.label or e.dominant)


def _fit_length(w: np.ndarray, n: int) -> np.ndarray:
    """Return `w` cut or edge-padded to exactly `n` frames (timelines may round the duration)."""
    if len(w) >= n:
        return w[:n]
    if len(w) == 0:
        return np.zeros((n, len(ARKIT_NAMES)), np.float32)
    return np.concatenate([w, np.repeat(w[-1:], n - len(w), axis=0)])


SPEECH_SHARE = 0.6
"""Default of `animate(speech_share=)` / `compose(speech_share=)`: the share of an emotion's own articulator opening that
speech takes over while the person is talking (`talking_envelope`; scripts/select_speech_share.py passes each candidate)."""

TALK_BRIDGE_S = 0.5
"""The longest pause that stays inside an utterance (`talking_envelope`): pause durations in read and spontaneous
speech cluster under ~0.2 s between words and at 0.5-1 s and beyond at phrase and sentence boundaries, where
speakers breathe (Campione & Veronis, Speech Prosody 2002; Goldman-Eisler 1968). Between words a talker's lips
rest as in speech whatever they feel; at a phrase break the face has time to show the emotion whole."""

TALK_LEAD_S = 0.25
"""How long before the voice starts the talker already holds the speaking posture (`talking_envelope`). People set up
their lips for the first sound before they voice it: on the validation GRID talkers (benchmarks/data/realism/val,
never the held-out ones) the lips leave their rest up to 0.24 s before the voice (p75 0.14 s), and the speech model,
trained on real lips with the gate opened up to 0.4 s ahead, learned a ramp whose midpoint is 0.2 s ahead
(`SpeechToARKit.anticipation_s`)."""

TALK_TAIL_S = 0.1
"""How long after the voice stops the talker still holds the speaking posture (`talking_envelope`): the last sound's
release; the validation GRID talkers' lips are back at rest within 0.08 s of the voice's end at p75 (median 0)."""

TALK_HOLD_S = TALK_BRIDGE_S
"""How long before and after an utterance an emotion keeps its talking form (`TALKING_VARIANTS`; offline `compose`):
as long as a pause may still lie between words. A face changes its display at the pace of an emotion, not on the
first silent frame: an angry talker does not bare the teeth 0.1 s after the last word. The stream holds its talking
envelope this long after the voice anyway (`streaming._TalkState`); a longer pause, a still frame or a silent clip
gets the whole prototype back."""

TALK_EASE_S = 0.12
"""Standard deviation (s) of the Gaussian that eases the talking envelope in and out: the emotion layer's own
low-pass (`emotion_curves(smoothing_s=)`), so the emotion's mouth returns at the speed an emotion changes, never
with the syllables."""


def talking_envelope(
    activity: np.ndarray, fps: float, *, bridge_s: float = TALK_BRIDGE_S, lead_s: float = TALK_LEAD_S,
    tail_s: float = TALK_TAIL_S, ease_s: float = TALK_EASE_S,
) -> np.ndarray:
    """Return the (T,) float32 talking envelope in [0, 1]: 1 wherever the person is inside an utterance.

    The voice (`activity` > 0.5) with its pauses shorter than `bridge_s` filled (between words, not at a phrase or
    breath break), widened by `lead_s` before each onset and `tail_s` after each offset, then eased by a Gaussian
    of `ease_s`; never below `activity`. While it is 1 speech owns `speech_share` of the emotion's articulator
    opening, in the words and in the short pauses between them, as a person's lips rest between words whatever they
    feel; in a long pause, and in a clip with no voice, it falls to 0 and the emotion's full face returns (an idle
    angry face may bare its teeth).
    """
    act = np.clip(np.asarray(activity, np.float32), 0.0, 1.0)
    voice = act > 0.5
    n = len(act)
    if not voice.any() or fps <= 0:
        return act.copy()
    on = np.flatnonzero(voice)
    held = voice.copy()
    starts = on[1:][np.diff(on) > 1]  # first voiced frame after each interior pause
    ends = on[:-1][np.diff(on) > 1]  # last voiced frame before it
    for a, b in zip(ends, starts):
        if (b - a - 1) < bridge_s * fps:
            held[a + 1:b] = True
    lead, tail = int(round(lead_s * fps)), int(round(tail_s * fps))
    # Frame t is inside the utterance when a held frame lies in [t - tail, t + lead] (running count).
    count = np.concatenate([[0], np.cumsum(held)])
    t = np.arange(n)
    held = (count[np.clip(t + lead + 1, 0, n)] - count[np.clip(t - tail, 0, n)]) > 0
    env = lowpass(held.astype(np.float32)[:, None], fps, ease_s)[:, 0]
    return np.clip(np.maximum(env, act), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class TalkingVariant:
    """How an emotion that bares its teeth shows itself while talking (`TALKING_VARIANTS`, `talking_variant`).

    `kept`: (ARKit column, or a stem such as "mouthUpperUp" for both sides; the share of the emotion's own value of it
    kept while talking); `cues`: (column or stem, weight added while talking per unit of the emotion's intensity).
    The sum is clipped to [0, 1]. Unknown names are an error on construction.
    """

    kept: tuple[tuple[str, float], ...] = ()
    cues: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        for name, _ in self.kept + self.cues:
            _columns(name)

    def delta(self, prototype: np.ndarray) -> np.ndarray:
        """Return the (52,) change this variant makes while talking to an emotion whose pose at intensity 1 is `prototype`."""
        d = np.zeros(len(ARKIT_NAMES))
        for name, share in self.kept:
            cols = _columns(name)
            d[cols] -= (1.0 - float(share)) * prototype[cols]
        for name, amount in self.cues:
            d[_columns(name)] += float(amount)
        return d


def _columns(name: str) -> list[int]:
    """Return the ARKit column indices of `name`: the column itself, or the Left/Right pair of a stem."""
    if name in ARKIT_NAMES:
        return [index_of(name)]
    sides = [name + side for side in ("Left", "Right")]
    if all(s in ARKIT_NAMES for s in sides):
        return [index_of(s) for s in sides]
    raise AvatarInputError(f"talking variant names unknown ARKit column {name!r}: use a column such as 'jawOpen' "
                           "or a two-sided stem such as 'mouthUpperUp'")


TALKING_VARIANTS: dict[str, TalkingVariant] = {
    # Closed-mouth anger while talking: half the upper-lip raise, no lower-lip depressor, no jaw drop or funnel of its
    # own (speech opens the mouth), the brows and lids drawn (AU4/7) and the nose wrinkled (AU9). Chosen by the
    # FER2013-trained judges on talking clips of ids 101-140 among 12 (scripts/select_talking_variant.py,
    # benchmarks/results/talking_variant_select_anger.json), checked by face-api on ids 0-95 (docs/legibility.md).
    "anger": TalkingVariant(
        kept=(("mouthUpperUp", 0.5), ("mouthLowerDown", 0.0), ("jawOpen", 0.0), ("mouthFunnel", 0.0)),
        cues=(("browDown", 0.25), ("eyeSquint", 0.4), ("noseSneer", 1.0)),
    ),
}
"""Per emotion, its talking variant; an emotion not listed talks with its whole prototype (see `talking_variant`)."""

_BASIS: tuple[tuple[str, ...], np.ndarray] | None = None
_VARIANT_TOL = 0.05  # a frame further than this (max abs weight) from a mix of the shipped prototypes gets no variant


def _prototype_basis() -> tuple[tuple[str, ...], np.ndarray]:
    """Return the labels and (52, E) weights at intensity 1 of the default prototype table (neutral left out)."""
    global _BASIS
    if _BASIS is None:
        from avatar.emotion import EMOTIONS
        from generators.expression import expression_weights

        labels = tuple(e for e in EMOTIONS if e != "neutral")
        _BASIS = labels, np.stack([np.asarray(expression_weights(emotion=e, intensity=1.0), np.float64).reshape(-1)
                                   for e in labels], axis=1)
    return _BASIS


def talking_variant(emotion: np.ndarray, talking: np.ndarray, variants: dict[str, TalkingVariant] | None = None) -> np.ndarray:
    """Return (T, 52) float32 emotion weights with each emotion's talking variant applied on the talking envelope.

    A snarl's bared teeth hold the lips a centimetre or more apart, which a person talking angrily does not do
    between words; people who talk angrily show anger with the brows, the lids and a pressed or raised lip instead
    (EMFACS's closed-mouth anger, AU 4+5+7+23/24, with AU9/10). So on the talking envelope (`talking`, (T,) in
    [0, 1]) an emotion listed in `variants` (default `TALKING_VARIANTS`) keeps only part of its
    teeth-baring shapes and adds its `cues`, both in proportion to how much of that emotion the frame holds: its
    coefficient when the frame is written as a mix of the shipped prototypes at intensity 1 (exact for every label,
    intensity, emotion track and `intensity="auto"`, which are all such mixes). Off the envelope (still frames,
    long pauses, silent clips) nothing changes; a face that is no such mix (raw AUs, a user's table) is left as it is
    (the variant fades out over `_VARIANT_TOL` of distance from the mixes).
    """
    variants = TALKING_VARIANTS if variants is None else variants
    w = np.asarray(emotion, np.float32)
    t = np.clip(np.asarray(talking, np.float32), 0.0, 1.0)
    if not variants or not (t > 0).any():
        return w.copy()
    labels, basis = _prototype_basis()
    coef, *_ = np.linalg.lstsq(basis, w.T.astype(np.float64), rcond=None)  # (E, T)
    resid = np.abs(basis @ coef - w.T).max(axis=0)
    trust = np.clip(1.0 - resid / _VARIANT_TOL, 0.0, 1.0)
    delta = np.zeros((len(ARKIT_NAMES), w.shape[0]))
    for k, label in enumerate(labels):
        if label in variants:
            delta += variants[label].delta(basis[:, k])[:, None] * np.clip(coef[k], 0.0, None)[None]
    out = w + (delta * (trust * t)[None]).T.astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def compose(
    speech: np.ndarray, emotion: np.ndarray, shut: np.ndarray, activity: np.ndarray, *,
    speech_share: float = SPEECH_SHARE, lip_model: LipModel | None = None, tuck: np.ndarray | None = None,
    fps: float | None = None, release_s: float = RELEASE_S, keep_opening: float = 1.0,
    talking: np.ndarray | None = None, variants: dict[str, TalkingVariant] | None = None,
) -> np.ndarray:
    """Return (T, 52) float32 face weights from speech (T, 52) and emotion (T, 52) curves.

    Args:
        shut: (T,) bool frames where the lips must be closed (bilabials), enforced last; or float closure
            strengths in [0, 1] (see `visemes.closure_envelope`).
        activity: (T,) voice activity in [0, 1] (smoothed gate); with `fps` its `talking_envelope` scales how much
            speech owns the articulators (in the words and the short pauses around them).
        speech_share: share of the emotion's articulator opening removed while talking.
        lip_model: the head's lips (default: the shipped head's).
        tuck: (T,) bool frames of an f/v lip tuck (lower lip to the upper teeth), or None.
        fps: frame rate; when given, a bool `shut`/`tuck` gets a `release_s` ramp after each run so the lips
            part into the next vowel over a few frames instead of popping open.
        keep_opening: share of speech's own lip opening (on a neutral face) that every emotion keeps
            (`keep_speech_opening`); 0 turns the correction off.
        talking: (T,) talking envelope in [0, 1] where the caller has its own (the causal stream's; the talking
            variants then follow it too); None: `talking_envelope(activity, fps)` when `fps` is given, else `activity`
            itself, and the variants follow the same envelope held `TALK_HOLD_S` before and after the voice.
        variants: the emotions' talking variants applied on `talking` (`talking_variant`); None: `TALKING_VARIANTS`,
            {} none.
    """
    if speech.shape != emotion.shape:
        raise AvatarInputError(f"speech and emotion curves differ in shape: {speech.shape} vs {emotion.shape}")
    display = talking  # where the emotion shows its talking form (`talking_variant`)
    if talking is None:
        talking = talking_envelope(activity, fps) if fps is not None else activity
        display = talking_envelope(activity, fps, lead_s=TALK_HOLD_S, tail_s=TALK_HOLD_S) if fps is not None else talking
    act = np.clip(np.asarray(talking, np.float32), 0.0, 1.0)[:, None]
    emotion = talking_variant(emotion, np.asarray(display, np.float32), variants)  # TALKING_VARIANTS
    out = emotion.astype(np.float32).copy()
    art = _idx(ARTICULATION_COLUMNS)
    out[:, art] = speech[:, art] + emotion[:, art] * (1.0 - speech_share * act)
    exp = _idx(EXPRESSION_MOUTH_COLUMNS)
    s = speech[:, exp].copy()
    frown = emotion[:, _idx(("mouthFrownLeft", "mouthFrownRight"))].max(axis=1, keepdims=True)
    smile_cols = [i for i, n in enumerate(EXPRESSION_MOUTH_COLUMNS) if n.startswith("mouthSmile")]
    s[:, smile_cols] *= 1.0 - np.clip(2.0 * frown, 0.0, 1.0)
    out[:, exp] = emotion[:, exp] + s * (1.0 - emotion[:, exp])
    out = np.clip(out, 0.0, 1.0)
    if keep_opening > 0:
        rest = emotion.astype(np.float32).copy()  # the emotion's own face while talking, no speech
        rest[:, art] = emotion[:, art] * (1.0 - speech_share * act)
        out = keep_speech_opening(out, np.clip(speech, 0.0, 1.0), rest, lip_model, keep=keep_opening)
    if fps is not None:
        shut = closure_envelope(np.asarray(shut, bool), fps, release_s=release_s) if np.asarray(shut).dtype == bool else shut
        if tuck is not None and np.asarray(tuck).dtype == bool:
            tuck = closure_envelope(np.asarray(tuck, bool), fps, release_s=release_s)
    if tuck is not None:
        # Tuck first: where an f/v and a bilabial meet, the closure (solved last) wins.
        out = tuck_lips(out, np.where(np.asarray(shut, np.float32) >= 1.0, 0.0, tuck), lip_model)
    return close_lips(out, shut, lip_model)
