"""Speech motion against real people's: the lip-track measures, the tracks reader and one held-out real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError
from generators.speech.realism import (RealClip, best_lag_r, compare_tracks, grid_clip_files, head_tracks, landmark_tracks,
                                       load_clips, read_grid_align, save_clips)

pytestmark = [pytest.mark.speech, pytest.mark.quality]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "realism"


def _face(gap_px: float, eye_px: float = 100.0) -> np.ndarray:
    lm = np.zeros((68, 2))
    lm[36], lm[45] = (0.0, 0.0), (eye_px, 0.0)
    lm[33], lm[8] = (50.0, 60.0), (50.0, 120.0 + gap_px)
    lm[62], lm[66] = (50.0, 80.0), (50.0, 80.0 + gap_px)
    return lm


def test_landmark_tracks_are_in_eye_corner_units_whatever_the_camera_distance():
    near = landmark_tracks(np.stack([_face(20.0, 100.0)]))
    far = landmark_tracks(np.stack([_face(10.0, 50.0) * 1.0]))
    assert near["gap"][0] == pytest.approx(0.2)
    # Half the pixels at half the eye distance is the same mouth.
    assert far["gap"][0] == pytest.approx(near["gap"][0])
    with pytest.raises(AvatarInputError, match=r"\(T, 68, 2\)"):
        landmark_tracks(np.zeros((4, 5, 2)))


def test_best_lag_finds_a_shift_and_ignores_one_beyond_the_window():
    rng = np.random.default_rng(0)
    ref = np.convolve(rng.standard_normal(300), np.ones(5) / 5, "same")
    ours = np.r_[np.zeros(2), ref[:-2]]  # ours two frames late
    r, lag = best_lag_r(ours, ref, fps=30.0)
    assert r > 0.99 and lag == pytest.approx(2 / 30)
    late = np.r_[np.zeros(10), ref[:-10]]  # 333 ms late: outside +-133 ms
    assert best_lag_r(late, ref, fps=30.0)[0] < 0.5


def test_compare_tracks_ratios_and_shut_agreement():
    ref = np.r_[np.zeros(10), np.linspace(0.1, 1.0, 20), np.zeros(10)]
    voiced = np.r_[np.zeros(10, bool), np.ones(20, bool), np.zeros(10, bool)]
    c = compare_tracks(ref * 0.5, ref, 30.0, voiced)
    assert c.r == pytest.approx(1.0) and c.p90_ratio == pytest.approx(0.5) and c.p50_ratio == pytest.approx(0.5)
    assert c.rest_ours_cm == 0.0 and c.rest_ref_cm == 0.0
    # Shut where the person is shut, open where they are open, except ours 0.5x dips under the threshold more often.
    assert 0.8 < c.shut_agreement < 1.0


def test_head_tracks_open_with_jaw_open_on_the_shipped_head():
    w = np.zeros((2, 52), np.float32)
    from avatar.rig import index_of

    w[1, index_of("jawOpen")] = 1.0
    gap, jaw, eye = head_tracks(w)
    assert gap[0] < 0.2 < gap[1]  # lips together at the neutral, apart with the jaw open
    assert jaw[0] == pytest.approx(0.0, abs=1e-6) and jaw[1] > 0.5
    assert 6.0 < eye < 12.0  # outer eye corners of an adult head, cm


def test_tracks_file_round_trip_and_refusals(tmp_path):
    clip = RealClip("s9/abc", "s9", 25.0, np.linspace(0, 0.2, 5), np.linspace(1, 1.1, 5), "bin blue")
    save_clips(tmp_path / "t.npz", [clip])
    [back] = load_clips(tmp_path / "t.npz")
    assert back.name == "s9/abc" and back.speaker == "s9" and back.fps == 25.0 and back.text == "bin blue"
    np.testing.assert_allclose(back.gap, clip.gap, atol=1e-6)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(AvatarInputError, match="not a lip-tracks file"):
        load_clips(tmp_path / "bad.npz")
    with pytest.raises(AvatarInputError, match="no tracks file"):
        load_clips(tmp_path / "missing.npz")


def test_clip_folder_without_grid_clips_is_refused_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AvatarInputError) as err:
        grid_clip_files(tmp_path)
    assert "no GRID clips" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(AvatarInputError, match="not a folder"):
        grid_clip_files(tmp_path / "nope")


def test_clip_folder_lists_every_video_kind_the_tracker_reads_in_name_order(tmp_path):
    # GRID's MPEG-1, CREMA-D's Flash video, MP4 and the WebM that demo pages re-encode GRID clips to; nothing else.
    for name in ("pwiazn.webm", "bbaf2s.mp4", "bgal9n.mpg", "1001_DFA_ANG_XX.flv", "bgal9n.align", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in grid_clip_files(tmp_path)] == ["1001_DFA_ANG_XX.flv", "bbaf2s.mp4", "bgal9n.mpg", "pwiazn.webm"]


def test_grid_align_gives_the_transcript_without_silences(tmp_path):
    p = tmp_path / "x.align"
    p.write_text("0 17750 sil\n17750 22500 bin\n22500 27000 blue\n46750 74500 sil\n")
    text, words = read_grid_align(p)
    assert text == "bin blue" and words[1] == (0.71, 0.9, "bin")


def test_shipped_tracks_hold_out_whole_speakers_and_look_like_speech():
    clips = load_clips(DATA / "grid_heldout_ABC.npz") + load_clips(DATA / "grid_heldout_more.npz")
    held = {c.speaker for c in clips}
    assert {"A", "B", "C", "s26", "s31"} <= held and len(held) >= 9
    train = load_clips(DATA / "grid_s1.npz") + load_clips(DATA / "train" / "grid_s1_more.npz") + load_clips(DATA / "train" / "grid_s4.npz")
    val = load_clips(DATA / "val" / "grid_val.npz")
    assert {c.speaker for c in train} == {"s1", "s4"} and len(train) >= 400
    # Whole speakers: nobody trained or early-stopped on is scored as held out, and the other party's ten GRID
    # ids are nowhere.
    assert not held & ({c.speaker for c in train} | {c.speaker for c in val})
    assert not {c.speaker for c in val} & {c.speaker for c in train}
    maintainers = {"bbaf2n", "brbk7n", "lbax4n", "lbbc2a", "lrwp9a", "lwbsza", "pwij3p", "sbia1a", "sbwe5n", "swiz3n"}
    assert not maintainers & {c.name.split("/")[-1] for c in clips + train + val}
    # Every held-out clip's audio ships with it, so the benchmark runs on a fresh clone.
    for c in clips:
        stem = c.name.split("/")[-1]
        assert (DATA / f"{stem}.wav").is_file() or (DATA / "audio" / f"{stem}.flac").is_file(), c.name
    for c in clips + train:
        # A talking mouth: closed (or nearly) at some point, open by >= 5 % of the eye distance at another.
        assert c.gap.min() < 0.05 and c.gap.max() > 0.05, c.name


def test_every_shipped_tracks_file_keeps_whole_speakers_in_one_role():
    # Roles by place: training = grid_s1.npz and train/, validation = val/, held out = every other top-level file
    # (what bench_realism.py reads by default). A file added later cannot slip a speaker into two roles.
    train_files = [DATA / "grid_s1.npz", *sorted((DATA / "train").glob("*.npz"))]
    val_files = sorted((DATA / "val").glob("*.npz"))
    held_files = [p for p in sorted(DATA.glob("*.npz")) if p.name != "grid_s1.npz"]
    roles = {name: [c for f in files for c in load_clips(f)]
             for name, files in (("train", train_files), ("val", val_files), ("held", held_files))}
    speakers = {name: {c.speaker for c in clips} for name, clips in roles.items()}
    assert speakers["train"] == {"s1", "s4"}
    assert not speakers["train"] & speakers["val"] and not speakers["train"] & speakers["held"]
    assert not speakers["val"] & speakers["held"]
    # The held-out set spans 16 people (15 GRID talkers, one CREMA-D actor), s29 and s2 with 9-11 clips each.
    assert {"s29", "s2", "s5", "s6", "s11", "s15", "gridW"} <= speakers["held"] and len(speakers["held"]) >= 16
    per = {s: sum(c.speaker == s for c in roles["held"]) for s in ("s29", "s2")}
    assert per["s29"] >= 9 and per["s2"] >= 10, per
    everything = [c for clips in roles.values() for c in clips]
    ids = [c.name.split("/")[-1] for c in everything]
    maintainers = {"bbaf2n", "brbk7n", "lbax4n", "lbbc2a", "lrwp9a", "lwbsza", "pwij3p", "sbia1a", "sbwe5n", "swiz3n"}
    assert not maintainers & set(ids)
    # Audio and second-tracker gaps are keyed by clip id: an id must name one clip of the scored (held/val) sets.
    scored = [c.name.split("/")[-1] for c in roles["held"] + roles["val"]]
    assert len(scored) == len(set(scored))
    with np.load(DATA / "second_tracker" / "mediapipe_gaps.npz") as z:
        second = set(z.files)
    for stem in scored:  # every scored clip runs on a fresh clone and has its reference cross-checked
        assert (DATA / f"{stem}.wav").is_file() or (DATA / "audio" / f"{stem}.flac").is_file(), stem
        assert stem in second, stem


@pytest.mark.speech
@pytest.mark.slow
def test_opening_on_a_held_out_real_speaker_is_within_a_band_of_theirs():
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("soundfile")
    from generators.speech.realism import measure_clip

    [clip] = [c for c in load_clips(DATA / "grid_heldout_ABC.npz") if c.name.endswith("B_u032953")]
    res = measure_clip(clip, DATA / "B_u032953.wav", "hybrid+text")
    # Speaker B (never tuned or trained on), with the transcript as animate uses it by default: our p90 lip gap
    # over speech frames within +-35 % of theirs, and the motion follows theirs better than loudness does.
    assert 0.65 < res["gap"].p90_ratio < 1.35
    assert res["gap"].r > res["rms_r"] + 0.2


@pytest.mark.speech
@pytest.mark.slow
def test_the_shipped_model_follows_a_held_out_real_speakers_lips_from_audio_alone():
    pytest.importorskip("soundfile")
    from generators.speech.realism import measure_clip
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    res = {c.speaker: measure_clip(c, DATA / f"{c.name.split('/')[-1]}.wav", "neural")
           for c in load_clips(DATA / "grid_heldout_ABC.npz")}
    # Speakers A, B and C were never trained or early-stopped on (the model was fine-tuned on GRID s1's and s4's
    # tracked lips, scripts/finetune_speech_real.py): from audio alone the lip gap follows B's well beyond what
    # loudness explains (r 0.85 against the RMS envelope's 0.54), the three speakers' mean r is above the
    # issue's 0.65 bar, and the mouth opens about as wide as theirs on the whole (p90 ratios 1.11, 0.76, 1.10:
    # one speaker opens wider, two less; their geometric mean within +-25 %).
    assert res["B"]["gap"].r >= 0.65 and res["B"]["gap"].r >= res["B"]["rms_r"] + 0.2
    assert np.mean([r["gap"].r for r in res.values()]) >= 0.65
    assert 0.8 <= float(np.exp(np.mean([np.log(r["gap"].p90_ratio) for r in res.values()]))) <= 1.25



@pytest.fixture
def speaker_b() -> RealClip:
    """Held-out GRID speaker B's tracked clip (its audio is DATA / "B_u032953.wav"); skips where the speech model or
    soundfile is missing."""
    pytest.importorskip("soundfile")
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    [clip] = [c for c in load_clips(DATA / "grid_heldout_ABC.npz") if c.name.endswith("B_u032953")]
    return clip


@pytest.mark.speech
def test_the_live_stream_follows_a_held_out_real_speakers_lips(speaker_b):
    from generators.speech.realism import measure_clip, stream_weights

    clip = speaker_b
    res = measure_clip(clip, DATA / "B_u032953.wav", "stream")
    # The StreamingAnimator fed 20 ms chunks, as a live client feeds it (92.5 ms latency, no look at the clip's
    # end): speaker B's lips (never trained on) are followed far beyond loudness (r 0.86 against 0.54 measured).
    assert res["gap"].r >= res["rms_r"] + 0.2 and res["gap"].r >= 0.7
    from generators.speech.audio import load_audio

    audio = load_audio(str(DATA / "B_u032953.wav"))
    w = stream_weights(audio.samples, audio.sample_rate, 30.0)
    assert w.shape == (int(np.ceil(len(audio.samples) / audio.sample_rate * 30 - 1e-9)), 52)

def test_rest_posture_parts_the_lips_but_leaves_closures_to_the_solver():
    from generators.speech.emotion_layer import compose
    from generators.speech.realism import SHUT_CM
    from generators.speech.visemes import REST_JAW_OPEN, rest_posture

    speech = np.zeros((4, 52), np.float32)
    rested = rest_posture(speech)
    gap, _, _ = head_tracks(rested)
    # People's lips rest parted (GRID s1 median 0.29 cm in pauses): ours open past "shut", not into a gape.
    assert np.all(gap > SHUT_CM) and np.all(gap < 0.4)
    assert speech.max() == 0.0 and rested.max() == pytest.approx(REST_JAW_OPEN)  # the input is not modified
    shut = np.array([False, True, True, False])
    w = compose(rested, np.zeros_like(rested), shut, np.ones(4, np.float32))
    closed, _, _ = head_tracks(w)
    assert np.all(closed[shut] < 0.15) and np.all(closed[~shut] > SHUT_CM)


def test_track_script_refuses_a_folder_without_clips_in_one_line(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("track_lips", Path(__file__).resolve().parents[1] / "scripts" / "track_lips.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(tmp_path), "--speaker", "s9", "--out", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no GRID clips" in err and "\n" not in err
    assert not (tmp_path / "t.npz").exists()


def _finetune_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "finetune_speech_real.py"
    spec = importlib.util.spec_from_file_location("finetune_speech_real", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_finetune_lip_geometry_is_the_benchmarks_in_torch():
    torch = pytest.importorskip("torch")
    ft = _finetune_script()
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 0.6, (7, 52)).astype(np.float32)
    gap, jaw = ft.LipGeometry()(torch.from_numpy(w))
    ref_gap, ref_jaw, _ = head_tracks(w)
    # The loss trains on exactly what bench_realism measures: the head's inner-lip gap and jaw opening in cm.
    np.testing.assert_allclose(gap.numpy(), ref_gap, atol=1e-4)
    np.testing.assert_allclose(jaw.numpy(), ref_jaw, atol=1e-4)
    assert gap.std() > 0.05  # random mouths differ: the comparison is not between constants


def test_finetune_trains_through_the_weights_animate_makes():
    torch = pytest.importorskip("torch")
    from avatar.rig import ARKIT_NAMES, index_of
    from generators.speech.net_numpy import apply_opening_gain
    from generators.speech.visemes import rest_posture

    ft = _finetune_script()
    rng = np.random.default_rng(1)
    logits = rng.normal(-1.5, 1.5, (40, 53)).astype(np.float32)
    gate = np.clip(rng.uniform(-0.5, 1.5, 40), 0, 1).astype(np.float32)
    gain = rng.uniform(0.8, 1.2, 40).astype(np.float32)
    pause = gate < 0.5
    got = ft.pipeline_weights(torch.from_numpy(logits), torch.from_numpy(gate), torch.from_numpy(gain),
                              ft.opening_multiplier({"opening_gain": 1.4}), torch.from_numpy(pause.astype(np.float32)))
    # animate's own chain: sigmoid, the checkpoint's opening gain, the speech gate, the loudness gain on the jaw,
    # the rest posture (in pauses mouthClose may not cancel the rest opening).
    want = apply_opening_gain(1 / (1 + np.exp(-logits[:, :52])), ARKIT_NAMES, 1.4) * gate[:, None]
    want[:, index_of("jawOpen")] *= gain
    want = rest_posture(want, pause=pause)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_rest_posture_keeps_the_lips_parted_in_pauses_only():
    from avatar.rig import index_of
    from generators.speech.visemes import REST_JAW_OPEN, rest_posture

    w = np.zeros((4, 52), np.float32)
    w[:, index_of("mouthClose")] = 0.06
    w[:, index_of("jawOpen")] = [0.0, 0.0, 0.3, 0.3]
    out = rest_posture(w, pause=np.array([True, False, True, False]))
    jaw, close = out[:, index_of("jawOpen")], out[:, index_of("mouthClose")]
    assert np.allclose(jaw, [REST_JAW_OPEN, REST_JAW_OPEN, 0.3, 0.3])
    # A pause at rest: mouthClose may not press the parted rest shut; elsewhere (speech, or a jaw opened beyond
    # the rest) it stays as the model said.
    assert close[0] == pytest.approx(0.0) and np.allclose(close[1:], 0.06)
    gap, _, _ = head_tracks(out)
    assert gap[0] > gap[1]


def test_finetune_refuses_too_few_tracked_clips_with_audio_in_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    ft = _finetune_script()
    rc = ft.main(["--tracks", str(DATA / "grid_s1.npz"), "--audio", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "--wav-dir" in err
    assert not (tmp_path / "o").exists()


def test_a_grid_clip_id_spells_its_sentence():
    from generators.speech.realism import grid_id_transcript

    assert grid_id_transcript("bbaf2n") == "bin blue at f two now"
    assert grid_id_transcript("SWIZ3A") == "set white in z three again"
    # Not a GRID id: no transcript rather than a wrong one.
    assert grid_id_transcript("u03262") == "" and grid_id_transcript("bbaf2") == "" and grid_id_transcript("xbaf2n") == ""


def test_speech_gate_opens_before_each_onset_and_only_there():
    from generators.speech.talking import speech_gate

    act = np.zeros(40, np.float32)
    act[20:30] = 1.0
    same = speech_gate(act, 30.0, 0.0)
    np.testing.assert_array_equal(same, act)  # no lead: the activity itself
    gate = speech_gate(act, 30.0, 0.2)  # six frames at 30 fps
    np.testing.assert_array_equal(gate[20:30], act[20:30])  # speech itself is untouched
    lead = gate[14:20]
    assert np.all(np.diff(lead) > 0) and 0.0 < lead[0] < lead[-1] < 1.0  # a ramp up to the onset
    assert np.all(gate[:14] == 0.0) and np.all(gate[30:] == 0.0)  # nothing earlier, nothing after the voice
    assert act.max() == 1.0 and act[:20].max() == 0.0  # the input is not modified


@pytest.mark.slow
def test_the_model_anticipation_is_the_checkpoints_and_only_for_the_model_paths(tmp_path):
    torch = pytest.importorskip("torch")
    from generators.speech.neural import SpeechToARKit
    from generators.speech.talking import model_anticipation

    m = SpeechToARKit(channels=8, hidden=8, anticipation_s=0.3)
    m.save_pretrained(str(tmp_path / "m"))
    assert model_anticipation("neural", str(tmp_path / "m")) == pytest.approx(0.3)
    assert model_anticipation("hybrid", str(tmp_path / "m")) == pytest.approx(0.3)
    assert model_anticipation("phonetic", str(tmp_path / "m")) == 0.0  # the rules' labels are shut before the voice
    assert SpeechToARKit.from_pretrained(str(tmp_path / "m")).config.anticipation_s == pytest.approx(0.3)
    with pytest.raises(AvatarInputError, match="anticipation_s"):
        SpeechToARKit(channels=8, hidden=8, anticipation_s=-0.1)
    with pytest.raises(AvatarInputError, match="opening_gain"):
        SpeechToARKit(channels=8, hidden=8, opening_gain=0.0)
    del torch


def test_tracker_agreement_trusts_agreeing_trackers_and_flags_noise():
    from generators.speech.realism import RELIABLE_AGREEMENT, tracker_agreement

    rng = np.random.default_rng(3)
    t = np.arange(75) / 25.0
    gap = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) * 0.3
    other = gap * 1.4 + rng.normal(0, 0.01, 75)  # another tracker: another scale, a little noise
    other[5:9] = np.nan  # frames it lost
    assert tracker_agreement(gap, other) > RELIABLE_AGREEMENT
    assert tracker_agreement(gap, rng.normal(0.2, 0.05, 75)) < 0.5
    assert np.isnan(tracker_agreement(gap, np.full(75, np.nan)))


def test_every_scored_clip_has_a_second_trackers_gap_and_it_agrees_where_the_face_is_trackable():
    from generators.speech.realism import RELIABLE_AGREEMENT, tracker_agreement

    with np.load(DATA / "second_tracker" / "mediapipe_gaps.npz") as z:
        second = {k: z[k] for k in z.files}
    files = ("grid_heldout_ABC.npz", "grid_heldout_more.npz", "grid_heldout_extra.npz", "val/grid_val.npz",
             "val/grid_val_extra.npz")
    clips = [c for f in files for c in load_clips(DATA / f)]
    agree = {c.name: tracker_agreement(c.gap, second[c.name.split("/")[-1]]) for c in clips}
    assert len(agree) == 68
    # Two trackers trained on different data by different people see the same lips on every speaker but one
    # (s26, whose inner lips under a moustache neither finds: the benchmark reports him apart).
    bad = {n.split("/")[0] for n, r in agree.items() if r < RELIABLE_AGREEMENT}
    assert bad == {"s26"}
    assert np.median([r for n, r in agree.items() if not n.startswith("s26/")]) > 0.9


def test_opening_calibration_solves_for_the_gain_that_makes_the_ratio_one(tmp_path):
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("calibrate_opening", ROOT / "scripts" / "calibrate_opening.py")
    cal = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cal)
    # A model at 0.74 of people's p90 whose ratio grows as gain ** 0.9: the gain that reaches 1 is 0.74 ** (-1 / 0.9).
    gains = [0.8, 1.0, 1.25, 1.6]
    assert cal.solve_gain(gains, [0.74 * g ** 0.9 for g in gains]) == pytest.approx(0.74 ** (-1 / 0.9), rel=1e-6)
    with pytest.raises(SystemExit, match="does not grow"):
        cal.solve_gain(gains, [1.0, 0.9, 0.8, 0.7])
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "SpeechToARKit", "hop": 160}))
    cal.write_gain(tmp_path, 1.3254)
    assert json.loads((tmp_path / "config.json").read_text()) == {"_class_name": "SpeechToARKit", "hop": 160, "opening_gain": 1.325}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left behind


@pytest.mark.speech
@pytest.mark.slow
def test_the_shipped_models_opening_is_calibrated_on_the_validation_speakers():
    import importlib.util

    pytest.importorskip("soundfile")
    from generators.speech.shipped import weights_available

    if not weights_available():
        pytest.skip("the speech model's weights are not shipped in this checkout")
    spec = importlib.util.spec_from_file_location("calibrate_opening", ROOT / "scripts" / "calibrate_opening.py")
    cal = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cal)
    clips = load_clips(DATA / "val" / "grid_val.npz")
    audio = {c.name: DATA / "audio" / f"{c.name.split('/')[-1]}.flac" for c in clips}
    ratio, per = cal.speakers_p90(None, clips, audio, "neural")
    # The five validation speakers (never trained on, not the held-out ones): the shipped opening_gain makes their
    # typical p90 lip gap the same as ours (1.00 when calibrated), though each person differs (0.5x-1.8x).
    assert len(per) == 5 and 0.9 <= ratio <= 1.1


def test_finetune_scores_the_closure_flag_against_aligned_bilabials():
    ft = _finetune_script()
    labels = np.zeros(40, np.float32)
    labels[10:14] = 1.0  # an aligned "b"
    labels[30:33] = 1.0  # an aligned "m" the flag misses
    logit = np.full(40, -4.0)
    logit[14:16] = 1.0  # flagged one frame after the b's labels end: the same closure
    logit[22:24] = 2.0  # a flag on no bilabial
    counts = ft.flag_agreement(logit, labels)
    assert counts == (1, 2, 1, 2)
    scores = ft.closure_scores(list(counts))
    assert scores["val_flag_precision"] == 0.5 and scores["val_flag_recall"] == 0.5
    assert abs(scores["val_flag_f1"] - 0.5) < 1e-9


@pytest.mark.speech
def test_a_noisy_take_is_scored_on_the_clean_takes_frames_and_costs_our_lips_more_than_loudness(speaker_b):
    from generators.speech.realism import measure_clip

    clip = speaker_b
    clean = measure_clip(clip, DATA / "B_u032953.wav", "neural")
    noisy = measure_clip(clip, DATA / "B_u032953.wav", "neural", condition="white10")
    again = measure_clip(clip, DATA / "B_u032953.wav", "neural", condition="white10")
    # The person's lips and the frames scored are the clean take's: the reference opening does not move.
    assert noisy["p90_ref_cm"] == clean["p90_ref_cm"] and noisy["p50_ref_cm"] == clean["p50_ref_cm"]
    assert noisy["gap"].r == again["gap"].r, "the noise is seeded by the clip's name"
    # Noise 10 dB under the speech: our lips follow the person less well than in the studio recording (0.79 against
    # 0.89 measured).
    assert noisy["gap"].r < clean["gap"].r - 0.05
    with pytest.raises(AvatarInputError, match="babble noise needs other voices"):
        measure_clip(clip, DATA / "B_u032953.wav", "neural", condition="babble10")


def test_bench_realism_refuses_an_unknown_noise_in_one_line(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_realism", ROOT / "benchmarks" / "bench_realism.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--noise", "pinkish"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown audio condition 'pinkish'" in err[0]
