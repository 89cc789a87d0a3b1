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
clip's `AudioFeatures`, so the offline and streaming paths agree. F0 comes from the one pitch tracker,
`audio.frames_pitch`.
"""

from __future__ import annotations

import math

from typing import TYPE_CHECKING

import numpy as np

from avatar.constants import HOP_S

if TYPE_CHECKING:
    from generators.speech.audio import AudioFeatures

LOUDNESS_DB = (-38.0, -14.0)
PITCH_RANGE_ST = (1.0, 4.5)
SYLLABLES_PER_S = (2.5, 6.0)
AUTO_INTENSITY = (0.25, 1.0)
"""Intensity at arousal 0 and at arousal 1 for `intensity="auto"`."""


def _unit(x: float, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


class ArousalTracker:
    """Return running vocal arousal in [0, 1] from 10 ms frames: `update(level_dbfs, frame)` then `value()`."""

    def __init__(self, hop_s: float = HOP_S, tau_s: float = 2.0) -> None:
        self.a = math.exp(-hop_s / tau_s)
        self.hop_s = hop_s
        self.loud = None  # EMA of voiced level
        self.st_mean = None
        self.st_var = 0.0
        self.ref_f0 = None
        self.peaks = 0.0  # EMA of syllable peaks per frame
        self.active = 0.0  # EMA of active frames
        self.env: list[float] = []
        self.dip = 0.0

    def update(self, level_db: float, f0: float = 0.0) -> None:
        """Add one 10 ms frame: its RMS level in dBFS and its F0 in Hz (0 when unvoiced; `audio.frames_pitch`)."""
        a = self.a
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


def vocal_arousal(features: AudioFeatures, n_frames: int, fps: float) -> np.ndarray:
    """Return (n_frames,) float32 arousal in [0, 1] at `fps` for a clip: `ArousalTracker` run over its 10 ms frames.

    Reads the clip's `AudioFeatures` (RMS level and F0 on the 10 ms grid), computed once per clip.
    """
    level, f0 = features.rms_db, features.pitch
    tracker = ArousalTracker(features.hop_s)
    values = np.zeros(len(level), np.float32)
    for k in range(len(level)):
        tracker.update(float(level[k]), float(f0[k]) if k < len(f0) else 0.0)  # the 40 ms F0 frames end sooner
        values[k] = tracker.value()
    t = np.arange(n_frames) / fps
    return np.interp(t, np.arange(len(values)) * features.hop_s, values).astype(np.float32)
