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


def bilabial_frames(phones: list[Phone], fps: float, n_frames: int, hold: float = 0.8) -> np.ndarray:
    """Return a (n_frames,) bool mask of frames where the lips must be shut.

    A frame is shut when its time falls in the first `hold` share of a p/b/m phone (the rest is the
    release burst); a bilabial shorter than one frame still shuts the frame nearest its middle.
    """
    shut = np.zeros(n_frames, bool)
    for ph in phones:
        if ph.label not in BILABIAL_PHONES:
            continue
        end = ph.start + hold * (ph.end - ph.start)
        i0, i1 = int(np.ceil(ph.start * fps - 1e-9)), int(np.floor(end * fps - 1e-9))
        if i1 >= i0:
            shut[max(0, i0) : min(n_frames, i1 + 1)] = True
        else:
            shut[min(n_frames - 1, max(0, int(round((ph.start + ph.end) / 2 * fps))))] = True
    return shut


# ------------------------------------------------------------------ lip closure on the mesh
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))  # 68-point inner-lip pairs, upper then lower


@dataclass(frozen=True)
class LipModel:
    """The inner-lip gap of a head as an affine function of the ARKit weights.

    Attributes:
        offset: (P, 3) upper-minus-lower inner-lip vectors of the neutral, in cm.
        per_shape: (52, P, 3) change of those vectors per unit weight of each shape.
    """

    offset: np.ndarray
    per_shape: np.ndarray

    @classmethod
    def from_head(cls, head: BlendshapeHead) -> LipModel:
        """Return the lip model of `head` (needs its 68-point landmarks)."""
        lm = head.landmarks68
        up = np.array([lm[a] for a, _ in _INNER_LIP_PAIRS])
        lo = np.array([lm[b] for _, b in _INNER_LIP_PAIRS])
        offset = (head.neutral[up] - head.neutral[lo]).astype(np.float64)
        per_shape = (head.deltas[:, up] - head.deltas[:, lo]).astype(np.float64)
        return cls(offset, per_shape)

    def gap_vectors(self, weights: np.ndarray) -> np.ndarray:
        """Return (T, P, 3) upper-minus-lower inner-lip vectors for (T, 52) weights."""
        return self.offset[None] + np.einsum("tk,kpc->tpc", weights.astype(np.float64), self.per_shape)

    def gap(self, weights: np.ndarray) -> np.ndarray:
        """Return (T,) midline inner-lip distance in cm (landmarks 62-66) for (T, 52) weights."""
        return np.linalg.norm(self.gap_vectors(np.atleast_2d(weights))[:, 1], axis=-1)


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
_PARTING = ("mouthShrugUpper", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight")


def close_lips(
    weights: np.ndarray, shut: np.ndarray, lip_model: LipModel | None = None, *, jaw_cap: float = 0.05,
    press: float = 0.3, stay_close: float = 0.02,
) -> np.ndarray:
    """Return a copy of (T, 52) `weights` whose lips are shut on the frames where `shut` is True.

    On shut frames the jaw is capped at `jaw_cap`, mouthFunnel is removed, and the `CLOSURE_SHAPES` are
    re-solved by bounded least squares so the posed inner lips (three pairs) sit at the neutral's
    lips-together offsets, with mouthPress at least `press` and a small pull (`stay_close`) toward
    their current values (lip-parting shapes pulled toward 0), so the result stays close to the
    intended expression. Because the solve works on the mesh's own deltas, it undoes any emotion's
    mouth opening. Frames around a shut run are left to the coarticulation curves.
    """
    from scipy.optimize import lsq_linear

    out = weights.astype(np.float32).copy()
    if not shut.any():
        return out
    lips = lip_model or default_lip_model()
    cols = np.array([index_of(n) for n in CLOSURE_SHAPES])
    lo = np.zeros(len(cols))
    lo[[CLOSURE_SHAPES.index(n) for n in ("mouthPressLeft", "mouthPressRight")]] = press
    parting = np.array([n in _PARTING for n in CLOSURE_SHAPES])
    a = lips.per_shape[cols].reshape(len(cols), -1).T  # (P*3, S)
    ridge = np.sqrt(stay_close) * np.eye(len(cols))
    rest = lips.offset.reshape(-1)
    for r in np.flatnonzero(shut):
        w = out[r].astype(np.float64)
        w[index_of("jawOpen")] = min(w[index_of("jawOpen")], jaw_cap)
        w[index_of("mouthFunnel")] = 0.0
        x0 = np.where(parting, 0.0, np.clip(w[cols], lo, 1.0))
        w[cols] = 0.0
        fixed = lips.offset.reshape(-1) + w @ lips.per_shape.reshape(len(w), -1)
        res = lsq_linear(np.vstack([a, ridge]), np.concatenate([rest - fixed, ridge @ x0]), bounds=(lo, 1.0))
        w[cols] = res.x
        out[r] = w.astype(np.float32)
    return out
