"""Emotion keeps speech's motion: a smile, a frown or bared teeth do not shrink how far talking parts the lips."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")
pytest.importorskip("soxr")
pytestmark = [pytest.mark.speech, pytest.mark.quality,
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to synthesise test speech")]

TEXT = "maybe we should probably move the boat before the storm"
INTENSITY = 0.8


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("no trained speech model shipped")
    path = tmp_path_factory.mktemp("opening") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), TEXT], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def curves(wav: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the clip's neural speech weights (T, 52) gated by voice activity, its closure flag (T,) and activity (T,)."""
    from generators.speech.audio import analyse_audio
    from generators.speech.talking import frame_activity, speech_curves
    from generators.speech.visemes import default_lip_model

    default_lip_model()  # the shipped head's lips, loaded once here rather than inside the first test
    feats = analyse_audio(wav)
    n = int(np.ceil(feats.audio.duration * 30))
    speech, shut, _ = speech_curves(feats.audio, n, 30.0, "neural", None)
    act = frame_activity(feats, n, 30.0)
    return speech * act[:, None], shut, act


_DONE: dict = {}


def _speech_opening(curves: tuple, emotion: str, **compose_kwargs) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN003
    """Return ((T,) inner-lip gap, (T,) gap beyond the emotion's own mouth) on the shipped head, as `animate` composes them."""
    key = (id(curves), emotion, tuple(sorted(compose_kwargs.items())))
    if key not in _DONE:  # each composition solves the closures on the mesh: do it once per emotion
        _DONE[key] = _compose_gaps(curves, emotion, **compose_kwargs)
    return _DONE[key]


def _compose_gaps(curves: tuple, emotion: str, **compose_kwargs) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN003
    from generators.speech.emotion_layer import compose, emotion_curves
    from generators.speech.visemes import default_lip_model

    speech, shut, act = curves
    emo, _ = emotion_curves(len(speech), 30.0, emotion, INTENSITY)
    lips = default_lip_model()
    gap = lips.gap(compose(speech, emo, shut, act, fps=30.0, **compose_kwargs))
    rest = lips.gap(compose(np.zeros_like(speech), emo, np.zeros(len(speech), bool), act, fps=30.0))
    return gap, gap - rest


def _ratios(curves: tuple, emotion: str, **compose_kwargs) -> tuple[float, float, np.ndarray]:  # noqa: ANN003
    """Return (p50, p90 of the emotion's speech opening as a ratio to neutral's, (T,) gap) over the frames neutral speech opens."""
    shut = curves[1]
    gap_n, open_n = _speech_opening(curves, "neutral")
    gap_e, open_e = _speech_opening(curves, emotion, **compose_kwargs)
    talking = (gap_n > 0.15) & ~shut
    assert talking.sum() > 30
    p50, p90 = (np.percentile(open_e[talking], q) / np.percentile(open_n[talking], q) for q in (50, 90))
    return float(p50), float(p90), gap_e


def test_a_smile_keeps_the_lips_opening_while_talking(curves: tuple) -> None:
    p50, p90, gap_h = _ratios(curves, "happy")
    assert p50 >= 0.95 and p90 >= 0.95, f"happy keeps {p50:.2f} / {p90:.2f} of neutral's p50 / p90 opening"
    gap_n, _ = _speech_opening(curves, "neutral")
    assert np.median(gap_h) > np.median(gap_n) + 0.2, "the smile's own parted lips stay on top of the speech"
    assert np.all(gap_h[curves[1]] < 0.15), "and every closure the model flags stays shut"


@pytest.mark.parametrize("emotion", ["sad", "anger", "disgust"])
def test_frowns_and_bared_teeth_keep_the_opening_and_the_closures(curves: tuple, emotion: str) -> None:
    p50, p90, gap_e = _ratios(curves, emotion)
    assert p50 >= 0.95 and p90 >= 0.95, f"{emotion} keeps {p50:.2f} / {p90:.2f} of neutral's p50 / p90 opening"
    assert np.all(gap_e[curves[1]] < 0.15)


def test_the_frown_shrank_the_opening_without_the_correction(curves: tuple) -> None:
    """What `keep_speech_opening` fixes: on the shipped head a frown turns the lips so the same speech parts them less."""
    p50, _, _ = _ratios(curves, "sad", keep_opening=0.0)
    assert p50 < 0.95
