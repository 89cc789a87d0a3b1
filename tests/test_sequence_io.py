"""ExpressionSequence: editing ops and exact NPZ / JSON / Live Link Face CSV round trips, with clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError, FileFormatError, OutputPathError, ShapeError
from avatar.io.livelink import HEADER, LIVE_LINK_ORDER, timecode
from avatar.sequence import ExpressionSequence


@pytest.fixture
def seq() -> ExpressionSequence:
    rng = np.random.default_rng(0)
    return ExpressionSequence(rng.uniform(0, 1, (90, 52)).astype(np.float32), fps=30,
                              head_pose=rng.normal(0, 0.1, (90, 6)).astype(np.float32),
                              labels=["happy"] * 45 + ["sad"] * 45, audio="speech.wav")


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_exact_round_trip(tmp_path: Path, seq: ExpressionSequence, suffix: str) -> None:
    seq.save(tmp_path / f"s{suffix}")
    back = ExpressionSequence.load(tmp_path / f"s{suffix}")
    assert np.array_equal(back.weights, seq.weights)
    assert np.array_equal(back.head_pose, seq.head_pose)
    assert back.fps == seq.fps and back.labels == seq.labels and back.audio == seq.audio


def test_live_link_csv_round_trip_and_layout(tmp_path: Path, seq: ExpressionSequence) -> None:
    path = tmp_path / "take.csv"
    seq.save(path)
    rows = list(csv.reader(path.read_text().splitlines()))
    assert tuple(rows[0]) == HEADER and len(rows[0]) == 2 + 52 + 9
    assert rows[0][2] == "EyeBlinkLeft" and rows[0][53] == "TongueOut" and rows[0][54] == "HeadYaw"
    assert rows[1][0] == "00:00:00:00.000" and rows[1][1] == "61"
    assert rows[31][0] == "00:00:01:00.000"
    back = ExpressionSequence.load(path)
    assert np.array_equal(back.weights, seq.weights)  # 9 significant digits bring float32 back exactly
    assert back.fps == 30
    np.testing.assert_allclose(back.head_pose[:, :3], seq.head_pose[:, :3], atol=1e-7)


def test_csv_any_column_order_and_spelling(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("jawopen,Timecode,mouthSmile_L,Unrelated\n0.5,00:00:00:00.000,0.25,7\n1,00:00:00:01.000,0,7\n")
    back = ExpressionSequence.load(path, fps=24)
    assert back.fps == 24 and len(back) == 2
    assert back.column("jawOpen").tolist() == [0.5, 1.0]
    assert back.column("mouthSmileLeft").tolist() == [0.25, 0.0]


@pytest.mark.parametrize("content, needle", [
    ("", "empty"),
    ("Timecode,JawOpen\n00:00:00:00.000,abc\n", "line 2"),
    ("Timecode,JawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000\n", "line 3"),
    ("Timecode,Foo\n00:00:00:00.000,1\n", "no ARKit"),
    ("Timecode,JawOpen\n", "no frames"),
    ("Timecode,JawOpen\nnot-a-time,0.5\n", "timecode"),
])
def test_malformed_csv(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(FileFormatError, match=needle) as e:
        ExpressionSequence.load(path)
    assert "\n" not in str(e.value)


def test_bad_files(tmp_path: Path, seq: ExpressionSequence) -> None:
    with pytest.raises(FileFormatError, match="not found"):
        ExpressionSequence.load(tmp_path / "missing.npz")
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        ExpressionSequence.load(tmp_path / "x.json")
    with pytest.raises(FileFormatError, match="use one of"):
        ExpressionSequence.load(tmp_path / "x.bvh")
    with pytest.raises(OutputPathError, match="use one of"):
        seq.save(tmp_path / "x.bvh")


def test_failed_save_keeps_the_old_file(tmp_path: Path, seq: ExpressionSequence, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    path.write_text("old")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("json.dumps", boom)
    with pytest.raises(RuntimeError):
        seq.save(path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_slice_resample_concatenate(seq: ExpressionSequence) -> None:
    part = seq.slice(1.0, 2.0)
    assert len(part) == 30 and np.array_equal(part.weights, seq.weights[30:60]) and part.labels[0] == "happy" and part.labels[-1] == "sad"
    up = seq.resample(60)
    assert len(up) == 180 and abs(up.duration - seq.duration) < 1e-9
    np.testing.assert_allclose(up.weights[::2], seq.weights, atol=1e-6)  # original frames kept
    mid = up.weights[1]
    np.testing.assert_allclose(mid, (seq.weights[0] + seq.weights[1]) / 2, atol=1e-6)  # halfway between
    joined = ExpressionSequence.concatenate([seq, seq.resample(15)])
    assert joined.fps == 30 and len(joined) == 180
    assert (seq + seq).weights.shape == (180, 52)


def test_validation() -> None:
    with pytest.raises(ShapeError, match=r"\(10, 51\)"):
        ExpressionSequence(np.zeros((10, 51), np.float32))
    with pytest.raises(AvatarInputError, match="fps"):
        ExpressionSequence(np.zeros((2, 52), np.float32), fps=0)
    with pytest.raises(AvatarInputError, match="NaN"):
        ExpressionSequence(np.full((2, 52), np.nan, np.float32))
    clipped = ExpressionSequence(np.full((1, 52), 1.5, np.float32))
    assert clipped.weights.max() == 1.0


def test_timecode_format() -> None:
    assert timecode(0, 30) == "00:00:00:00.000"
    assert timecode(45, 30) == "00:00:01:15.000"
    assert timecode(3600 * 60 + 1, 60) == "01:00:00:01.000"
    assert len(LIVE_LINK_ORDER) == 52
