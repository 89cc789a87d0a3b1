"""Degraded copies of a recording: noise at a chosen signal-to-noise ratio and room reverberation.

A studio voice (GRID, CREMA-D) is not what a user records: a phone or camera take carries room noise, other
voices and the room's echo. These make such copies, seeded, so that the speech model can be trained for them
(`scripts/finetune_speech_real.py --noise`) and measured on them (`benchmarks/bench_realism.py --noise`).

A condition is written as a kind and a number: "white20", "pink10", "brown15", "babble10" (noise at that SNR in
dB against the speech's active level), "reverb50" (sox's `reverb` at that reverberance, 0-100), or "clean".
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from avatar.errors import AvatarInputError

NOISE_SLOPES = {"white": 0.0, "pink": 1.0, "brown": 2.0}
"""Noise kinds made here, by the exponent of their power spectrum's 1/f^a fall (white flat; pink, brown: room and
traffic rumble, most of their power low)."""
KINDS = (*NOISE_SLOPES, "babble", "reverb")
ACTIVE_FLOOR_DB = -40.0
"""A 20 ms frame counts toward the speech level when within this of the loudest frame: the level is speech's,
not the pauses' (a pause-heavy clip would otherwise get quieter noise for the same SNR)."""


def parse_condition(condition: str) -> tuple[str, float]:
    """Return (kind, value) of a condition such as "pink10" or "reverb50" ("clean" gives ("clean", 0.0)).

    Raises AvatarInputError naming the condition and the accepted forms.
    """
    text = condition.strip().lower()
    if text == "clean":
        return "clean", 0.0
    m = re.fullmatch(r"([a-z]+)(-?\d+(?:\.\d+)?)", text)
    if m is None or m.group(1) not in KINDS:
        raise AvatarInputError(f"unknown audio condition {condition!r}: use clean, or one of {', '.join(KINDS)} followed by "
                               "the SNR in dB (e.g. pink10) or, for reverb, the reverberance 0-100 (e.g. reverb50)")
    kind, value = m.group(1), float(m.group(2))
    if kind == "reverb" and not 0 <= value <= 100:
        raise AvatarInputError(f"reverberance must be 0-100, got {value:g} in {condition!r}")
    return kind, value


def speech_level(samples: np.ndarray, sample_rate: int) -> float:
    """Return the mean power of the 20 ms frames within `ACTIVE_FLOOR_DB` of the loudest (0 for silence)."""
    x = np.asarray(samples, np.float64).reshape(-1)
    hop = max(1, int(0.02 * sample_rate))
    m = len(x) // hop
    if m == 0:
        return float(np.mean(x ** 2)) if len(x) else 0.0
    power = np.mean(x[: m * hop].reshape(m, hop) ** 2, axis=1)
    top = power.max()
    if top <= 0:
        return 0.0
    return float(power[power >= top * 10 ** (ACTIVE_FLOOR_DB / 10)].mean())


def coloured_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Return (n,) float64 noise of unit RMS whose power spectrum falls as 1/f^`slope` (0 white, 1 pink, 2 brown)."""
    if n == 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0  # the DC bin is dropped below; this only avoids dividing by zero
    spectrum *= f ** (-slope / 2)
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, n)
    rms = np.sqrt(np.mean(out ** 2))
    return out / rms if rms > 0 else out


def babble_noise(n: int, voices: list[np.ndarray], rng: np.random.Generator, talkers: int = 4) -> np.ndarray:
    """Return (n,) float64 babble of unit RMS: `talkers` of the `voices` (same rate), each looped from a random start."""
    if not voices:
        raise AvatarInputError("babble noise needs other voices to mix: pass recordings of other talkers")
    out = np.zeros(n)
    for k in rng.choice(len(voices), size=min(talkers, len(voices)), replace=False):
        v = np.asarray(voices[k], np.float64).reshape(-1)
        if len(v) == 0:
            continue
        v = v / max(np.sqrt(np.mean(v ** 2)), 1e-12)
        out += np.resize(np.roll(v, -int(rng.integers(len(v)))), n)
    rms = np.sqrt(np.mean(out ** 2))
    return out / rms if rms > 0 else out


def add_noise(samples: np.ndarray, sample_rate: int, kind: str, snr_db: float, rng: np.random.Generator,
              voices: list[np.ndarray] | None = None) -> np.ndarray:
    """Return float32 `samples` plus `kind` noise ("white", "pink", "brown", "babble" from `voices`) at `snr_db`
    below the speech's active level (`speech_level`), clipped to [-1, 1] as a recorder would."""
    x = np.asarray(samples, np.float64).reshape(-1)
    if kind == "babble":
        noise = babble_noise(len(x), voices or [], rng)
    elif kind in NOISE_SLOPES:
        noise = coloured_noise(len(x), NOISE_SLOPES[kind], rng)
    else:
        raise AvatarInputError(f"unknown noise kind {kind!r}: use one of {', '.join((*NOISE_SLOPES, 'babble'))}")
    level = speech_level(x, sample_rate)
    return np.clip(x + noise * np.sqrt(level / 10 ** (snr_db / 10)), -1.0, 1.0).astype(np.float32)


def reverberate(samples: np.ndarray, sample_rate: int, reverberance: float = 50.0, room_scale: float = 100.0) -> np.ndarray:
    """Return float32 `samples` through sox's `reverb` (a room: `reverberance` 0-100, `room_scale` 0-100), wet and dry
    mixed as sox does, cut to the input's length. Needs the `sox` program (Debian package sox)."""
    import soundfile as sf

    x = np.asarray(samples, np.float32).reshape(-1)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, x, sample_rate, subtype="FLOAT")
        try:
            subprocess.run(["sox", str(src), str(dst), "reverb", f"{reverberance:g}", "50", f"{room_scale:g}"],
                           check=True, capture_output=True)
        except FileNotFoundError as exc:
            raise AvatarInputError("reverberation needs sox: install it (apt install sox)") from exc
        y, _ = sf.read(dst, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    return np.clip(np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)], -1.0, 1.0).astype(np.float32)


def degrade(samples: np.ndarray, sample_rate: int, condition: str, rng: np.random.Generator,
            voices: list[np.ndarray] | None = None) -> np.ndarray:
    """Return float32 `samples` under `condition` ("clean", "pink10", "babble5", "reverb50", ...; `parse_condition`)."""
    kind, value = parse_condition(condition)
    if kind == "clean":
        return np.asarray(samples, np.float32).reshape(-1)
    if kind == "reverb":
        return reverberate(samples, sample_rate, value)
    return add_noise(samples, sample_rate, kind, value, rng, voices)
