"""Audio-only bilabial closure: the speech model's closure logit fused with the decoded phones (`method="hybrid"`).

Without a transcript two detectors look for p/b/m, and each finds bilabials the other misses: the words that
pocketsphinx decodes (right on natural voices, often wrong on formant synthesis) and the speech model's
closure logit. `hybrid_closure` shuts the lips where either says so:

* **the model's flag**: its closure logit above `FLAG_LOGIT`, each run held at least `FLAG_MIN_S` (grown
  toward its more confident neighbour), so a flag cannot fall between the frames of another aligner's phone;
* **the decoded phones**: p/b/m of the word decoding force-aligned (`phonetic.recognize`), each shut over its
  own aligned span only (at least `visemes.CLOSURE_MIN_S`), without the lead and tail margins that a transcript's
  phones get (`DECODED_LEAD_S`, `DECODED_TAIL_S`).

In a noisy take (estimated SNR under `NOISY_SNR_DB`) both detectors err more, so there only a confident flag
(`NOISY_FLAG_LOGIT`) closes the lips.

Every audio-only closure the detectors add where a person's lips stay open costs more than a right one gains:
on real talkers a false closure drops the lip gap's correlation with theirs, a true one barely moves it
(docs/speech.md). So the model's flag was trained on real voices' aligned p/b/m (precision 0.71 -> 0.88 on the
validation speakers, `scripts/finetune_speech_real.py --closure-only`), and the logit's sub-threshold peaks
(`closure_peaks`, which found bilabials on unseen synthetic voices but were wrong half the time on real ones)
are no longer merged by default (`peaks=True` restores them).

f/v tucks come from the decoded phones (the model has no tuck output), except where the lips are shut.
The constants were chosen on the validation speakers (real lips) and on training-family synthetic voices the
benchmark never scores (espeak-ng variants the model never heard, flite training voices), never on the
benchmark's held-out voices or speakers; docs/speech.md has the measurements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from generators.speech.phonetic import Phone

FLAG_LOGIT = -0.5
"""The model's closure flag: logit above this (probability 0.38; the streaming path, which cannot hold a run, uses 0)."""
FLAG_MIN_S = 0.1
"""...each flagged run held at least this long (three 30 fps frames): the flag sits inside the p/b/m, and a run of
two frames missed the judge's jittered phone on unseen synthetic voices more often."""
DECODED_LEAD_S = 0.0
"""Margin before a decoded p/b/m (a transcript's get `visemes.CLOSURE_LEAD_S`, 50 ms): the decoded words are often
wrong on real voices and their phones' edges loose, and a closure stretched into the vowel beside it shuts lips that a
person holds open. Without the margins the validation speakers' r rose 0.772 -> 0.789 with the closure of unseen
synthetic voices unchanged (89.1 % espeak-ng, 100 % flite; docs/speech.md)."""
DECODED_TAIL_S = 0.0
"""Margin after a decoded p/b/m (a transcript's get `visemes.CLOSURE_TAIL_S`, 35 ms); see `DECODED_LEAD_S`."""
NOISY_SNR_DB = 28.0
"""A recording whose estimated SNR (`audio.level_snr_db`) is under this is a noisy take: there the decoded phones
are not used for closures and the model's flag must pass `NOISY_FLAG_LOGIT`. Noise turns both detectors' errors
into closures where a person's lips stay open: on the validation speakers with white noise 20 dB under the speech,
audio-only r 0.617 -> 0.680 with this rule, pink 20 dB 0.675 -> 0.703, pink 10 dB 0.552 -> 0.574; clean clips
(33-47 dB) unchanged (docs/speech.md, "Noisy takes"). Synthetic voices with digital silence measure far above it."""
NOISY_FLAG_LOGIT = 1.5
"""The model's closure flag in a noisy take: logit above this (probability 0.82)."""
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
    logit: np.ndarray, phones: list[Phone], fps: float, *, peaks: bool = False, snr_db: float = float("inf"),
) -> tuple[np.ndarray, np.ndarray]:
    """Return the (T,) bool closure mask and (T,) bool f/v tuck mask of `method="hybrid"`.

    Args:
        logit: (T,) the speech model's closure logit at `fps` (> `FLAG_LOGIT` is its closure flag here).
        phones: phones decoded from the same audio (`phonetic.phones_from_audio` without a transcript).
        fps: frame rate of `logit` and of the masks.
        peaks: also add the logit's peaks (`closure_peaks`), as before 2026-12-07: more closures on unseen
            synthetic voices, and false ones on real talkers.
        snr_db: the recording's estimated SNR (`AudioFeatures.snr_db`); under `NOISY_SNR_DB` only the flag above
            `NOISY_FLAG_LOGIT` closes the lips (no decoded phones, no peaks).
    """
    from generators.speech.visemes import bilabial_frames, labiodental_frames

    z = np.asarray(logit, np.float64).reshape(-1)
    n = len(z)
    noisy = snr_db < NOISY_SNR_DB
    shut = hold_min_frames(z > (NOISY_FLAG_LOGIT if noisy else FLAG_LOGIT), z, fps, FLAG_MIN_S)
    if not noisy:
        if peaks:
            shut |= closure_peaks(z)
        shut |= bilabial_frames(phones, fps, n, lead_s=DECODED_LEAD_S, tail_s=DECODED_TAIL_S)
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
