"""A CLI that never surprises (issue 9, part 3): each case a new user hit, now an error, a note or a fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.app.cli import main

pytestmark = [pytest.mark.gl, pytest.mark.speech]

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse usage errors exit from inside parse_args
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line error, got: {err!r}"
    assert lines[0].startswith("emoavatar: error: ")
    return lines[0]


@pytest.mark.parametrize("argv, needle", [
    (["score", "x.png", "--every", "0"], "--every"),
    (["score", "x.png", "--every", "-2"], "--every"),
    (["score", "x.png", "--batch", "0"], "--batch"),
])
def test_score_counts_must_be_positive(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and needle in one_line_error(err)


@pytest.mark.parametrize("argv, needle", [
    (["render", "--emotion", "happy"], "-o/--output"),
    (["render", "--emotion", "happy", "--intensity", "abc", "-o", "x.png"], "abc"),
    (["rendr", "--emotion", "happy"], "did you mean 'render'"),
])
def test_usage_errors_are_one_line_with_a_help_hint(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code, _, err = run(capsys, *argv)
    line = one_line_error(err)
    assert code == 2 and needle in line and "--help" in line


def test_render_with_nothing_to_render_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.png"
    code, _, err = run(capsys, "render", "-o", str(out))
    line = one_line_error(err)
    assert code == 2 and "--emotion neutral" in line and "--aus" in line and not out.exists()
    assert run(capsys, "render", "--emotion", "neutral", "--size", "64", "-o", str(out), "--no-progress")[0] == 0


def _wav(tmp_path: Path, words: str) -> Path:
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), words], check=True)
    return wav


@pytest.mark.slow
def test_animate_reports_a_transcript_that_does_not_match_and_the_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = _wav(tmp_path, "papa bob buys maps")
    code, out, err = run(capsys, "animate", str(wav), "--text", "the quick brown fox jumps over the lazy dog again and again",
                         "--export", str(tmp_path / "t.csv"), "--no-progress")
    assert code == 0
    warnings = [ln for ln in err.splitlines() if ln.startswith("emoavatar: warning:")]
    assert len(warnings) == 1 and "transcript" in warnings[0] and "Warning" not in err
    assert "lip sync: hybrid (the shipped model's mouth, closures from it and from decoded phones)" in out
    code, out, _ = run(capsys, "animate", str(wav), "--text", "papa bob buys maps", "--export", str(tmp_path / "u.csv"))
    assert code == 0 and "closures from the pocketsphinx alignment to the transcript)" in out


def test_animate_says_which_method_neural(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = _wav(tmp_path, "hello there")
    code, out, _ = run(capsys, "animate", str(wav), "--method", "neural", "--export", str(tmp_path / "t.npz"))
    assert code == 0 and "lip sync: neural" in out


def test_video_commands_refuse_a_transparent_background(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", "--emotion", "happy", "--background", "transparent", "-o", str(tmp_path / "x.mp4"))
    assert code == 2 and "--background" in one_line_error(err)
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    code, _, err = run(capsys, "animate", str(wav), "--background", "transparent", "-o", str(tmp_path / "x.gif"))
    assert code == 2 and ".png" in one_line_error(err)
    with pytest.raises(SystemExit):
        main(["animate", "--help"])
    assert "transparent" not in capsys.readouterr().out


def _sphere_obj(tmp_path: Path) -> Path:
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=2)
    head = tmp_path / "sphere.obj"
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    head.write_text("\n".join(lines) + "\n")
    shapes = tmp_path / "sphere_shapes"
    shapes.mkdir()
    jaw = mesh.vertices.copy()
    jaw[jaw[:, 1] < 0, 1] -= 0.2
    (shapes / "jawOpen.obj").write_text("\n".join([f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in jaw] + lines[len(jaw):]) + "\n")
    return head


@pytest.mark.slow
def test_head_missing_shapes_suggests_the_flag_that_exists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    head = _sphere_obj(tmp_path)
    out = tmp_path / "x.png"
    code, _, err = run(capsys, "render", "--emotion", "happy", "--head", str(head), "--size", "64", "-o", str(out))
    line = one_line_error(err)
    assert code == 2 and "--allow-missing" in line and "allow_missing=True" not in line
    code, _, err = run(capsys, "render", "--emotion", "surprise", "--head", str(head), "--allow-missing", "--size", "64", "-o", str(out))
    assert code == 0, err
    assert out.is_file()
    code, _, err = run(capsys, "sheet", "--emotions", "happy", "--intensities", "1", "--cell", "32", "--head", str(head),
                       "--allow-missing", "-o", str(tmp_path / "s.png"), "--no-progress")
    assert code == 0, err


def test_emotion_aliases_documented_and_deduplicated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    for cmd in ("render", "animate", "sheet"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "joy" in text and "angry" in text, cmd
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    code, _, err = run(capsys, "sheet", "--emotions", "happy,joy", "--intensities", "1", "--cell", "32", "-o", str(one), "--no-progress")
    assert code == 0 and "note:" in err and "joy" in err
    run(capsys, "sheet", "--emotions", "happy", "--intensities", "1", "--cell", "32", "-o", str(two), "--no-progress")
    assert Image.open(one).size == Image.open(two).size  # one row, not two rows both labelled happy


@pytest.mark.slow
def test_gif_keeps_every_frame_and_its_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image, ImageSequence

    from avatar.sequence import ExpressionSequence

    w = np.zeros((90, 52), np.float32)
    w[:, 24] = np.repeat(np.linspace(0, 1, 45), 2)  # pairs of equal frames: Pillow merged these
    seq = tmp_path / "anim.npz"
    ExpressionSequence(w, fps=30).save(seq)
    gif = tmp_path / "anim.gif"
    code, out, _ = run(capsys, "render", "--sequence", str(seq), "--size", "48", "-o", str(gif), "--no-progress")
    assert code == 0 and "90 frames" in out and "3.00 s" in out
    im = Image.open(gif)
    durations = [f.info["duration"] for f in ImageSequence.Iterator(im)]
    assert len(durations) == 90 and sum(durations) == 3000


@pytest.mark.parametrize("fps", [30, 24, 60, 25])
@pytest.mark.parametrize("frames", [2, 3, 12, 29, 30, 31, 100])
def test_csv_round_trip_keeps_fps_for_any_length(tmp_path: Path, fps: int, frames: int) -> None:
    import warnings

    from avatar.sequence import ExpressionSequence

    seq = ExpressionSequence(np.random.default_rng(frames).uniform(0, 1, (frames, 52)).astype(np.float32), fps=fps)
    seq.save(tmp_path / "a.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "does not state its frame rate"
        back = ExpressionSequence.load(tmp_path / "a.csv")
    assert back.fps == fps and back == seq


@pytest.mark.slow
def test_sigterm_leaves_no_part_file(tmp_path: Path) -> None:
    out = tmp_path / "long.mp4"
    seq = tmp_path / "long.npz"
    from avatar.sequence import ExpressionSequence

    ExpressionSequence(np.zeros((3000, 52), np.float32), fps=30).save(seq)
    proc = subprocess.Popen([sys.executable, "-m", "avatar", "render", "--sequence", str(seq), "--size", "256", "-o", str(out),
                             "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".long.") for p in tmp_path.iterdir()):
        time.sleep(0.1)
    assert any(p.name.startswith(".long.") for p in tmp_path.iterdir()), "the render never started writing"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npz"]  # no output, no hidden .part file


@pytest.mark.slow
def test_python_dash_m_avatar(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "avatar", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("emoavatar ")
    r = subprocess.run([sys.executable, "-m", "avatar", "render", "--emotion", "sleepy", "-o", str(tmp_path / "x.png")],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 2 and r.stderr.startswith("emoavatar: error: ") and "sleepy" in r.stderr
