"""ExpressionSequence: editing ops, exact NPZ / JSON / Live Link Face CSV round trips, clear errors, safe writes."""

from __future__ import annotations

import csv
import json
import math
import pathlib
import warnings
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError, FileFormatError, OutputPathError, ShapeError
from avatar.io.livelink import EYE_YAW_RANGE, HEADER, infer_fps, parse_timecode, timecode
from avatar.sequence import ExpressionSequence

# Live Link Face's header as the app records it (Timecode, BlendShapeCount, 52 shapes, 9 rotations).
LIVE_LINK_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,"
    "EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,"
    "EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,"
    "MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,"
    "MouthDimpleRight,MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,"
    "MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,"
    "MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,"
    "CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,HeadYaw,HeadPitch,HeadRoll,"
    "LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll"
)


@pytest.fixture
def seq() -> ExpressionSequence:
    rng = np.random.default_rng(0)
    return ExpressionSequence(rng.uniform(0, 1, (90, 52)).astype(np.float32), fps=30,
                              head_pose=rng.normal(0, 0.1, (90, 6)).astype(np.float32),
                              labels=["happy"] * 45 + ["sad"] * 45, audio="speech.wav")


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------ NPZ and JSON
@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_exact_round_trip(tmp_path: Path, seq: ExpressionSequence, suffix: str) -> None:
    seq.save(tmp_path / f"s{suffix}")
    back = ExpressionSequence.load(tmp_path / f"s{suffix}")
    assert np.array_equal(back.weights, seq.weights) and np.array_equal(back.head_pose, seq.head_pose)
    assert back.fps == seq.fps and back.labels == seq.labels and back.audio == seq.audio
    assert back == seq


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_round_trip_of_bare_and_empty_sequences(tmp_path: Path, suffix: str) -> None:
    for s in (ExpressionSequence(np.zeros((0, 52), np.float32), fps=24),
              ExpressionSequence(np.full((3, 52), 0.1, np.float32), fps=29.97)):
        s.save(tmp_path / f"s{suffix}")
        back = ExpressionSequence.load(tmp_path / f"s{suffix}")
        assert back == s and back.head_pose is None and back.labels is None and back.audio is None


def test_json_is_human_readable(tmp_path: Path) -> None:
    w = np.zeros((2, 52), np.float32)
    w[0, 24] = 0.3  # jawOpen
    ExpressionSequence(w, fps=25).save(tmp_path / "s.json")
    text = (tmp_path / "s.json").read_text()
    doc = json.loads(text)
    assert doc["format"] == "emoavatar.sequence" and doc["version"] == 1 and doc["fps"] == 25.0
    assert doc["names"][24] == "jawOpen" and len(doc["frames"]) == 2 and len(doc["frames"][0]) == 52
    assert "0.3," in text and "0.300000" not in text  # shortest float32 text, not 17 digits
    assert text.count("\n") >= 3  # one frame per line


def test_json_columns_in_any_order_and_spelling(tmp_path: Path) -> None:
    doc = {"format": "emoavatar.sequence", "version": 1, "fps": 10, "names": ["JawOpen", "mouthSmile_L", "Unrelated"],
           "frames": [[0.5, 0.25, 9.0], [1.0, 0.0, 9.0]]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    back = ExpressionSequence.load(tmp_path / "s.json")
    assert back.column("jawOpen").tolist() == [0.5, 1.0] and back.column("mouthSmileLeft").tolist() == [0.25, 0.0]


def test_load_with_fps_resamples(tmp_path: Path, seq: ExpressionSequence) -> None:
    seq.save(tmp_path / "s.npz")
    back = ExpressionSequence.load(tmp_path / "s.npz", fps=60)
    assert back.fps == 60 and len(back) == 180


@pytest.mark.parametrize("name, content, needle", [
    ("x.json", "{nope", r"not valid JSON \(line 1"),
    ("x.json", '{"format": "other", "frames": []}', "not 'emoavatar.sequence'"),
    ("x.json", '{"format": "emoavatar.sequence", "version": 9, "frames": []}', "upgrade emoavatar"),
    ("x.json", '{"frames": [[0.1, 0.2]]}', "52 names"),
    ("x.json", '{"frames": [[0.1], [0.1, 0.2]]}', "equal-length"),
    ("x.json", '{"frames": [], "fps": -1}', "fps must be a positive number"),
    ("x.json", "[1, 2]", "no 'frames' list"),
    ("x.npz", "not a zip", "not an emoavatar NPZ"),
])
def test_malformed_npz_and_json(tmp_path: Path, name: str, content: str, needle: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FileFormatError, match=needle) as e:
        ExpressionSequence.load(path)
    assert "\n" not in str(e.value) and name in str(e.value)


def test_unknown_suffixes_and_missing_files(tmp_path: Path, seq: ExpressionSequence) -> None:
    with pytest.raises(FileFormatError, match="not found"):
        ExpressionSequence.load(tmp_path / "missing.npz")
    with pytest.raises(FileFormatError, match=r"use one of \.npz, \.json, \.csv"):
        ExpressionSequence.load(tmp_path / "x.bvh")
    with pytest.raises(FileFormatError, match="export-only"):
        ExpressionSequence.load(tmp_path / "x.glb")
    with pytest.raises(OutputPathError, match=r"use one of \.npz, \.json, \.csv, \.glb, \.gltf"):
        seq.save(tmp_path / "x.bvh")
    with pytest.raises(AvatarInputError, match="apply to .glb/.gltf only"):
        seq.save(tmp_path / "x.json", min_delta=0.1)


# --------------------------------------------------------------- safe writing
def _fail_halfway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every file write put half its bytes on disk, then fail, as a full disk would."""
    def half_text(self: Path, data: str, *a, **k):  # noqa: ANN001, ANN002, ANN003
        with open(self, "w") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def half_bytes(self: Path, data: bytes):  # noqa: ANN001
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def half_npz(file, **arrays):  # noqa: ANN001, ANN003
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_text", half_text)
    monkeypatch.setattr(pathlib.Path, "write_bytes", half_bytes)
    monkeypatch.setattr(np, "savez_compressed", half_npz)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv", ".gltf", ".glb"])
def test_failed_save_keeps_the_old_file(tmp_path: Path, seq: ExpressionSequence, monkeypatch: pytest.MonkeyPatch,
                                        suffix: str) -> None:
    old, new = tmp_path / f"old{suffix}", tmp_path / f"new{suffix}"
    old.write_bytes(b"old content")
    short = seq[:3]
    _fail_halfway(monkeypatch)
    for path in (old, new):
        with pytest.raises(OSError):
            short.save(path)
    assert old.read_bytes() == b"old content" and not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [old.name]  # no temporary file left behind


# ------------------------------------------------------------ Live Link Face CSV
def test_live_link_csv_round_trip_and_layout(tmp_path: Path, seq: ExpressionSequence) -> None:
    path = tmp_path / "take.csv"
    seq.save(path)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert ",".join(rows[0]) == LIVE_LINK_HEADER == ",".join(HEADER)
    assert all(len(r) == 63 for r in rows) and len(rows) == 91
    assert rows[1][:2] == ["00:00:00:00.000", "61"] and rows[31][0] == "00:00:01:00.000"
    assert rows[46][0] == "00:00:01:15.000"
    back = ExpressionSequence.load(path)
    assert np.array_equal(back.weights, seq.weights)  # shortest float32 text reads back exactly
    assert back.fps == 30 and back.labels is None and back.audio is None
    assert np.array_equal(back.head_pose[:, :3], seq.head_pose[:, :3]) and not back.head_pose[:, 3:].any()


def test_csv_eye_rotations_follow_gaze(tmp_path: Path) -> None:
    w = np.zeros((2, 52), np.float32)
    w[0, 14] = 1.0  # eyeLookOutLeft: the left eye turns towards the subject's left
    ExpressionSequence(w, fps=30).save(tmp_path / "g.csv")
    row = next(r for i, r in enumerate(csv.DictReader((tmp_path / "g.csv").open())) if i == 0)
    assert math.isclose(float(row["LeftEyeYaw"]), EYE_YAW_RANGE, rel_tol=1e-6) and float(row["RightEyeYaw"]) == 0
    assert float(row["HeadYaw"]) == 0


def test_csv_any_column_order_spelling_and_extras(tmp_path: Path) -> None:
    path = _csv(tmp_path / "other.csv", "jawopen,Timecode,mouthSmile_L,Unrelated,HeadPitch\r\n"
                "0.5,00:00:00:00.000,0.25,7,0.1,\r\n1,00:00:00:01.000,0,7,0.2,\r\n")
    with pytest.warns(UserWarning, match="50 ARKit columns missing"):
        back = ExpressionSequence.load(path, fps=24)
    assert back.fps == 24 and len(back) == 2
    assert back.column("jawOpen").tolist() == [0.5, 1.0] and back.column("mouthSmileLeft").tolist() == [0.25, 0.0]
    np.testing.assert_allclose(back.head_pose[:, 0], [0.1, 0.2])


def test_csv_with_byte_order_mark_reads(tmp_path: Path, seq: ExpressionSequence) -> None:
    seq.save(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "a.csv").read_bytes())
    assert ExpressionSequence.load(tmp_path / "b.csv") == ExpressionSequence.load(tmp_path / "a.csv")


@pytest.mark.parametrize("content, needle", [
    ("", "is empty"),
    ("\n\n", "is empty"),
    ("Timecode,JawOpen\n00:00:00:00.000,abc\n", "line 2: JawOpen is 'abc', not a number"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,nan\n", "line 3: JawOpen is 'nan'"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000\n", "line 3: 1 cells but the header has 2"),
    ("Timecode,JawOpen,HeadYaw\n00:00:00:00.000,0.1,x\n", "line 2: HeadYaw is 'x'"),
    ("Timecode,Foo\n00:00:00:00.000,1\n", "line 1: no ARKit blendshape columns"),
    ("00:00:00:00.000,61,0.1,0.2\n", "is the header line missing"),
    ("Timecode,JawOpen,JAWOPEN\n", "both name jawOpen"),
    ("Timecode,JawOpen\n", "no frames"),
    ("Timecode,JawOpen\nnot-a-time,0.5\n", "line 2: timecode 'not-a-time'"),
    ('Timecode,JawOpen\n"00:00,0.5\n', "line"),
])
def test_malformed_csv_names_file_and_line(tmp_path: Path, content: str, needle: str) -> None:
    path = _csv(tmp_path / "bad.csv", content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FileFormatError, match=needle) as e:
            ExpressionSequence.load(path)
    assert "\n" not in str(e.value) and "bad.csv" in str(e.value)


def test_empty_sequence_is_not_written_as_csv(tmp_path: Path) -> None:
    with pytest.raises(AvatarInputError, match="empty sequence"):
        ExpressionSequence(np.zeros((0, 52), np.float32)).save(tmp_path / "e.csv")
    assert not (tmp_path / "e.csv").exists()


def test_timecode_format() -> None:
    assert timecode(0, 30) == "00:00:00:00.000"
    assert timecode(45, 30) == "00:00:01:15.000"
    assert timecode(3600 * 60 + 1, 60) == "01:00:00:01.000"
    assert timecode(30, 29.97) == "00:00:01:00.030"
    for i in range(2000):  # non-integer rates: FF and the fraction never overflow, time never runs back
        _, _, _, rest = timecode(i, 29.97).split(":")
        ff, frac = rest.split(".")
        assert 0 <= int(ff) < 30 and len(frac) == 3
    stamps = [parse_timecode(timecode(i, 29.97)) for i in range(200)]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    assert parse_timecode("01:02:03;04.5") == (3723, 4.5)
    with pytest.raises(ValueError):
        parse_timecode("1:2:3")


def test_fps_inference() -> None:
    assert infer_fps([parse_timecode(timecode(i, 30)) for i in range(40)]) == 30
    assert infer_fps([parse_timecode(timecode(i, 29.97)) for i in range(40)]) == 29.97
    assert infer_fps([parse_timecode(timecode(i, 12.5)) for i in range(40)]) == 12.5
    # Live Link Face style: 60 fps rows stamped with a 30 fps timecode and .5 sub-frames, starting mid-second.
    llf = [(7 + (22 + i // 2) // 30, (22 + i // 2) % 30 + 0.5 * (i % 2) + 0.366) for i in range(40)]
    assert infer_fps(llf) == 60
    assert infer_fps(llf[:10] + llf[11:]) == 60  # a dropped frame does not change the rate
    assert infer_fps([parse_timecode(timecode(i, 30)) for i in range(20)]) is None  # never crosses a second


def test_csv_rate_rules(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    short = ExpressionSequence(rng.uniform(0, 1, (12, 52)).astype(np.float32), fps=25)
    short.save(tmp_path / "short.csv")
    assert ExpressionSequence.load(tmp_path / "short.csv") == short  # our writer makes short takes state their rate
    # A capture whose timecodes never cross a second cannot tell its rate.
    lines = (tmp_path / "short.csv").read_text().splitlines()
    lines[1:] = [f"{timecode(i, 25)},{ln.split(',', 1)[1]}" for i, ln in enumerate(lines[1:])]
    (tmp_path / "short.csv").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="reading at 60 fps"):
        assert ExpressionSequence.load(tmp_path / "short.csv").fps == 60
    assert ExpressionSequence.load(tmp_path / "short.csv", fps=25) == short  # the rate it cannot tell is taken
    long = ExpressionSequence(rng.uniform(0, 1, (75, 52)).astype(np.float32), fps=25)
    long.save(tmp_path / "long.csv")
    assert ExpressionSequence.load(tmp_path / "long.csv") == long
    halved = ExpressionSequence.load(tmp_path / "long.csv", fps=12.5)  # a rate it can tell is resampled
    assert halved.fps == 12.5 and len(halved) == 38 and np.allclose(halved.weights[1], long.weights[2])


# ---------------------------------------------------------------- editing ops
def test_slice(seq: ExpressionSequence) -> None:
    part = seq.slice(1.0, 2.0)
    assert len(part) == 30 and np.array_equal(part.weights, seq.weights[30:60])
    assert part.labels[0] == "happy" and part.labels[-1] == "sad" and part.audio == seq.audio
    assert np.array_equal(part.head_pose, seq.head_pose[30:60])
    assert len(seq.slice(2.5)) == 15 and len(seq.slice(5.0)) == 0 and len(seq.slice(0, -1.0)) == 0
    every_other = seq[::2]
    assert len(every_other) == 45 and every_other.fps == 15 and every_other.duration == seq.duration
    with pytest.raises(TypeError, match="slice"):
        seq[3]


def test_resample(seq: ExpressionSequence) -> None:
    up = seq.resample(60)
    assert len(up) == 180 and up.fps == 60 and abs(up.duration - seq.duration) < 1e-9
    np.testing.assert_allclose(up.weights[::2], seq.weights, atol=1e-6)  # original frames kept
    np.testing.assert_allclose(up.weights[1], (seq.weights[0] + seq.weights[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(up.head_pose[1], (seq.head_pose[0] + seq.head_pose[1]) / 2, atol=1e-6)
    assert up.labels[89] == "happy" and up.labels[90] == "sad" and up.audio == seq.audio
    down = seq.resample(10)
    assert len(down) == 30 and np.allclose(down.weights, seq.weights[::3], atol=1e-6)
    assert seq.resample(30) == seq
    with pytest.raises(AvatarInputError, match="fps"):
        seq.resample(0)


def test_concatenate(seq: ExpressionSequence) -> None:
    plain = ExpressionSequence(np.ones((15, 52), np.float32), fps=15)
    joined = ExpressionSequence.concatenate([seq, plain])
    assert joined.fps == 30 and len(joined) == 120 and joined.duration == seq.duration + plain.duration
    assert np.array_equal(joined.weights[:90], seq.weights) and np.all(joined.weights[90:] == 1)
    assert not joined.head_pose[90:].any() and joined.labels[90:] == [""] * 30 and joined.audio is None
    assert (seq + seq).weights.shape == (180, 52)
    assert ExpressionSequence.concatenate([seq]) == seq
    with pytest.raises(AvatarInputError, match="at least one"):
        ExpressionSequence.concatenate([])


def test_validation_and_equality(seq: ExpressionSequence) -> None:
    with pytest.raises(ShapeError, match=r"\(10, 51\)"):
        ExpressionSequence(np.zeros((10, 51), np.float32))
    with pytest.raises(AvatarInputError, match="fps"):
        ExpressionSequence(np.zeros((2, 52), np.float32), fps=0)
    with pytest.raises(AvatarInputError, match="NaN"):
        ExpressionSequence(np.full((2, 52), np.nan, np.float32))
    assert ExpressionSequence(np.full((1, 52), 1.5, np.float32)).weights.max() == 1.0
    other = seq[:]
    assert other == seq and other is not seq
    other.weights[0, 0] += 0.5
    assert other != seq and seq != "not a sequence"
