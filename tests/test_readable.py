"""Readable results: reprs of sequences, scores and frames; stream's JSON lines read back; out-of-range weights clipped with one warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import avatar
from avatar.emotion import EMOTIONS

pytestmark = [pytest.mark.gl]


def _score(expected: list[str], predicted: list[str], judge: str = "") -> object:
    from recognizers.base import Recognition
    from recognizers.scoring import EmotionScorer

    probs = np.full((len(predicted), 8), 0.01, np.float32)
    for i, p in enumerate(predicted):
        probs[i, EMOTIONS.index(p)] = 0.93
    rec = Recognition(emotion_probs=probs, emotion_available=np.ones(8, bool))
    scorer = EmotionScorer(device="cpu", judge=judge or None)
    scorer.update(rec, expected)
    return scorer.compute()


def test_sequence_repr_is_one_line_without_arrays() -> None:
    seq = avatar.ExpressionSequence.from_pose(avatar.pose(emotion="happy"), frames=300, label="happy")
    text = repr(seq)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("ExpressionSequence(300 frames at 30 fps (10.00 s)") and "mouthSmile" in text and "labels happy" in text
    assert str(seq) == text
    assert "none (neutral)" in repr(avatar.ExpressionSequence(np.zeros((2, 52))))


def test_score_of_one_image_says_what_it_read() -> None:
    s = _score(["happy"], ["neutral"], judge="fer2013")
    text = str(s)
    assert "1 image: expected happy, read as neutral; accuracy 0.000" in text
    assert "nan" not in text and "P=" not in text and "judge: fer2013" in text
    assert repr(s).startswith("Score(judge='fer2013', n=1, accuracy=0.000") and "\n" not in repr(s)


def test_score_of_many_lists_expected_classes_and_counts_the_others_apart() -> None:
    s = _score(["happy"] * 4 + ["sad"] * 4, ["happy", "happy", "happy", "neutral", "sad", "sad", "anger", "anger"])
    text = str(s)
    assert "happy" in text and "sad" in text and "R=0.750" in text
    assert "neutral   P=" not in text and "also read as (never expected): anger x2, neutral x1" in text


def test_stream_json_lines_read_back_as_a_sequence(tmp_path: Path) -> None:
    from generators.speech.streaming import StreamFrame

    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 1, (5, 52)).astype(np.float32)
    poses = rng.uniform(-0.2, 0.2, (5, 6)).astype(np.float32)
    path = tmp_path / "frames.jsonl"
    path.write_text("".join(StreamFrame(i, i / 25.0, weights[i], poses[i], "sad").to_json() + "\n" for i in range(5)))
    seq = avatar.ExpressionSequence.load(path)
    assert len(seq) == 5 and seq.fps == 25.0 and seq.labels == ["sad"] * 5
    np.testing.assert_allclose(seq.weights, weights, atol=1e-5)  # the stream writes 5 decimals
    np.testing.assert_allclose(seq.head_pose, poses, atol=1e-6)


def test_stream_json_lines_render_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.app.cli import main
    from generators.speech.streaming import StreamFrame

    path = tmp_path / "frames.jsonl"
    w = avatar.pose(emotion="surprise")
    path.write_text("".join(StreamFrame(i, i / 30.0, w, np.zeros(6, np.float32), "surprise").to_json() + "\n" for i in range(3)))
    out = tmp_path / "x.gif"
    assert main(["render", "--sequence", str(path), "--size", "64", "-o", str(out), "--no-progress"]) == 0
    assert out.stat().st_size > 0 and "3 frames at 30 fps" in capsys.readouterr().out


def test_bad_json_lines_name_the_line(tmp_path: Path) -> None:
    from avatar.errors import FileFormatError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"frame": 0, "time": 0, "blendshapes": {"jawOpen": 0.5}}\n{"frame": 1, oops}\n')
    with pytest.raises(FileFormatError, match="line 2"):
        avatar.ExpressionSequence.load(path)


def test_out_of_range_weights_are_clipped_with_one_warning_naming_line_and_column(tmp_path: Path) -> None:
    from avatar.io.livelink import write_livelink_csv
    from avatar.notices import AvatarWarning

    seq = avatar.ExpressionSequence(np.full((4, 52), 0.5, np.float32), fps=60)
    path = tmp_path / "a.csv"
    write_livelink_csv(seq, path)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("JawOpen")
    row = lines[2].split(",")
    row[col] = "-0.25"
    lines[2] = ",".join(row)
    row = lines[4].split(",")
    row[col] = "1.5"
    lines[4] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = avatar.ExpressionSequence.load(path)
    ours = [w for w in caught if issubclass(w.category, AvatarWarning)]
    assert len(ours) == 1
    msg = str(ours[0].message)
    assert "2 weights outside 0..1 clipped" in msg and "line 3, column jawOpen = -0.25" in msg and "\n" not in msg
    k = avatar.ARKIT_NAMES.index("jawOpen")
    assert back.weights[1, k] == 0.0 and back.weights[3, k] == 1.0 and back.weights[0, k] == pytest.approx(0.5)


def test_in_range_files_read_without_a_warning(tmp_path: Path) -> None:
    seq = avatar.ExpressionSequence(np.linspace(0, 1, 3 * 52, dtype=np.float32).reshape(3, 52), fps=30)
    for suffix in (".json", ".npz", ".csv"):
        path = tmp_path / f"ok{suffix}"
        seq.save(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            avatar.ExpressionSequence.load(path)


def test_fidelity_header_separates_judges_and_explains_the_frame_count() -> None:
    from avatar.app.fidelity import FidelityConfig, FidelityReport

    cfg = FidelityConfig(identities=(0, 7), views=("front", "profile"), intensities=(0.5, 1.0),
                         recognizers=("fer2013", "face-classification"))
    scores = {n: _score(["happy", "sad"], ["happy", "sad"], judge=n) for n in cfg.recognizers}
    report = FidelityReport(cfg, scores, frames=60, seconds=1.0, render_seconds=0.5)
    head = report.table().splitlines()[0].split()
    assert head == ["emotion", "fer2013", "face-classification"]
    assert "60 frames per judge: 2 identities x 2 views x (7 emotions x 2 intensities + neutral once)" in report.table()
    assert 2 * 2 * (7 * 2 + 1) == 60


def test_cli_prints_a_file_warning_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.app.cli import main

    path = tmp_path / "few.csv"  # no timecode (no frame rate) and only two ARKit columns
    path.write_text("JawOpen,MouthSmileLeft\n0.5,0.2\n0.6,1.4\n")
    out = tmp_path / "x.gif"
    assert main(["render", "--sequence", str(path), "--size", "64", "-o", str(out), "--no-progress"]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 3 and all(ln.startswith("emoavatar: warning: ") for ln in err), err
    assert any("columns missing" in ln for ln in err) and any("frame rate" in ln for ln in err)
    assert any("line 3, column mouthSmileLeft = 1.4" in ln for ln in err)
