"""Audio-only bilabial closure (`generators.speech.closure`): the model's flag, its logit's peaks and decoded phones."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.speech]


def _logit(*bumps: tuple[int, float], n: int = 30, floor: float = -5.0) -> np.ndarray:
    """Return a (n,) logit track at `floor` with triangular bumps (centre frame, height)."""
    z = np.full(n, floor)
    for c, h in bumps:
        for d in range(-3, 4):
            if 0 <= c + d < n:
                z[c + d] = max(z[c + d], h - abs(d) * (h - floor) / 3.0)
    return z


def test_a_prominent_sub_zero_rise_closes_the_lips_for_two_frames() -> None:
    from generators.speech.closure import PEAK_LOGIT, closure_peaks

    z = _logit((10, PEAK_LOGIT + 1.0))
    shut = closure_peaks(z)
    assert shut.sum() == 2 and shut[10], "the peak frame and one neighbour"
    assert not closure_peaks(_logit((10, PEAK_LOGIT - 0.5))).any(), "a rise that stays below PEAK_LOGIT is no closure"


def test_ripples_on_a_high_plateau_are_not_peaks() -> None:
    from generators.speech.closure import closure_peaks

    z = np.full(30, -1.0)
    z[10], z[12] = -0.8, -0.85  # 0.2 above the plateau: far less than PEAK_PROMINENCE
    assert not closure_peaks(z).any()
    z2 = z.copy()
    z2[20] = 2.0  # a real rise among them still counts
    assert closure_peaks(z2)[20]


def test_a_one_frame_flag_is_held_for_two_frames_toward_the_likelier_side() -> None:
    from generators.speech.closure import hold_min_frames

    z = np.array([-5.0, -3.0, 0.5, -1.0, -5.0, -5.0])
    held = hold_min_frames(z > 0, z, fps=30.0)
    assert held.tolist() == [False, False, True, True, False, False]
    assert hold_min_frames(z > 0, z, fps=60.0).sum() == 4, "70 ms is four frames at 60 fps"


def test_hybrid_closure_unites_model_and_phones_and_tucks_only_where_open() -> None:
    from generators.speech.closure import hybrid_closure
    from generators.speech.phonetic import Phone

    fps, n = 30.0, 30
    phones = [Phone("SIL", 0.0, 0.2), Phone("M", 0.2, 0.28), Phone("AA", 0.28, 0.5), Phone("F", 0.5, 0.6),
              Phone("AA", 0.6, 0.8), Phone("SIL", 0.8, 1.0)]
    z = _logit((25, -1.5), n=n)  # the model is unsure of a closure the decoder did not hear
    shut, tuck = hybrid_closure(z, phones, fps)
    assert shut[int(0.24 * fps)], "the decoded m closes the lips"
    assert not shut[20:].any(), "an unsure rise of the logit (below FLAG_LOGIT) does not shut a person's lips"
    assert tuck[int(0.55 * fps)] and not (tuck & shut).any()
    with_peaks, _ = hybrid_closure(z, phones, fps, peaks=True)
    assert with_peaks[25], "peaks=True merges the sub-threshold peak as before"


def test_the_hybrid_flag_is_held_three_frames_about_its_most_confident_frame() -> None:
    from generators.speech.closure import FLAG_LOGIT, FLAG_MIN_S, hybrid_closure

    fps = 30.0
    z = np.full(30, -5.0)
    z[12] = FLAG_LOGIT + 0.3  # one frame over the flag's threshold
    z[13] = FLAG_LOGIT - 0.2  # its more confident neighbour
    shut, _ = hybrid_closure(z, [], fps)
    assert shut.sum() == round(FLAG_MIN_S * fps) == 3 and shut[12] and shut[13]
    assert not hybrid_closure(z - 0.4, [], fps)[0].any(), "below FLAG_LOGIT the flag is off"



def test_a_noisy_take_closes_only_on_a_confident_flag() -> None:
    from generators.speech.closure import NOISY_FLAG_LOGIT, NOISY_SNR_DB, hybrid_closure
    from generators.speech.phonetic import Phone

    fps, n = 30.0, 30
    phones = [Phone("AA", 0.0, 0.4), Phone("B", 0.4, 0.5), Phone("AA", 0.5, 1.0)]
    z = _logit((5, 0.5), (20, NOISY_FLAG_LOGIT + 1.0), n=n)
    clean, _ = hybrid_closure(z, phones, fps, snr_db=NOISY_SNR_DB + 10)
    noisy, _ = hybrid_closure(z, phones, fps, snr_db=NOISY_SNR_DB - 5)
    assert clean[5] and clean[int(0.45 * fps)] and clean[20], "a clean take: the flag and the decoded b both close"
    assert noisy[20], "a confident flag still closes the lips in noise"
    assert not noisy[5] and not noisy[int(0.45 * fps)], "in noise an unsure flag and a decoded b do not"
    assert np.array_equal(hybrid_closure(z, phones, fps)[0], clean), "no SNR given: treated as clean"


def test_the_snr_estimate_tells_a_noisy_take_from_a_clean_one() -> None:
    from generators.speech.audio import analyse_audio
    from generators.speech.closure import NOISY_SNR_DB
    from generators.speech.noise import add_noise

    rate = 16000
    t = np.arange(rate * 2) / rate
    # Syllables at 4 Hz with gaps, as speech has, and a quiet room under them.
    voice = (0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 4 * t) > 0.2)).astype(np.float32)
    room = add_noise(voice, rate, "pink", 45.0, np.random.default_rng(0))
    noisy = add_noise(voice, rate, "pink", 15.0, np.random.default_rng(0))
    assert analyse_audio(room, rate).snr_db > NOISY_SNR_DB + 5
    assert analyse_audio(noisy, rate).snr_db < NOISY_SNR_DB - 5


def test_a_decoded_bilabial_shuts_only_its_own_span_where_a_transcripts_gets_margins() -> None:
    from generators.speech.closure import hybrid_closure, transcript_closure
    from generators.speech.phonetic import Phone

    fps, n = 30.0, 30
    phones = [Phone("AA", 0.0, 0.4), Phone("B", 0.4, 0.5), Phone("AA", 0.5, 1.0)]
    decoded, _ = hybrid_closure(np.full(n, -5.0), phones, fps)
    aligned, _ = transcript_closure(phones, fps, n)
    frames = np.flatnonzero(decoded)
    assert decoded[int(0.45 * fps)], "the decoded b closes the lips"
    assert frames.min() / fps >= 0.4 - 0.5 / fps and frames.max() / fps <= 0.5 + 0.5 / fps, \
        "no closure reaches into the vowels beside a decoded b (a person's lips are open there)"
    assert not (decoded & ~aligned).any() and aligned.sum() > decoded.sum(), \
        "a transcript's b keeps its lead and tail margins against another aligner's boundaries"


def test_with_a_transcript_only_the_aligned_bilabials_close() -> None:
    from generators.speech.closure import transcript_closure
    from generators.speech.phonetic import Phone

    fps, n = 30.0, 30
    phones = [Phone("SIL", 0.0, 0.2), Phone("M", 0.2, 0.28), Phone("AA", 0.28, 0.5), Phone("F", 0.5, 0.6),
              Phone("AA", 0.6, 0.8), Phone("SIL", 0.8, 1.0)]
    shut, tuck = transcript_closure(phones, fps, n)
    assert shut[int(0.24 * fps)] and tuck[int(0.55 * fps)] and not (tuck & shut).any()
    # Nothing but the m (with the phonetic path's margins) is shut: no vowel, no pause.
    assert not shut[: int(0.15 * fps)].any() and not shut[int(0.36 * fps):].any()


def test_auto_with_a_transcript_takes_the_model_mouth_when_it_is_there() -> None:
    pytest.importorskip("pocketsphinx")
    from generators.speech.shipped import weights_available
    from generators.speech.talking import resolve_method

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    assert resolve_method("auto", "bin blue at f two now") == "hybrid"
    assert resolve_method("auto", None) == "hybrid"
    assert resolve_method("phonetic", "bin blue") == "phonetic"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to synthesise a held-out voice")
def test_with_a_transcript_the_default_path_closes_every_bilabial(tmp_path: Path) -> None:
    """A voice the model never trained on, with its transcript and the default method: the lips are shut at
    every p/b/m an independent, jittered alignment finds (the transcript path's 95 % bar), and a vowel is
    never shut at its middle more often than on the rules' path."""
    pytest.importorskip("pocketsphinx")
    from generators.speech import animate
    from generators.speech.audio import load_audio
    from generators.speech.evaluation import closure_report, independent_alignment, jitter_phones

    text = "maybe we should probably move the boat before the storm"
    wav = tmp_path / "heldout.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb-x-gbcwmd+m7", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
    judge = jitter_phones(independent_alignment(load_audio(wav), text), seed=3)
    auto = animate(wav, text=text, emotion="happy", intensity=0.6, life=False)
    rules = animate(wav, text=text, emotion="happy", intensity=0.6, method="phonetic", life=False)
    rep, rep_rules = closure_report(auto.weights, auto.fps, judge), closure_report(rules.weights, rules.fps, judge)
    assert rep.bilabials >= 6
    assert rep.closed_rate >= 0.95, f"{rep.closed} of {rep.bilabials} bilabials closed"
    assert rep.false_shut_rate <= rep_rules.false_shut_rate + 0.05

@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to synthesise a held-out voice")
@pytest.mark.parametrize("emotion", ["happy", "fear"])
def test_audio_only_closure_on_a_held_out_voice(tmp_path: Path, emotion: str) -> None:
    """A voice the model never trained on, no transcript: hybrid closes the lips at the p/b/m an independent,
    jittered alignment finds, under emotions that pull the lips apart, and more often than the model alone."""
    pytest.importorskip("pocketsphinx")
    from generators.speech import animate
    from generators.speech.audio import load_audio
    from generators.speech.evaluation import closure_report, independent_alignment, jitter_phones
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    text = "maybe we should probably move the boat before the storm"
    wav = tmp_path / "heldout.wav"
    subprocess.run(["espeak-ng", "-v", "en-gb-x-gbcwmd+m7", "-s", "160", "-w", str(wav), text], check=True, capture_output=True)
    judge = independent_alignment(load_audio(wav), text)
    assert judge is not None
    judge = jitter_phones(judge, seed=3)
    hybrid = animate(wav, emotion=emotion, intensity=0.6, method="hybrid", life=False)
    neural = animate(wav, emotion=emotion, intensity=0.6, method="neural", life=False)
    rep_h, rep_n = closure_report(hybrid.weights, hybrid.fps, judge), closure_report(neural.weights, neural.fps, judge)
    assert rep_h.bilabials >= 6
    assert rep_h.closed_rate >= 0.8, f"{rep_h.closed} of {rep_h.bilabials} bilabials closed"
    assert rep_h.closed >= rep_n.closed


def test_lipsync_benchmarks_before_merge_takes_hybrid_closures_keywords() -> None:
    """bench_lipsync's "hybrid-before" row swaps `hybrid_closure` for the old merge: the stand-in must accept every
    keyword the real one takes (a new one, snr_db, once crashed the benchmark) and close on a bilabial phone."""
    import importlib.util
    import inspect

    import generators.speech.closure as closure
    from generators.speech.phonetic import Phone

    spec = importlib.util.spec_from_file_location("bench_lipsync", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_lipsync.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    real = set(inspect.signature(closure.hybrid_closure).parameters)
    with bench._merge("hybrid-before"):
        stand_in = closure.hybrid_closure
        assert real <= set(inspect.signature(stand_in).parameters)
        shut, tuck = stand_in(np.full(30, -3.0), [Phone("AA", 0.0, 0.3), Phone("M", 0.3, 0.5), Phone("AA", 0.5, 1.0)], 30.0, peaks=True, snr_db=40.0)
    assert closure.hybrid_closure is not stand_in  # restored
    assert shut[10:15].any() and not shut[:5].any() and not tuck.any()
