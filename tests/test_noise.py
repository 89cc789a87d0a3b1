"""Degraded recordings (generators/speech/noise.py): the SNR asked for is the SNR made, the kinds have their spectra."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.errors import AvatarInputError
from generators.speech.noise import add_noise, coloured_noise, degrade, parse_condition, reverberate, speech_level

RATE = 16000


def _voice(seconds: float = 1.5, pause: float = 0.5) -> np.ndarray:
    """A vowel-like tone with a silent pause after it: the level must be the tone's, not the pause's."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 700 * t))
    return np.r_[tone, np.zeros(int(pause * RATE))].astype(np.float32)


def test_snr_is_measured_against_the_speech_not_the_pauses() -> None:
    x = _voice()
    for snr in (0.0, 10.0, 20.0):
        y = add_noise(x, RATE, "pink", snr, np.random.default_rng(0))
        noise = y.astype(np.float64) - x
        speech = np.mean(x[: int(1.5 * RATE)].astype(np.float64) ** 2)
        assert 10 * np.log10(speech / np.mean(noise ** 2)) == pytest.approx(snr, abs=0.3)
    # The level ignores the silent half: doubling the pause leaves it where it was.
    assert speech_level(np.r_[x, np.zeros(RATE)], RATE) == pytest.approx(speech_level(x, RATE), rel=1e-6)


def test_noise_kinds_have_their_spectral_tilt() -> None:
    rng = np.random.default_rng(1)
    lows = {}
    for kind, slope in (("white", 0.0), ("pink", 1.0), ("brown", 2.0)):
        n = coloured_noise(2 ** 16, slope, rng)
        assert np.sqrt(np.mean(n ** 2)) == pytest.approx(1.0, rel=1e-6)
        power = np.abs(np.fft.rfft(n)) ** 2
        f = np.fft.rfftfreq(len(n), 1 / RATE)
        lows[kind] = power[(f > 50) & (f < 500)].sum() / power[(f > 2000) & (f < 8000)].sum()
    # White spreads power by bandwidth (450 Hz against 6000 Hz: ~0.08); pink and brown pile it up low.
    assert lows["white"] < 0.15 < 1.0 < lows["pink"] < lows["brown"]


def test_degrade_is_seeded_and_babble_needs_voices() -> None:
    x = _voice()
    a = degrade(x, RATE, "white15", np.random.default_rng(3))
    b = degrade(x, RATE, "white15", np.random.default_rng(3))
    c = degrade(x, RATE, "white15", np.random.default_rng(4))
    assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(degrade(x, RATE, "clean", np.random.default_rng(0)), x)
    with pytest.raises(AvatarInputError, match="other voices"):
        degrade(x, RATE, "babble10", np.random.default_rng(0))
    others = [_voice(0.7, 0.1) * 0.5, np.roll(_voice(1.1, 0.2), 300)]
    y = degrade(x, RATE, "babble10", np.random.default_rng(0), others)
    assert y.shape == x.shape and np.max(np.abs(y - x)) > 0.01


@pytest.mark.parametrize("bad", ["pinkish", "loud10", "reverb150", "10"])
def test_unknown_condition_is_one_clear_error(bad: str) -> None:
    with pytest.raises(AvatarInputError, match="condition|reverberance"):
        parse_condition(bad)


@pytest.mark.speech
def test_reverb_smears_a_click_into_a_tail() -> None:
    x = np.zeros(RATE, np.float32)
    x[1000] = 0.9
    y = reverberate(x, RATE, 80)
    assert y.shape == x.shape
    # A room keeps sound going after the click: energy 50-300 ms later, where the dry click has none.
    tail = y[1000 + int(0.05 * RATE): 1000 + int(0.3 * RATE)]
    assert np.sqrt(np.mean(tail.astype(np.float64) ** 2)) > 1e-3
