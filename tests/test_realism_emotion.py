"""A real person speaking with emotion (CREMA-D actor 1001, held out): the data, and the benchmark's per-emotion table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from generators.speech.realism import (RELIABLE_AGREEMENT, RealClip, cremad_id_info, load_clips, save_clips,
                                       tracker_agreement)

pytestmark = [pytest.mark.speech, pytest.mark.quality]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "realism"
CREMAD = DATA / "heldout_cremad.npz"
EMOTIONS = {"anger", "disgust", "fear", "happy", "neutral", "sad"}


def _bench():
    spec = importlib.util.spec_from_file_location("bench_realism", ROOT / "benchmarks" / "bench_realism.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_cremad_id_spells_its_sentence_emotion_and_level():
    text, emotion, level = cremad_id_info("1001_DFA_ANG_XX")
    assert (text, emotion) == ("don't forget a jacket", "anger") and np.isnan(level)  # XX: the level is unspecified
    assert cremad_id_info("1076_IEO_HAP_HI") == ("it's eleven o'clock", "happy", 0.8)
    assert cremad_id_info("1001_DFA_XYZ_XX") is None  # not one of CREMA-D's emotions
    assert cremad_id_info("bbaf2n") is None and cremad_id_info("A_u032621") is None  # GRID ids are not CREMA-D's


def test_a_clips_emotion_and_level_survive_the_tracks_file_and_older_files_have_none(tmp_path):
    gap, jaw = np.linspace(0, 0.2, 5), np.linspace(1, 1.1, 5)
    save_clips(tmp_path / "e.npz", [RealClip("x/1", "x", 30.0, gap, jaw, "hi", "fear", 0.8),
                                    RealClip("x/2", "x", 30.0, gap, jaw, "hi")])
    emo, plain = load_clips(tmp_path / "e.npz")
    assert (emo.emotion, emo.intensity) == ("fear", 0.8)
    assert plain.emotion == "" and np.isnan(plain.intensity)
    # A file written before clips carried an emotion (three meta fields) still loads, with none.
    [old] = load_clips(DATA / "grid_heldout_ABC.npz")[:1]
    assert old.emotion == "" and old.speaker == "A"


def test_the_held_out_actors_emotion_per_clip_is_read_from_the_data_file():
    clips = load_clips(CREMAD)
    assert {c.speaker for c in clips} == {"cremad1001"} and len(clips) == 6
    assert {c.emotion for c in clips} == EMOTIONS
    for c in clips:
        # The field, written at tracking time, agrees with the corpus' own file name; the level is CREMA-D's XX.
        assert cremad_id_info(c.name.split("/")[-1])[1] == c.emotion
        assert c.text == "don't forget a jacket" and np.isnan(c.intensity) and 29.0 < c.fps < 30.5
    # Held out: the actor is in no training or validation file, and every clip's audio ships with its tracks.
    train_val = [c for f in ("grid_s1.npz", "train/grid_s1_more.npz", "train/grid_s4.npz", "train/grid_s4_extra.npz",
                             "val/grid_val.npz", "val/grid_val_extra.npz")
                 for c in load_clips(DATA / f)]
    assert "cremad1001" not in {c.speaker for c in train_val}
    assert all((DATA / "audio" / f"{c.name.split('/')[-1]}.flac").is_file() for c in clips)


def test_the_persons_lips_open_during_the_words_and_rest_in_the_leading_silence():
    pytest.importorskip("soundfile")
    from generators.speech.audio import load_audio
    from generators.speech.talking import frame_activity

    with np.load(DATA / "second_tracker" / "mediapipe_gaps.npz") as z:
        second = {k: z[k] for k in z.files}
    for c in load_clips(CREMAD):
        stem = c.name.split("/")[-1]
        audio = load_audio(str(DATA / "audio" / f"{stem}.flac"))
        voiced = frame_activity(audio, len(c.gap), c.fps) > 0.5
        lead = int(np.argmax(voiced))
        assert 8 <= lead and voiced.sum() >= 20, stem  # ~0.4 s of silence, then ~1 s of "don't forget a jacket"
        # The tracked gap opens while he speaks, at least twice as wide as his lips rest before the first word
        # (eye-corner units: 0.11-0.25 at p90 against 0.02-0.10 at rest; the happy take rests smiling, parted).
        assert np.percentile(c.gap[voiced], 90) > 2 * np.median(c.gap[:lead]) + 0.02, stem
        # A second tracker (MediaPipe Face Mesh, other data, other people) sees the same lips on every take.
        assert tracker_agreement(c.gap, second[stem]) > RELIABLE_AGREEMENT, stem


def test_the_emotion_table_has_a_row_per_emotion_relative_to_neutral_and_says_when_there_is_no_neutral():
    bench = _bench()

    def entry(ref: float, ours_neu: float, ours_emo: float) -> dict:
        return {"intensity": 0.5, "ref50": ref, "ref90": 2 * ref, "ref2_50": ref, "ref2_90": 2 * ref, "neu50": ours_neu,
                "neu90": 2 * ours_neu, "emo50": ours_emo, "emo90": 2 * ours_emo, "r_emo": 0.5, "r_neu": 0.6, "rms_r": 0.4,
                "rest_emo": 0.3, "rest_ref": 0.2}

    data = {("p", "neural"): {"neutral": entry(1.0, 1.0, 1.0), "happy": entry(2.0, 1.0, 0.5)},
            ("q", "neural"): {"happy": entry(1.0, 1.0, 1.0)}}
    lines = bench.emotion_table(data)
    rows = [ln.split(" | ") for ln in lines if ln.startswith("| p |")]
    assert [r[2].split(" @ ")[0] for r in rows] == ["neutral", "happy"]
    happy = rows[1]
    # The person opened twice as wide as in their neutral take; ours, with the emotion, half as wide as ours
    # neutral on the same audio: the table must show the two going opposite ways.
    assert happy[3] == "2.00, 2.00" and happy[5] == "0.50, 0.50"
    assert any(ln.startswith("| q |") and "no neutral take" in ln for ln in lines)
    assert bench.emotion_table({}) == []


def test_the_benchmark_scores_the_held_out_actor_per_emotion_on_the_same_audio(tmp_path, capsys):
    pytest.importorskip("soundfile")
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    out = tmp_path / "t.md"
    assert _bench().main(["--speakers", "cremad1001", "--methods", "neural", "--out", str(out)]) == 0
    table = out.read_text()
    rows = {ln.split(" | ")[2].split(" @ ")[0]: ln.split(" | ") for ln in table.splitlines()
            if ln.startswith("| cremad1001 | neural | ") and " @ " in ln}
    assert set(rows) == EMOTIONS
    assert rows["neutral"][3] == "1.00, 1.00" and rows["anger"][2] == "anger @ 0.5"  # CREMA-D's XX -> medium
    # The person opens wider under disgust, fear and happiness than in his neutral take (p90; both trackers agree),
    # and every emotion is animated: its r is a number.
    for e in ("disgust", "fear", "happy"):
        assert float(rows[e][3].split(",")[1]) > 1.3 and float(rows[e][4].split(",")[1]) > 1.3, e
    assert all(np.isfinite(float(rows[e][7])) for e in EMOTIONS)


def test_the_benchmark_scores_the_stream_and_its_angry_lips_keep_the_speaking_posture_after_the_words(tmp_path):
    """`--methods stream`: the causal path on the held-out actor; its talking envelope holds after the words, so the
    angry rest gap over the takes' silences is well under the idle snarl's (which filled them before)."""
    pytest.importorskip("soundfile")
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    from generators.expression import expression_weights
    from generators.speech.emotion_layer import compose
    from generators.speech.visemes import default_lip_model, rest_posture

    out = tmp_path / "s.md"
    assert _bench().main(["--speakers", "cremad1001", "--methods", "stream", "--out", str(out)]) == 0
    rows = {ln.split(" | ")[2].split(" @ ")[0]: ln.split(" | ") for ln in out.read_text().splitlines()
            if ln.startswith("| cremad1001 | stream | ") and " @ " in ln}
    assert set(rows) == EMOTIONS and all(np.isfinite(float(rows[e][7])) for e in EMOTIONS)
    pose = np.asarray(expression_weights(emotion="anger", intensity=0.5), np.float32)[None]
    idle = float(default_lip_model().gap(compose(rest_posture(np.zeros_like(pose), pause=np.array([True])), pose,
                                                 np.zeros(1, bool), np.zeros(1, np.float32)))[0])
    rest_anger = float(rows["anger"][10].split("/")[0])
    assert rest_anger < idle - 0.3, f"angry stream rests {rest_anger:.2f} cm around the words, the idle snarl {idle:.2f}"
