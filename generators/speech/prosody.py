"""Vocal arousal from prosody, for `intensity="auto"`: a heuristic on loudness, pitch range and speaking rate.

This is *not* emotion recognition. It measures how activated the voice sounds (louder, wider pitch
movement, faster syllables read as more aroused; Scherer 2003, "Vocal communication of emotion"; Juslin &
Laukka 2003) and lets that scale the intensity of the emotion the caller commanded. It never picks the
emotion. Three cues, each mapped linearly onto 0..1 between a calm and an aroused reference and averaged
with exponential time constants of about two seconds:

* loudness: RMS level of voiced frames, -38 dBFS (calm) .. -14 dBFS (aroused). It depends on the
  recording's gain: normalise clips (peak or loudness) when comparing speakers;
* pitch range: standard deviation of F0 in semitones, 1.0 (monotone) .. 4.5 (animated);
* rate: syllable nuclei (peaks of the 10 ms level envelope, at least 3 dB above the surrounding dips) per
  second of voice activity, 2.5 (slow) .. 6.0 (fast).

`ArousalTracker` is causal (frame by frame, used by streaming); `vocal_arousal` runs the same tracker over a
clip, so the offline and streaming paths agree.
"""

from __future__ import annotations

import math

import numpy as np

from avatar.constants import HOP_S

LOUDNESS_DB = (-38.0, -14.0)
PITCH_RANGE_ST = (1.0, 4.5)
SYLLABLES_PER_S = (2.5, 6.0)
AUTO_INTENSITY = (0.25, 1.0)
"""Intensity at arousal 0 and at arousal 1 for `intensity="auto"`."""


def _unit(x: float, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def frame_pitch(frame: np.ndarray, sample_rate: int, fmin: float = 70.0, fmax: float = 400.0, voicing: float = 0.5) -> float:
    """Return the F0 in Hz of one analysis frame by normalised autocorrelation (0.0 when unvoiced)."""
    x = frame.astype(np.float64) - float(np.mean(frame))
    n = len(x)
    lo, hi = int(sample_rate / fmax), min(n - 1, int(sample_rate / fmin))
    if hi <= lo or float(np.dot(x, x)) < 1e-6 * n:
        return 0.0
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, nfft)) ** 2, nfft)[:n]
    energy = ac[0] * (n - np.arange(n)) / n
    nac = ac[lo:hi] / np.maximum(energy[lo:hi], 1e-9)
    k = int(np.argmax(nac))
    return float(sample_rate / (k + lo)) if nac[k] > voicing else 0.0


class ArousalTracker:
    """Return running vocal arousal in [0, 1] from 10 ms frames: `update(level_dbfs, frame)` then `value()`."""

    def __init__(self, hop_s: float = HOP_S, tau_s: float = 2.0, sample_rate: int = 16000) -> None:
        self.a = math.exp(-hop_s / tau_s)
        self.hop_s = hop_s
        self.rate = sample_rate
        self.loud = None  # EMA of voiced level
        self.st_mean = None
        self.st_var = 0.0
        self.ref_f0 = None
        self.peaks = 0.0  # EMA of syllable peaks per frame
        self.active = 0.0  # EMA of active frames
        self.env: list[float] = []
        self.dip = 0.0

    def update(self, level_db: float, frame: np.ndarray | None = None) -> None:
        """Add one 10 ms frame: its RMS level in dBFS and (optionally) its samples for the pitch cue."""
        a = self.a
        f0 = frame_pitch(frame, self.rate) if frame is not None else 0.0
        voiced = f0 > 0.0
        if voiced:
            self.loud = level_db if self.loud is None else a * self.loud + (1 - a) * level_db
            self.ref_f0 = f0 if self.ref_f0 is None else self.ref_f0
            st = 12.0 * math.log2(f0 / self.ref_f0)
            if self.st_mean is None:
                self.st_mean = st
            d = st - self.st_mean
            self.st_mean += (1 - a) * d
            self.st_var = a * self.st_var + (1 - a) * d * d
        # Syllable nuclei: a local maximum of the (3-frame smoothed) envelope 3 dB above the last dip.
        self.env.append(level_db)
        peak = 0.0
        if len(self.env) >= 5:
            e = np.convolve(self.env[-5:], np.ones(3) / 3, mode="valid")  # smoothed frames -3, -2, -1
            self.dip = min(self.dip, e[1]) if self.dip else e[1]
            if e[1] > e[0] and e[1] >= e[2] and e[1] - self.dip >= 3.0 and e[1] > (self.loud or -60.0) - 15.0:
                peak = 1.0
                self.dip = e[1]
            self.env = self.env[-5:]
        self.peaks = a * self.peaks + (1 - a) * peak
        self.active = a * self.active + (1 - a) * (1.0 if voiced or level_db > (self.loud or -60.0) - 20.0 else 0.0)

    def cues(self) -> tuple[float, float, float]:
        """Return (loudness dBFS, pitch range in semitones, syllables per active second) so far."""
        rate = self.peaks / max(self.active, 1e-3) / self.hop_s
        return (self.loud if self.loud is not None else -90.0, math.sqrt(max(self.st_var, 0.0)), rate)

    def value(self) -> float:
        """Return the arousal in [0, 1]: the mean of the three cues mapped onto their calm..aroused ranges."""
        if self.loud is None:
            return 0.5
        loud, st, rate = self.cues()
        return (_unit(loud, LOUDNESS_DB) + _unit(st, PITCH_RANGE_ST) + _unit(rate, SYLLABLES_PER_S)) / 3.0

    @staticmethod
    def intensity(arousal: float) -> float:
        """Return the emotion intensity for an arousal in [0, 1] (`AUTO_INTENSITY` range)."""
        lo, hi = AUTO_INTENSITY
        return lo + (hi - lo) * float(np.clip(arousal, 0.0, 1.0))


def vocal_arousal(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float, frame_s: float = 0.025) -> np.ndarray:
    """Return (n_frames,) float32 arousal in [0, 1] at `fps` for a clip: `ArousalTracker` run over its 10 ms frames."""
    tracker = ArousalTracker(HOP_S, sample_rate=sample_rate)
    win, hop = int(round(frame_s * sample_rate)), int(round(HOP_S * sample_rate))
    half = win // 2
    x = np.pad(samples.astype(np.float32), (half, half))
    n = max(1, 1 + (len(samples)) // hop)
    values = np.zeros(n, np.float32)
    for k in range(n):
        frame = x[k * hop : k * hop + win]
        level = 10.0 * math.log10(max(float(np.mean(frame.astype(np.float64) ** 2)), 1e-12)) if len(frame) else -120.0
        tracker.update(level, frame if len(frame) == win else None)
        values[k] = tracker.value()
    t = np.arange(n_frames) / fps
    return np.interp(t, np.arange(n) * HOP_S, values).astype(np.float32)
