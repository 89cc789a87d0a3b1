"""Speech audio in: any common file or raw array -> 16 kHz mono float32, with checks and voice activity.

Files are read with soundfile (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1) and resampled with soxr,
both librosa dependencies; anything soundfile cannot open goes through `librosa.load` (audioread).
Every bad input raises `AvatarInputError` with a one-line message that names the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from avatar.constants import HOP_S, SAMPLE_RATE
from avatar.errors import AvatarInputError
from avatar.notices import AvatarWarning
from avatar.validation import check_sample_rate

__all__ = ["HOP_S", "SAMPLE_RATE", "Audio", "AudioFeatures", "NoSpeechWarning", "SilenceWarning", "analyse_audio", "check_audio", "frame_rms_dbfs", "level_snr_db",
           "frames_pitch", "load_audio", "pitch_track", "voice_activity"]

MAX_SECONDS = 600.0
"""Default longest accepted clip (10 min): longer audio should be split by the caller."""

SILENCE_DBFS = -60.0
"""Default silence threshold: a clip whose loudest 25 ms frame is below this RMS level holds no speech
(`load_audio` rejects it; `animate` makes an idle clip of it, with a warning)."""

MIN_SPEECH_S = 0.2
"""Least voice activity, in seconds, for a clip to count as speech: below it (noise, a click, a breath) `animate`
makes an idle clip, with a warning."""

MOSTLY_SILENT_SHARE = 0.1
"""Below this share of voice activity `animate` warns that the clip is mostly silence (the pauses are idle)."""

INSTALL_HINT = "pip install emoavatar[speech]"


class SilenceWarning(AvatarWarning):
    """`animate` found a clip that is mostly silence: it animates the silence as an idle face (an `AvatarWarning`)."""


class NoSpeechWarning(SilenceWarning):
    """`animate` found no speech in a clip (silent, or only noise): the whole clip is an idle face."""


@dataclass(frozen=True)
class Audio:
    """Mono speech samples at a known rate, and where they came from.

    Attributes:
        samples: (N,) float32 in [-1, 1].
        sample_rate: samples per second (16 000 after `load_audio`).
        path: the source file, or None for a raw array.
    """

    samples: np.ndarray
    sample_rate: int
    path: str | None = None

    @property
    def duration(self) -> float:
        """Return the length in seconds."""
        return len(self.samples) / self.sample_rate

    def to_pcm16(self) -> bytes:
        """Return the samples as little-endian int16 bytes (what pocketsphinx reads)."""
        return (np.clip(self.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _require_soundfile():  # noqa: ANN202 - module objects
    try:
        import soundfile
        import soxr
    except ImportError:
        raise AvatarInputError(f"reading audio needs soundfile and soxr: {INSTALL_HINT}") from None
    return soundfile, soxr


def _read_file(path: Path, sample_rate: int) -> np.ndarray:
    soundfile, soxr = _require_soundfile()
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
    except Exception:  # soundfile raises LibsndfileError / RuntimeError / TypeError by version
        mono, rate = _read_with_librosa(path, sample_rate)
    if mono.size and rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _read_with_librosa(path: Path, sample_rate: int) -> tuple[np.ndarray, int]:
    try:
        import librosa
    except ImportError:
        raise AvatarInputError(f"cannot read {str(path)!r} without librosa: {INSTALL_HINT}") from None
    import warnings

    try:
        with warnings.catch_warnings():  # librosa warns on every audioread fallback; the error below says it all
            warnings.simplefilter("ignore")
            mono, rate = librosa.load(str(path), sr=sample_rate, mono=True)
    except Exception as exc:  # audioread/soundfile give many exception types for non-audio files
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise AvatarInputError(
            f"cannot read {str(path)!r} as audio ({reason}): pass a WAV, FLAC, OGG or MP3 file"
        ) from None
    return mono, int(rate)


def frame_rms_dbfs(samples: np.ndarray, sample_rate: int, frame_s: float = 0.025, hop_s: float = HOP_S) -> np.ndarray:
    """Return the (F,) float32 RMS level in dBFS of frames `frame_s` long every `hop_s` seconds."""
    win, hop = max(1, int(round(frame_s * sample_rate))), max(1, int(round(hop_s * sample_rate)))
    n = max(1, 1 + (len(samples) - win) // hop) if len(samples) >= win else 1
    padded = np.pad(samples.astype(np.float32), (0, max(0, (n - 1) * hop + win - len(samples))))
    # Cumulative sums make every window's energy O(1), so a 10-minute clip costs milliseconds.
    csum = np.concatenate([[0.0], np.cumsum(padded.astype(np.float64) ** 2)])
    starts = np.arange(n) * hop
    energy = (csum[starts + win] - csum[starts]) / win
    return (10.0 * np.log10(np.maximum(energy, 1e-12))).astype(np.float32)


SNR_PERCENTILES = (1.0, 95.0)
"""`level_snr_db`'s quiet and loud frames: the 1st percentile of the 25 ms frames' level stands for the noise (the
pauses, the stops' silences: a reading without long pauses still has that many quiet frames, where the 5th
percentile already falls inside its speech), the 95th for the speech's loud syllables."""


def level_snr_db(rms_db: np.ndarray) -> float:
    """Return the recording's estimated signal-to-noise ratio in dB from its (F,) frame levels (`frame_rms_dbfs`).

    The loud frames' level over the quiet frames' (`SNR_PERCENTILES`): GRID's studio clips measure 33-47 dB, the
    same clips with white noise 20 dB under the speech 23-27 dB, continuous LibriVox reading 30-32 dB, a voice with
    digital silence far more. A take without any pause reads low (its quietest frames are speech), so this only
    decides what to trust less.
    """
    level = np.asarray(rms_db, np.float64).reshape(-1)
    if level.size == 0:
        return float("inf")
    quiet, loud = np.percentile(level, SNR_PERCENTILES)
    return float(loud - quiet)


def check_audio(
    samples: np.ndarray, sample_rate: int, *, name: str, max_seconds: float = MAX_SECONDS,
    silence_dbfs: float = SILENCE_DBFS,
) -> np.ndarray:
    """Return the clip's (F,) RMS level in dBFS every `HOP_S` when it is usable; raise when empty, too long or silent."""
    if samples.size == 0:
        raise AvatarInputError(f"{name} is empty (0 samples): pass a clip with speech in it")
    if not np.all(np.isfinite(samples)):
        raise AvatarInputError(f"{name} contains NaN or infinite samples: clean the audio first")
    seconds = samples.size / sample_rate
    if seconds > max_seconds:
        raise AvatarInputError(
            f"{name} is {seconds:.1f} s long, over the {max_seconds:.0f} s limit: split it, or raise max_seconds"
        )
    level = frame_rms_dbfs(samples, sample_rate)
    loudest = float(level.max())
    if loudest < silence_dbfs:
        raise AvatarInputError(
            f"{name} is silent (loudest frame {loudest:.1f} dBFS RMS, below the {silence_dbfs:.0f} dBFS threshold): "
            "pass audio with speech, or lower silence_dbfs"
        )
    return level


def load_audio(
    audio: str | os.PathLike | np.ndarray | Audio, sample_rate: int | None = None, *,
    target_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS, silence_dbfs: float = SILENCE_DBFS,
) -> Audio:
    """Return `audio` as an `Audio` of mono float32 samples at `target_rate` Hz, checked for use.

    Args:
        audio: a path to any common audio file, an `Audio`, or a raw array (N,) or (N, C) / (C, N).
        sample_rate: the rate of a raw array (required for arrays, ignored for files).
        target_rate: rate to resample to (16 kHz for the speech models).
        max_seconds: longest accepted clip.
        silence_dbfs: a clip whose loudest frame is quieter than this is rejected as silent.
    Raises:
        AvatarInputError: missing or unreadable file, no rate for an array, empty, silent or over-long audio.
    """
    return analyse_audio(audio, sample_rate, target_rate=target_rate, max_seconds=max_seconds,
                         silence_dbfs=silence_dbfs).audio


def analyse_audio(
    audio: str | os.PathLike | np.ndarray | Audio, sample_rate: int | None = None, *,
    target_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS, silence_dbfs: float = SILENCE_DBFS,
) -> AudioFeatures:
    """Return the `AudioFeatures` of `audio` (loaded and checked as `load_audio` does; the RMS level kept)."""
    if isinstance(audio, Audio):
        audio, sample_rate, path = audio.samples, audio.sample_rate, audio.path
    else:
        path = None
    if isinstance(audio, (str, os.PathLike)):
        p = Path(audio)
        if not p.exists():
            raise AvatarInputError(f"audio file not found: {str(p)!r}: check the path")
        if p.is_dir():
            raise AvatarInputError(f"{str(p)!r} is a folder, not an audio file: pass a .wav/.flac/.mp3 file")
        samples = _read_file(p, target_rate)
        name = f"audio file {str(p)!r}"
        path = str(p)
    else:
        arr = np.asarray(audio)
        if arr.dtype.kind not in "fiu":
            raise AvatarInputError(f"audio array must be numeric, got dtype {arr.dtype}: pass float samples in [-1, 1]")
        if sample_rate is None:
            raise AvatarInputError(
                "a raw audio array needs its rate: pass sample_rate= (e.g. 16000), or pass a file path instead"
            )
        sample_rate = check_sample_rate(sample_rate)
        if arr.dtype.kind in "iu":  # integer PCM: scale to [-1, 1] by the type's range
            arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
        arr = arr.astype(np.float32)
        if arr.ndim == 2:  # channels on the short axis
            arr = arr.mean(axis=1) if arr.shape[0] >= arr.shape[1] else arr.mean(axis=0)
        elif arr.ndim != 1:
            raise AvatarInputError(f"audio array must be (N,) or (N, channels), got shape {arr.shape}")
        if arr.size and float(np.abs(arr).max()) > 32.0:
            raise AvatarInputError(
                "audio array values reach beyond ±32: pass float samples in [-1, 1] (divide int16 PCM by 32768)"
            )
        samples = arr
        if samples.size and sample_rate != target_rate:
            _, soxr = _require_soundfile()
            samples = soxr.resample(samples, sample_rate, target_rate, quality="HQ").astype(np.float32)
        name = "audio array"
    level = check_audio(samples, target_rate, name=name, max_seconds=max_seconds, silence_dbfs=silence_dbfs)
    return AudioFeatures(Audio(np.ascontiguousarray(samples, np.float32), target_rate, path), level)


@dataclass(frozen=True)
class AudioFeatures:
    """What every speech stage reads about one clip, computed once per clip.

    Attributes:
        audio: the clip (mono float32 at `SAMPLE_RATE`).
        rms_db: (F,) float32 RMS level in dBFS of 25 ms frames every `HOP_S` (10 ms).
        activity: (F,) bool voice activity on the same grid (`voice_activity`), computed on first use.
        pitch: (F,) float32 F0 in Hz on the same grid (0 where unvoiced), computed on first use.
    """

    audio: Audio
    rms_db: np.ndarray

    @property
    def hop_s(self) -> float:
        """Return the analysis hop in seconds (`avatar.constants.HOP_S`)."""
        return HOP_S

    @cached_property
    def activity(self) -> np.ndarray:
        """Return the (F,) bool voice-activity mask (energy gate with hysteresis) from `rms_db`."""
        return voice_activity(self.audio, level=self.rms_db)

    @cached_property
    def snr_db(self) -> float:
        """Return the clip's estimated signal-to-noise ratio in dB (`level_snr_db` of `rms_db`)."""
        return level_snr_db(self.rms_db)

    @cached_property
    def pitch(self) -> np.ndarray:
        """Return the (F',) float32 F0 track in Hz every `HOP_S` (0 where unvoiced; 40 ms frames, so F' <= F)."""
        return pitch_track(self.audio.samples, self.audio.sample_rate, hop_s=HOP_S)


def pitch_track(samples: np.ndarray, sample_rate: int, hop_s: float = HOP_S, fmin: float = 70.0, fmax: float = 400.0,
                voicing: float = 0.5) -> np.ndarray:
    """Return (F,) float32 F0 in Hz of 40 ms frames every `hop_s` seconds (0 where unvoiced), by `frames_pitch`."""
    win = int(round(0.04 * sample_rate))
    hop = max(1, int(round(hop_s * sample_rate)))
    if len(samples) < win:
        return np.zeros(1, np.float32)
    n = 1 + (len(samples) - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    return frames_pitch(samples[idx], sample_rate, fmin, fmax, voicing)


def frames_pitch(frames: np.ndarray, sample_rate: int, fmin: float = 70.0, fmax: float = 400.0,
                 voicing: float = 0.5) -> np.ndarray:
    """Return (n,) float32 F0 in Hz of (n, win) analysis frames by normalised autocorrelation (0 where unvoiced).

    The one pitch tracker: the clip's track (`pitch_track`, `AudioFeatures.pitch`) and streaming's frame by frame
    both run it. A plain-numpy estimator rather than librosa's pyin/yin: those compile with numba on first use,
    which costs seconds, far more than the whole animation of a short clip.
    """
    frames = np.asarray(frames, np.float32)
    n, win = frames.shape
    frames = frames - frames.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * win)))
    spec = np.fft.rfft(frames, nfft, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=1)[:, :win]
    lag_lo, lag_hi = int(sample_rate / fmax), min(win - 1, int(sample_rate / fmin))
    if lag_hi <= lag_lo:
        return np.zeros(n, np.float32)
    # Normalize by the energy of the overlapping part so long lags are not penalised.
    energy = ac[:, :1] * (win - np.arange(win))[None, :] / win
    nac = ac[:, lag_lo:lag_hi] / np.maximum(energy[:, lag_lo:lag_hi], 1e-9)
    best = nac.argmax(axis=1)
    peak = nac[np.arange(n), best]
    f0 = sample_rate / (best + lag_lo).astype(np.float32)
    loud = ac[:, 0] > 1e-6 * win
    return np.where((peak > voicing) & loud, f0, 0.0).astype(np.float32)


def voice_activity(
    audio: Audio, *, level: np.ndarray | None = None, hop_s: float = HOP_S, on_db: float = 12.0, off_db: float = 6.0, floor_below_peak_db: float = 40.0,
    min_speech_s: float = 0.05, min_silence_s: float = 0.15, hangover_s: float = 0.08,
) -> np.ndarray:
    """Return a (F,) bool voice-activity mask, one value per `hop_s` seconds, from an energy gate with hysteresis.

    The gate opens when a frame rises `on_db` above the noise floor (the 10th percentile level, but at
    least `floor_below_peak_db` under the loudest frame, so clean synthetic audio with digital silence still
    gates) and closes only when it drops below `off_db` above it; that hysteresis stops the mouth chattering
    on breathy word endings. Bursts shorter than `min_speech_s` are dropped, pauses shorter than
    `min_silence_s` are bridged (the mouth should not snap shut between words), and `hangover_s` keeps the
    gate open after speech so plosive releases and final fricatives are not cut. `level` is the clip's
    `frame_rms_dbfs` at `hop_s` when the caller already has it (`AudioFeatures.rms_db`).
    """
    if level is None or hop_s != HOP_S:
        level = frame_rms_dbfs(audio.samples, audio.sample_rate, hop_s=hop_s)
    floor = max(float(np.percentile(level, 10)), float(level.max()) - floor_below_peak_db)
    on, off = floor + on_db, floor + off_db
    active = np.zeros(len(level), bool)
    state = False
    for i, v in enumerate(level):  # a sequential gate: at 100 frames/s even 10 minutes is 60k steps
        state = v > off if state else v > on
        active[i] = state
    active = _fill_runs(active, False, int(round(min_silence_s / hop_s)))
    active = _fill_runs(active, True, int(round(min_speech_s / hop_s)))
    hang = int(round(hangover_s / hop_s))
    if hang > 0 and active.any():
        ends = np.flatnonzero(active[:-1] & ~active[1:])
        for e in ends:
            active[e + 1 : e + 1 + hang] = True
    return active


def _fill_runs(mask: np.ndarray, value: bool, shorter_than: int) -> np.ndarray:
    """Return `mask` with interior runs equal to `value` shorter than `shorter_than` frames flipped."""
    out = mask.copy()
    if shorter_than <= 0 or len(out) == 0:
        return out
    change = np.flatnonzero(np.diff(out.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [len(out)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        interior = a > 0 and b < len(out)
        if out[a] == value and b - a < shorter_than and (interior or value):
            out[a:b] = not value
    return out
