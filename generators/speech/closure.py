"""Audio-only bilabial closure: the speech model's closure logit fused with the decoded phones (`method="hybrid"`).

Without a transcript two detectors look for p/b/m, and each finds bilabials the other misses: the words that
pocketsphinx decodes (right on natural voices, often wrong on formant synthesis) and the speech model's
closure logit (trained on synthetic voices). `hybrid_closure` shuts the lips where either says so:

* **the model's flag**: its closure logit above 0, as the streaming path uses it; a run shorter than
  `visemes.CLOSURE_MIN_S` (two 30 fps frames) is widened toward its more confident neighbour, the same
  minimum hold the phonetic path gives an aligned p/b/m, so a one-frame flag cannot fall between the frames
  of another aligner's phone;
* **the model's peaks**: on voices the model never trained on its logit often rises toward a closure without
  crossing 0. A local maximum of the logit that reaches `PEAK_LOGIT` and stands `PEAK_PROMINENCE` above the
  valleys around it is taken as a closure of two frames (the peak and its higher neighbour). A low threshold
  would shut the lips over whole stretches of uncertain speech; a peak closes the lips once per rise, which
  is what a bilabial does. Offline only: a peak is known one model step (20 ms) after it, more than the
  streaming path's latency budget allows;
* **the decoded phones**: p/b/m of the word decoding force-aligned (`phonetic.recognize`), with the
  phonetic path's margins (`visemes.bilabial_frames`).

f/v tucks come from the decoded phones (the model has no tuck output), except where the lips are shut.
The constants were chosen on training voices only (scripts/train_speech_model.py's voices, some at rates,
pitches and stretches outside its ranges, and espeak-ng variants the model never heard), never on the
benchmark's held-out voices; docs/speech.md has the measurements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from generators.speech.phonetic import Phone

PEAK_LOGIT = -2.5
"""A local maximum of the closure logit at least this high counts as a closure (the flag itself is logit > 0)."""
PEAK_PROMINENCE = 1.0
"""...when it stands at least this far (logit units) above the lower of the valleys on either side."""


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Return the [start, end) frame index pairs of the True runs of a (T,) bool mask."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _toward_higher(logit: np.ndarray, a: int, b: int) -> int:
    """Return the frame just outside run [a, b) on the side where the logit is higher (-1 when there is none)."""
    left = logit[a - 1] if a > 0 else -np.inf
    right = logit[b] if b < len(logit) else -np.inf
    if right == -np.inf and left == -np.inf:
        return -1
    return b if right >= left else a - 1


def hold_min_frames(shut: np.ndarray, logit: np.ndarray, fps: float, min_s: float | None = None) -> np.ndarray:
    """Return a (T,) bool copy of `shut` whose runs last at least `min_s` (default `visemes.CLOSURE_MIN_S`).

    A short run grows one frame at a time toward its neighbour with the higher `logit` (T,).
    """
    from generators.speech.visemes import CLOSURE_MIN_S

    need = max(1, int(round((CLOSURE_MIN_S if min_s is None else min_s) * fps)))  # 70 ms: two frames at 30 fps
    out = np.asarray(shut, bool).copy()
    for a, b in _runs(out):
        while b - a < need:
            j = _toward_higher(logit, a, b)
            if j < 0:
                break
            out[j] = True
            a, b = min(a, j), max(b, j + 1)
    return out


def _prominence(z: np.ndarray, i: int) -> float:
    """Return the prominence of the local maximum `z[i]`: its height above the higher of its two bases.

    Each base is the lowest point between the peak and the nearest higher point on that side (or the end of
    the clip): scipy.signal's definition, without importing scipy.signal.
    """
    higher_left = np.flatnonzero(z[:i] > z[i])
    higher_right = np.flatnonzero(z[i + 1 :] > z[i])
    left = z[(higher_left[-1] + 1 if len(higher_left) else 0) : i + 1].min()
    right = z[i : (i + 1 + higher_right[0] if len(higher_right) else len(z))].min()
    return float(z[i] - max(left, right))


def closure_peaks(logit: np.ndarray, height: float = PEAK_LOGIT, prominence: float = PEAK_PROMINENCE) -> np.ndarray:
    """Return a (T,) bool mask of two-frame closures at the local maxima of the (T,) closure `logit`.

    A peak counts when it reaches `height` and its prominence (its height above the higher of the two lowest
    points between it and higher ground on either side; a plateau counts once, at its first frame) is at least
    `prominence`; the frame next to it on its higher side closes too.
    """
    z = np.asarray(logit, np.float64).reshape(-1)
    out = np.zeros(len(z), bool)
    if len(z) == 0:
        return out
    padded = np.r_[-np.inf, z, -np.inf]
    nxt = np.empty(len(z))  # the next different value after each frame (a plateau looks past itself)
    right = -np.inf
    for k in range(len(z) - 1, -1, -1):
        if k + 1 < len(z) and z[k + 1] != z[k]:
            right = z[k + 1]
        nxt[k] = right
    candidates = np.flatnonzero((z > padded[:-2]) & (z > nxt) & (z >= height))
    for i in candidates:
        if _prominence(z, int(i)) >= prominence:
            out[i] = True
            j = _toward_higher(z, int(i), int(i) + 1)
            if j >= 0:
                out[j] = True
    return out


def hybrid_closure(
    logit: np.ndarray, phones: list[Phone], fps: float, *, peaks: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the (T,) bool closure mask and (T,) bool f/v tuck mask of `method="hybrid"`.

    Args:
        logit: (T,) the speech model's closure logit at `fps` (> 0 is its closure flag).
        phones: phones decoded from the same audio (`phonetic.phones_from_audio` without a transcript).
        fps: frame rate of `logit` and of the masks.
        peaks: add the logit's peaks (`closure_peaks`); False keeps only the flag and the phones.
    """
    from generators.speech.visemes import bilabial_frames, labiodental_frames

    z = np.asarray(logit, np.float64).reshape(-1)
    n = len(z)
    shut = hold_min_frames(z > 0.0, z, fps)
    if peaks:
        shut |= closure_peaks(z)
    shut |= bilabial_frames(phones, fps, n)
    tuck = labiodental_frames(phones, fps, n) & ~shut
    return shut, tuck


def transcript_closure(phones: list[Phone], fps: float, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (T,) bool closure mask and (T,) bool f/v tuck mask of `method="hybrid"` with a transcript.

    The p/b/m and f/v of the force-aligned transcript with the phonetic path's margins, and nothing else: the
    transcript says which bilabials there are, so the model's flag and peaks would only add closures where
    a person's lips stay open (measured on held-out real speakers, docs/speech.md).
    """
    from generators.speech.visemes import bilabial_frames, labiodental_frames

    shut = bilabial_frames(phones, fps, n_frames)
    return shut, labiodental_frames(phones, fps, n_frames) & ~shut
