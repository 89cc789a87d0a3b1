"""Phones -> visemes -> ARKit mouth and jaw curves, with Cohen–Massaro style coarticulation.

Each phone maps to a viseme: a sparse ARKit target plus a dominance (how strongly it holds its shape
against its neighbours). Following Cohen & Massaro (1993, "Modeling coarticulation in synthetic visual
speech"), every segment's dominance is flat over the phone and decays exponentially before it
(anticipation) and after it (carry-over); the curve for each blendshape is the dominance-weighted average
of the targets. Dominance is per channel group, so a consonant's weak hold on lip rounding lets the
rounding of the next vowel spread over it ("boot" is rounded from the b), while its jaw and closure are
its own. Diphthongs are split into their two vowel targets.

Bilabials (p, b, m) must close the lips, whatever else the face is doing. `LipModel` turns that into
arithmetic: blendshapes are linear, so the inner-lip gap of any pose is an affine function of the weights,
and `close_lips` raises mouthClose (and caps jawOpen) by exactly what the posed mesh needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from avatar.rig import ARKIT_NAMES, index_of

if TYPE_CHECKING:
    from avatar.head import BlendshapeHead
    from generators.speech.phonetic import Phone

# ------------------------------------------------------------------ vocabulary
VISEME_OF: dict[str, str] = {
    "SIL": "sil",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "N": "DD", "L": "DD",
    "K": "KK", "G": "KK", "NG": "KK", "HH": "HH",
    "S": "SS", "Z": "SS",
    "SH": "CH", "ZH": "CH", "CH": "CH", "JH": "CH",
    "R": "RR", "ER": "ER", "W": "WW", "Y": "IY",
    "AA": "AA", "AH": "AH", "AO": "AO", "AE": "AE", "EH": "EH", "IH": "IH", "IY": "IY", "UH": "UH", "UW": "UW",
    "AW": "AA+UW", "AY": "AA+IY", "EY": "EH+IY", "OW": "AO+UW", "OY": "AO+IY",
}
"""ARPAbet phone -> viseme; "X+Y" is a diphthong that moves from X to Y within the phone."""

BILABIAL_PHONES = frozenset({"P", "B", "M"})

# ARKit targets (both sides where paired). Amplitudes are for the ICT head, whose jawOpen=1 drops the
# lower lip ~3.9 cm: conversational speech opens the lips ~0.5-1.5 cm, hence jawOpen <= ~0.35.
_T = dict[str, float]
VISEME_TARGETS: dict[str, _T] = {
    "sil": {},
    "PP": {"jawOpen": 0.03, "mouthPress": 0.45, "mouthRollLower": 0.12, "mouthRollUpper": 0.08, "mouthClose": 0.03},
    "FF": {"jawOpen": 0.06, "mouthRollLower": 0.5, "mouthUpperUp": 0.2, "mouthShrugLower": 0.15},
    "TH": {"jawOpen": 0.10, "mouthUpperUp": 0.10, "tongueOut": 0.35},
    "DD": {"jawOpen": 0.11, "mouthUpperUp": 0.06, "mouthLowerDown": 0.08},
    "KK": {"jawOpen": 0.14, "mouthLowerDown": 0.06},
    "HH": {"jawOpen": 0.15},
    "SS": {"jawOpen": 0.035, "mouthStretch": 0.18, "mouthUpperUp": 0.12, "mouthLowerDown": 0.12},
    "CH": {"jawOpen": 0.07, "mouthFunnel": 0.4, "mouthPucker": 0.25, "mouthUpperUp": 0.15, "mouthLowerDown": 0.1},
    "RR": {"jawOpen": 0.09, "mouthPucker": 0.35, "mouthFunnel": 0.15},
    "ER": {"jawOpen": 0.12, "mouthFunnel": 0.3, "mouthPucker": 0.2},
    "WW": {"jawOpen": 0.04, "mouthPucker": 0.8, "mouthFunnel": 0.2},
    "AA": {"jawOpen": 0.34, "mouthLowerDown": 0.15, "mouthUpperUp": 0.05},
    "AO": {"jawOpen": 0.27, "mouthFunnel": 0.35, "mouthPucker": 0.1},
    "AE": {"jawOpen": 0.28, "mouthStretch": 0.2, "mouthUpperUp": 0.15, "mouthLowerDown": 0.1},
    "AH": {"jawOpen": 0.22, "mouthLowerDown": 0.08},
    "EH": {"jawOpen": 0.19, "mouthStretch": 0.15, "mouthLowerDown": 0.08},
    "IH": {"jawOpen": 0.12, "mouthStretch": 0.22, "mouthSmile": 0.08},
    "IY": {"jawOpen": 0.08, "mouthStretch": 0.3, "mouthSmile": 0.12, "mouthUpperUp": 0.08},
    "UH": {"jawOpen": 0.12, "mouthPucker": 0.4, "mouthFunnel": 0.15},
    "UW": {"jawOpen": 0.07, "mouthPucker": 0.75, "mouthFunnel": 0.3},
}

# Opening per viseme class fitted to a real speaker (`scripts/fit_realism.py` on GRID s1, the training speaker of
# benchmarks/data/realism; A, B, C held out): the median of the person's inner-lip gap over ours at phone middles,
# shrunk toward 1 by the class's count (n / (n + 20)) and clipped to 0.8-1.25 (AA to 1.10: at 1.20 the lips
# opened after "mom"'s m at 0.35 cm per 10 ms, past the ~30 cm/s at which real lips part). It scales the opening channels
# (jawOpen, mouthLowerDown, mouthUpperUp) of each target. Bilabials and f/v are left alone: their lips are
# solved on the mesh (closure, tuck), and a 68-point tracker never sees lips fully shut.
REAL_OPENING_GAIN: dict[str, float] = {
    "AA": 1.10, "AE": 0.95, "AH": 0.86, "AO": 0.86, "CH": 1.08, "DD": 1.25, "EH": 1.25, "HH": 0.96, "IH": 1.11,
    "IY": 1.25, "KK": 1.12, "RR": 0.84, "SS": 1.25, "TH": 0.86, "UW": 0.90, "WW": 0.89,
}
_OPENING = ("jawOpen", "mouthLowerDown", "mouthUpperUp")
for _v, _g in REAL_OPENING_GAIN.items():
    VISEME_TARGETS[_v] = {k: (round(x * _g, 4) if k in _OPENING else x) for k, x in VISEME_TARGETS[_v].items()}

# Channel groups: each has its own dominance, so e.g. rounding can spread while the jaw follows the consonant.
GROUPS: dict[str, tuple[str, ...]] = {
    "jaw": ("jawOpen", "jawForward", "tongueOut"),
    "close": ("mouthClose", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper",
              "mouthShrugLower", "mouthShrugUpper"),
    "round": ("mouthPucker", "mouthFunnel"),
    "spread": ("mouthStretchLeft", "mouthStretchRight", "mouthSmileLeft", "mouthSmileRight",
               "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight"),
}
SPEECH_COLUMNS: tuple[str, ...] = tuple(n for g in GROUPS.values() for n in g)
"""The ARKit columns the speech layer writes."""

# Dominance (jaw, close, round, spread) per viseme: bilabials and labiodentals own the lips; tongue
# consonants (t, d, k, h) barely constrain lips or jaw, so they inherit from their vowels.
VISEME_DOMINANCE: dict[str, tuple[float, float, float, float]] = {
    "sil": (0.6, 0.6, 0.6, 0.6),
    "PP": (1.5, 4.0, 0.4, 1.5), "FF": (1.2, 3.0, 0.4, 1.2), "TH": (1.0, 1.0, 0.3, 0.6),
    "DD": (0.5, 0.4, 0.15, 0.3), "KK": (0.5, 0.4, 0.15, 0.3), "HH": (0.15, 0.15, 0.1, 0.15),
    "SS": (1.2, 0.6, 0.3, 0.8), "CH": (1.0, 0.8, 1.5, 1.0), "RR": (0.6, 0.5, 1.0, 0.5), "ER": (0.8, 0.6, 1.0, 0.6),
    "WW": (0.8, 0.8, 2.0, 1.0),
}
_VOWEL_DOMINANCE = (1.2, 1.0, 1.0, 1.0)


def _expand(target: _T) -> np.ndarray:
    """Return a (52,) float32 vector from a target whose un-sided names fill both sides."""
    w = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, v in target.items():
        if name + "Left" in ARKIT_NAMES:
            w[index_of(name + "Left")] = v
            w[index_of(name + "Right")] = v
        else:
            w[index_of(name)] = v
    return w


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """Return viseme index, targets (V, 52), dominance (V, 52), and the speech-column mask (52,)."""
    names = list(VISEME_TARGETS)
    targets = np.stack([_expand(VISEME_TARGETS[v]) for v in names])
    dom = np.zeros((len(names), len(ARKIT_NAMES)), np.float32)
    for i, v in enumerate(names):
        per_group = VISEME_DOMINANCE.get(v, _VOWEL_DOMINANCE)
        for g, d in zip(GROUPS.values(), per_group):
            dom[i, [index_of(n) for n in g]] = d
    mask = np.zeros(len(ARKIT_NAMES), bool)
    mask[[index_of(n) for n in SPEECH_COLUMNS]] = True
    return {v: i for i, v in enumerate(names)}, targets, dom, mask


@dataclass(frozen=True)
class Segment:
    """A viseme held from `start` to `end` seconds."""

    viseme: str
    start: float
    end: float


def viseme_segments(phones: list[Phone], diphthong_split: float = 0.55) -> list[Segment]:
    """Return viseme segments for phones; a diphthong becomes two segments split at `diphthong_split`."""
    segs: list[Segment] = []
    for ph in phones:
        vis = VISEME_OF.get(ph.label, "sil")
        if "+" in vis:
            a, b = vis.split("+")
            mid = ph.start + diphthong_split * (ph.end - ph.start)
            segs += [Segment(a, ph.start, mid), Segment(b, mid, ph.end)]
        else:
            segs.append(Segment(vis, ph.start, ph.end))
    return segs


def speech_weights(
    phones: list[Phone], fps: float, n_frames: int, *, anticipation_s: float = 0.06, carryover_s: float = 0.04,
    articulation: float = 1.0, window_s: float = 0.4,
) -> np.ndarray:
    """Return (n_frames, 52) float32 mouth/jaw weights for timed phones (other columns stay 0).

    Frame i is at time i / fps. Dominance of a segment is its viseme's strength inside the phone and
    decays as exp(-distance / anticipation_s) before it and exp(-distance / carryover_s) after it;
    `articulation` scales all amplitudes (0.7 for mumbling, 1.3 for hyper-articulation).
    """
    index, targets, dom, mask = _tables()
    segs = viseme_segments(phones)
    t = np.arange(n_frames, dtype=np.float64) / fps
    num = np.zeros((n_frames, len(ARKIT_NAMES)), np.float64)
    den = np.full((n_frames, len(ARKIT_NAMES)), 1e-6, np.float64)
    for s in segs:
        # Only frames within the window feel this segment: linear cost in clip length.
        i0 = max(0, int(np.floor((s.start - window_s) * fps)))
        i1 = min(n_frames, int(np.ceil((s.end + window_s) * fps)) + 1)
        if i1 <= i0:
            continue
        tt = t[i0:i1]
        before = np.clip(s.start - tt, 0.0, None)
        after = np.clip(tt - s.end, 0.0, None)
        fall = np.exp(-before / anticipation_s - after / carryover_s)[:, None]
        k = index[s.viseme]
        d = dom[k][None, :] * fall
        num[i0:i1] += d * targets[k][None, :]
        den[i0:i1] += d
    out = np.where(mask[None, :], num / den, 0.0) * articulation
    return np.clip(out, 0.0, 1.0).astype(np.float32)


REST_JAW_OPEN = 0.045
"""The jaw at rest, in pauses and under speech: people's lips rest slightly parted (GRID s1, the training speaker
of benchmarks/data/realism: inner-lip gap 0.23-0.36 cm (p25-p75, median 0.29) in pauses at least 150 ms from speech, mapped onto
the shipped head; `scripts/fit_realism.py`), not the ICT neutral's touch (0.08 cm). jawOpen 0.045 parts them to
~0.25 cm on the shipped head (the held-out speakers rest at 0.12-0.34 cm). Bilabial closures and f/v tucks are re-solved on the mesh afterwards, so they stay as strong."""


def rest_posture(speech: np.ndarray, pause: np.ndarray | None = None) -> np.ndarray:
    """Return (T, 52) speech weights with jawOpen at least `REST_JAW_OPEN` (lips slightly parted at rest).

    `pause` ((T,) bool, the frames without voice): there mouthClose may cancel only the jaw's opening beyond the
    rest, so a model's leftover lip-pressing (a fine-tuned one presses ~0.04 in the pauses before speech) cannot
    shut the lips a person keeps parted. Bilabial closures are solved on the mesh afterwards, unaffected.
    """
    out = np.array(speech, np.float32, copy=True)
    jaw = index_of("jawOpen")
    out[..., jaw] = np.maximum(out[..., jaw], REST_JAW_OPEN)
    if pause is not None:
        close = index_of("mouthClose")
        pause = np.asarray(pause, bool)
        out[pause, close] = np.minimum(out[pause, close], out[pause, jaw] - REST_JAW_OPEN)
    return out


LABIODENTAL_PHONES = frozenset({"F", "V"})

CLOSURE_LEAD_S = 0.05
"""Lips shut this long before an aligned bilabial starts: animators close a frame or two ahead of the sound,
and it absorbs aligners that place the onset up to ~30 ms late."""
CLOSURE_TAIL_S = 0.035
"""...and stay shut this long after its aligned end (an end placed up to ~30 ms early still finds them shut)."""
CLOSURE_MIN_S = 0.07
"""Shortest shut run: two frames at 30 fps, so a 40 ms "b" never falls between frames."""
CLOSURE_MAX_SHARE = 0.25
"""The margins take at most this share of a neighbouring (non-silent) phone, so the vowel of "mom" still opens.
(0.4 shut 18% of vowels at their middle frame on the held-out voices, 0.25 shuts 7%, for the same 99% closure.)"""
RELEASE_S = 0.033
"""Length of the release ramp after a closure (one frame at 30 fps, two at 60)."""


def closure_intervals(
    phones: list[Phone], labels: frozenset[str] = BILABIAL_PHONES, *, lead_s: float = CLOSURE_LEAD_S,
    tail_s: float = CLOSURE_TAIL_S, min_s: float = CLOSURE_MIN_S, max_share: float = CLOSURE_MAX_SHARE,
) -> list[tuple[float, float]]:
    """Return (start, end) seconds during which the lips hold a closure (or tuck) for each phone in `labels`.

    Each run covers the whole phone plus `lead_s` before and `tail_s` after, is at least `min_s` long
    (widened about the phone's middle), and eats into a neighbouring phone by at most `max_share` of its
    length (silence and phones of the same class may be taken whole). Runs that touch are merged.
    """
    runs: list[tuple[float, float]] = []
    for i, ph in enumerate(phones):
        if ph.label not in labels:
            continue
        a, b = ph.start - lead_s, ph.end + tail_s
        if b - a < min_s:
            mid = 0.5 * (ph.start + ph.end)
            a, b = min(a, mid - min_s / 2), max(b, mid + min_s / 2)
        prev = phones[i - 1] if i > 0 else None
        nxt = phones[i + 1] if i + 1 < len(phones) else None
        if prev is not None and prev.label != "SIL" and prev.label not in labels:
            a = max(a, prev.end - max_share * prev.duration)
        if nxt is not None and nxt.label != "SIL" and nxt.label not in labels:
            b = min(b, nxt.start + max_share * nxt.duration)
        if runs and a <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], b))
        else:
            runs.append((a, b))
    return runs


def interval_frames(runs: list[tuple[float, float]], fps: float, n_frames: int) -> np.ndarray:
    """Return a (n_frames,) bool mask of the frames (frame i at time i / fps) inside any of `runs`.

    A run too short to contain a frame still marks the frame nearest its middle.
    """
    mask = np.zeros(n_frames, bool)
    for a, b in runs:
        i0, i1 = int(np.ceil(a * fps - 1e-9)), int(np.floor(b * fps + 1e-9))
        if i1 >= i0:
            mask[max(0, i0) : max(0, min(n_frames, i1 + 1))] = True
        elif n_frames:
            mask[min(n_frames - 1, max(0, int(round((a + b) / 2 * fps))))] = True
    return mask


def bilabial_frames(phones: list[Phone], fps: float, n_frames: int, **margins: float) -> np.ndarray:
    """Return a (n_frames,) bool mask of frames where the lips must be shut (p, b, m, with margins).

    The run covers the whole phone, starts `CLOSURE_LEAD_S` before it and ends `CLOSURE_TAIL_S` after it
    (see `closure_intervals`; `margins` overrides lead_s, tail_s, min_s, max_share), so the lips are shut
    over the bilabial even when another aligner puts its boundaries ±30 ms elsewhere.
    """
    return interval_frames(closure_intervals(phones, BILABIAL_PHONES, **margins), fps, n_frames)


def labiodental_frames(phones: list[Phone], fps: float, n_frames: int, **margins: float) -> np.ndarray:
    """Return a (n_frames,) bool mask of frames where the lower lip tucks under the upper teeth (f, v)."""
    opts = {"lead_s": 0.04, "tail_s": 0.02, "min_s": CLOSURE_MIN_S, **margins}
    return interval_frames(closure_intervals(phones, LABIODENTAL_PHONES, **opts), fps, n_frames)


def closure_envelope(mask: np.ndarray, fps: float, *, onset_s: float = 0.0, release_s: float = RELEASE_S) -> np.ndarray:
    """Return (T,) float32 closure strength: 1 on `mask` frames, ramping linearly to 0 over `release_s` after each run.

    The ramp is what keeps a release from popping: the lips part over a couple of frames into the vowel
    instead of jumping from shut to the vowel's full opening. `onset_s` ramps in before a run likewise
    (0 by default: the run already starts ahead of the sound).
    """
    amount = mask.astype(np.float32)
    n = len(amount)
    for span, step in ((release_s, 1), (onset_s, -1)):
        k = int(round(span * fps))
        if k <= 0 or not mask.any():
            continue
        edges = np.flatnonzero(mask[:-1] & ~mask[1:]) + 1 if step == 1 else np.flatnonzero(~mask[:-1] & mask[1:])
        for e in edges:
            for j in range(k):
                i = e + step * j
                if 0 <= i < n:
                    amount[i] = max(amount[i], 1.0 - (j + 1) / (k + 1))
    return amount


# ------------------------------------------------------------------ lip closure on the mesh
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # 68-point inner-lip pairs, upper then lower
_LOWER_MID, _UPPER_MID = 66, 62
# Where the upper incisal edge sits relative to the upper inner-lip midpoint on the ICT head (cm): used for a
# head without a teeth part of its own (heads are scaled onto the ICT box on import, so cm carry over).
_TEETH_FROM_UPPER_LIP = np.array([0.0, -0.21, -0.65])
# Where the lower inner lip rests in an f/v tuck, relative to the upper incisal edge: a touch above the
# edge (the lip overlaps the teeth) and in front of it (lip tissue lies on the incisors' faces).
_TUCK_FROM_TEETH = np.array([0.0, 0.08, 0.2])


@dataclass(frozen=True)
class LipModel:
    """The inner-lip gap and the lower lip's place relative to the upper teeth, as affine functions of the ARKit weights.

    Attributes:
        offset: (P, 3) upper-minus-lower inner-lip vectors of the neutral, in cm.
        per_shape: (52, P, 3) change of those vectors per unit weight of each shape.
        teeth_edge: (3,) the upper incisal edge on the midline (rigid: blendshapes do not move the upper teeth).
        lower_lip: (3,) the neutral lower inner-lip midpoint (landmark 66).
        lower_per_shape: (52, 3) its motion per unit weight.
    """

    offset: np.ndarray
    per_shape: np.ndarray
    teeth_edge: np.ndarray | None = None
    lower_lip: np.ndarray | None = None
    lower_per_shape: np.ndarray | None = None

    @classmethod
    def from_head(cls, head: BlendshapeHead) -> LipModel:
        """Return the lip model of `head` (needs its 68-point landmarks; the upper teeth come from its own mesh)."""
        lm = head.landmarks68
        up = np.array([lm[a] for a, _ in _INNER_LIP_PAIRS])
        lo = np.array([lm[b] for _, b in _INNER_LIP_PAIRS])
        offset = (head.neutral[up] - head.neutral[lo]).astype(np.float64)
        per_shape = (head.deltas[:, up] - head.deltas[:, lo]).astype(np.float64)
        lower = int(lm[_LOWER_MID])
        return cls(offset, per_shape, _upper_teeth_edge(head), head.neutral[lower].astype(np.float64),
                   head.deltas[:, lower].astype(np.float64))

    def gap_vectors(self, weights: np.ndarray) -> np.ndarray:
        """Return (T, P, 3) upper-minus-lower inner-lip vectors for (T, 52) weights."""
        return self.offset[None] + np.einsum("tk,kpc->tpc", weights.astype(np.float64), self.per_shape)

    def gap(self, weights: np.ndarray) -> np.ndarray:
        """Return (T,) midline inner-lip distance in cm (landmarks 62-66) for (T, 52) weights."""
        return np.linalg.norm(self.gap_vectors(np.atleast_2d(weights))[:, 1], axis=-1)

    def tuck_distance(self, weights: np.ndarray) -> np.ndarray:
        """Return (T,) distance in cm of the lower inner lip from its f/v tuck place against the upper teeth."""
        if self.teeth_edge is None:
            raise ValueError("this LipModel was built without teeth; use LipModel.from_head")
        lower = self.lower_lip[None] + np.atleast_2d(weights).astype(np.float64) @ self.lower_per_shape
        return np.linalg.norm(lower - (self.teeth_edge + _TUCK_FROM_TEETH)[None], axis=-1)


def _upper_teeth_edge(head: BlendshapeHead) -> np.ndarray:
    """Return the (3,) midline upper incisal edge: from the head's own teeth when it has ICT's parts, else estimated from its lips."""
    from avatar.head import ICT_PARTS

    lm = head.landmarks68
    upper_lip = head.neutral[int(lm[_UPPER_MID])].astype(np.float64)
    if head.is_ict:
        a, b = ICT_PARTS["teeth"]
        idx = np.arange(a, b)
        # The upper teeth are the ones no blendshape moves (the lower ones ride the jaw).
        still = idx[np.abs(head.deltas[:, idx]).max(axis=(0, 2)) < 1e-3]
        verts = head.neutral[still].astype(np.float64)
        near = np.abs(verts[:, 0] - upper_lip[0]) < 0.6
        front = near & (verts[:, 2] > verts[near, 2].max() - 0.4)
        if front.any():
            edge = verts[front][np.argmin(verts[front, 1])].copy()
            edge[0] = upper_lip[0]
            return edge
    return upper_lip + _TEETH_FROM_UPPER_LIP


@lru_cache(maxsize=1)
def default_lip_model() -> LipModel:
    """Return the `LipModel` of the shipped ICT-FaceKit head (loaded once)."""
    from avatar.head import default_head

    return LipModel.from_head(default_head())


# Shapes `close_lips` may re-solve: together they can move the lower lip up/down and forward/back and the
# upper lip down, which is what any emotion's mouth (smile pulls the lips back, sadness and anger push
# the lower lip up through the upper one) needs to be brought back to lips-together.
CLOSURE_SHAPES: tuple[str, ...] = (
    "mouthClose", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
    "mouthLowerDownRight",
)
LIPS_TOUCH_CM = 0.1
"""Inner-lip distance `close_lips` aims for on a head whose neutral rests with its lips further apart."""
_PARTING = ("mouthShrugUpper", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight")
# Shapes the f/v tuck may re-solve: only ones that move the lower lip (the upper lip keeps the viseme's lift).
TUCK_SHAPES: tuple[str, ...] = ("mouthRollLower", "mouthShrugLower", "mouthClose", "mouthLowerDownLeft",
                                "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight")


def _amounts(mask: np.ndarray, n: int) -> np.ndarray:
    """Return (T,) float64 blend amounts in [0, 1] from a bool mask or float strengths."""
    amount = np.clip(np.asarray(mask, np.float64).reshape(-1), 0.0, 1.0)
    if amount.shape != (n,):
        raise ValueError(f"closure mask must have one value per frame ({n}), got shape {np.shape(mask)}")
    return amount


def close_lips(
    weights: np.ndarray, shut: np.ndarray, lip_model: LipModel | None = None, *, jaw_cap: float = 0.05,
    press: float = 0.3, stay_close: float = 0.02,
) -> np.ndarray:
    """Return a copy of (T, 52) `weights` whose lips are shut where `shut` is True (or 1), and part of the way where it is in (0, 1).

    On shut frames the jaw is capped at `jaw_cap`, mouthFunnel is removed, and the `CLOSURE_SHAPES` are
    re-solved by bounded least squares so the posed inner lips (three pairs) sit at the neutral's
    lips-together offsets, with mouthPress at least `press` and a small pull (`stay_close`) toward
    their current values (lip-parting shapes pulled toward 0), so the result stays close to the
    intended expression. Because the solve works on the mesh's own deltas, it undoes any emotion's
    mouth opening. A fractional `shut` (the release ramp of `closure_envelope`) blends the shut pose
    with the free one, so the lips part over a few frames instead of popping open.
    """
    from generators.speech.lsq import bounded_least_squares

    out = weights.astype(np.float32).copy()
    amount = _amounts(shut, len(out))
    if not amount.any():
        return out
    lips = lip_model or default_lip_model()
    cols = np.array([index_of(n) for n in CLOSURE_SHAPES])
    lo = np.zeros(len(cols))
    lo[[CLOSURE_SHAPES.index(n) for n in ("mouthPressLeft", "mouthPressRight")]] = press
    parting = np.array([n in _PARTING for n in CLOSURE_SHAPES])
    a = lips.per_shape[cols].reshape(len(cols), -1).T  # (P*3, S)
    ridge = np.sqrt(stay_close) * np.eye(len(cols))
    # Lips together: the neutral's own inner-lip offsets, unless the neutral rests with its lips apart
    # (a user's head): then the same directions shortened to the touching distance.
    norms = np.linalg.norm(lips.offset, axis=-1, keepdims=True)
    rest = (lips.offset * np.minimum(1.0, LIPS_TOUCH_CM / np.maximum(norms, 1e-9))).reshape(-1)
    for r in np.flatnonzero(amount > 0):
        free = out[r].astype(np.float64)
        w = free.copy()
        w[index_of("jawOpen")] = min(w[index_of("jawOpen")], jaw_cap)
        w[index_of("mouthFunnel")] = 0.0
        x0 = np.where(parting, 0.0, np.clip(w[cols], lo, 1.0))
        w[cols] = 0.0
        fixed = lips.offset.reshape(-1) + w @ lips.per_shape.reshape(len(w), -1)
        w[cols] = bounded_least_squares(np.vstack([a, ridge]), np.concatenate([rest - fixed, ridge @ x0]), lo, 1.0)
        out[r] = (amount[r] * w + (1.0 - amount[r]) * free).astype(np.float32)
    return out


def tuck_lips(
    weights: np.ndarray, tuck: np.ndarray, lip_model: LipModel | None = None, *, jaw_cap: float = 0.08,
    stay_close: float = 0.05,
) -> np.ndarray:
    """Return a copy of (T, 52) `weights` whose lower lip rests against the upper teeth where `tuck` is True (or 1).

    The f/v labiodental: the jaw is capped at `jaw_cap`, mouthFunnel and mouthPucker removed, and the
    `TUCK_SHAPES` re-solved by bounded least squares so the posed lower inner lip sits just in front of and
    above the head's own upper incisal edge (`LipModel.teeth_edge`); fractional `tuck` blends as in `close_lips`.
    """
    from generators.speech.lsq import bounded_least_squares

    out = weights.astype(np.float32).copy()
    amount = _amounts(tuck, len(out))
    lips = lip_model or default_lip_model()
    if not amount.any() or lips.teeth_edge is None:
        return out
    cols = np.array([index_of(n) for n in TUCK_SHAPES])
    a = lips.lower_per_shape[cols].T  # (3, S)
    ridge = np.sqrt(stay_close) * np.eye(len(cols))
    target = lips.teeth_edge + _TUCK_FROM_TEETH
    for r in np.flatnonzero(amount > 0):
        free = out[r].astype(np.float64)
        w = free.copy()
        w[index_of("jawOpen")] = min(w[index_of("jawOpen")], jaw_cap)
        w[index_of("mouthFunnel")] = 0.0
        w[index_of("mouthPucker")] = 0.0
        x0 = np.clip(w[cols], 0.0, 1.0)
        w[cols] = 0.0
        fixed = lips.lower_lip + w @ lips.lower_per_shape
        w[cols] = bounded_least_squares(np.vstack([a, ridge]), np.concatenate([target - fixed, ridge @ x0]), 0.0, 1.0)
        out[r] = (amount[r] * w + (1.0 - amount[r]) * free).astype(np.float32)
    return out
