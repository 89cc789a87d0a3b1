"""The emoavatar CLI end to end: outputs that open, one-line errors with exit code 2, no half-written files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avatar.app.cli import main

pytestmark = [pytest.mark.gl, pytest.mark.speech]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line error, got: {err!r}"
    assert lines[0].startswith("emoavatar: error: ")
    return lines[0]


def test_render_emotion_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "happy.png"
    code, _, _ = run(capsys, "render", "--emotion", "happy", "--intensity", "0.8", "--size", "128", "-o", str(out), "--no-progress")
    assert code == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (128, 128, 3)


@pytest.mark.slow
def test_render_aus_va_identity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "aus.png", tmp_path / "va.png"
    assert run(capsys, "render", "--aus", "AU1=0.6,AU4=0.8,AU15=0.7", "--view", "three-quarter", "--size", "96", "-o", str(a))[0] == 0
    assert run(capsys, "render", "--va", "0.8,0.5", "--identity", "7", "--size", "96", "-o", str(b))[0] == 0
    assert Image.open(a).size == (96, 96) and Image.open(b).size == (96, 96)


@pytest.mark.slow
def test_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheet.png"
    code, _, _ = run(capsys, "sheet", "--emotions", "happy,sad", "--intensities", "0.5,1", "--cell", "64", "-o", str(out), "--no-progress")
    assert code == 0
    w, h = Image.open(out).size
    assert w > 2 * 64 and h > 2 * 64


@pytest.mark.slow
def test_render_sequence_csv_to_mp4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import imageio.v3 as iio

    from avatar.sequence import ExpressionSequence

    w = np.zeros((12, 52), np.float32)
    w[:, 24] = np.linspace(0, 1, 12)  # jawOpen
    csv = tmp_path / "anim.csv"
    ExpressionSequence(w, fps=24).save(csv)
    out = tmp_path / "anim.mp4"
    code, _, _ = run(capsys, "render", "--sequence", str(csv), "--size", "64", "-o", str(out), "--no-progress")
    assert code == 0
    frames = np.stack(list(iio.imiter(out)))
    assert len(frames) == 12
    # The encoder options reach x264: the same frames at a much higher crf make a smaller file.
    small = tmp_path / "small.mp4"
    code, _, _ = run(capsys, "render", "--sequence", str(csv), "--size", "64", "-o", str(small), "--no-progress",
                     "--x264-preset", "medium", "--crf", "40")
    assert code == 0 and len(list(iio.imiter(small))) == 12
    assert small.stat().st_size < out.stat().st_size


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["render", "--emotion", "sleepy"], "sleepy"),
        (["render", "--emotion", "happy", "--intensity", "1.5"], "1.5"),
        (["render", "--aus", "AU99=0.5"], "AU99"),
        (["render", "--aus", "AU1=2"], "2"),
        (["render", "--va", "nonsense"], "nonsense"),
        (["render", "--emotion", "happy", "--view", "sideways"], "sideways"),
        (["render", "--emotion", "happy", "--background", "plaid"], "plaid"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    out = tmp_path / "x.png"
    code, _, err = run(capsys, *argv, "--size", "64", "-o", str(out))
    assert code == 2
    assert needle in one_line_error(err)
    assert not out.exists()


@pytest.mark.parametrize("argv, needle", [(["--crf", "60"], "0..51"), (["--x264-preset", "fastest"], "veryfast")])
def test_bad_encoder_option_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             needle: str) -> None:
    out = tmp_path / "x.mp4"
    with pytest.raises(SystemExit) as stop:
        main(["render", "--emotion", "happy", "--size", "64", "-o", str(out), *argv])
    assert stop.value.code == 2
    assert needle in one_line_error(capsys.readouterr().err)
    assert not out.exists()


def test_unknown_emotion_lists_valid_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", "--emotion", "sleepy", "-o", str(tmp_path / "x.png"))
    line = one_line_error(err)
    for e in ("happy", "contempt", "surprise"):
        assert e in line


def test_malformed_csv_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.sequence import ExpressionSequence

    csv = tmp_path / "bad.csv"
    ExpressionSequence(np.zeros((5, 52), np.float32), fps=30).save(csv)
    lines = csv.read_text().splitlines()
    cells = lines[3].split(",")
    cells[5] = "banana"
    lines[3] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "x.mp4"
    code, _, err = run(capsys, "render", "--sequence", str(csv), "--size", "64", "-o", str(out))
    assert code == 2
    line = one_line_error(err)
    assert "line 4" in line and "banana" in line
    assert not out.exists()


def test_unwritable_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = run(capsys, "render", "--emotion", "happy", "--size", "64", "-o", str(blocker / "x.png"))
    assert code == 2
    one_line_error(err)
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        code, _, err = run(capsys, "render", "--emotion", "happy", "--size", "64", "-o", str(ro / "x.png"))
        assert code == 2


@pytest.mark.slow
def test_head_missing_morph_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=1)
    path = tmp_path / "plain.glb"
    mesh.export(path)
    code, _, err = run(capsys, "render", "--emotion", "happy", "--head", str(path), "--size", "64", "-o", str(tmp_path / "x.png"))
    assert code == 2
    line = one_line_error(err)
    assert "jawOpen" in line or "missing" in line


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in ("render", "sheet"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"emoavatar {cmd}" in out


def test_env_prints_gl_and_device(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "env")
    assert code == 0
    assert "GL renderer:" in out and "torch device" in out


@pytest.mark.slow
def test_animate_speech_to_mp4_csv_glb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    from avatar.sequence import ExpressionSequence
    from renderers.writers import ffmpeg_exe

    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "papa bob buys maps"], check=True)
    out, csv, glb = tmp_path / "talk.mp4", tmp_path / "talk.csv", tmp_path / "talk.glb"
    code, _, _ = run(capsys, "animate", str(wav), "--text", "papa bob buys maps", "--emotion-track", "0:neutral,0.6:happy@0.9",
                     "--size", "96", "-o", str(out), "--export", str(csv), "--export", str(glb), "--no-progress")
    assert code == 0
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "Video: h264" in probe and "Audio: aac" in probe
    seq = ExpressionSequence.load(csv)
    assert len(seq) > 20 and seq.fps == 30
    assert glb.stat().st_size > 1_000_000


@pytest.mark.slow
def test_animate_bad_audio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    out = tmp_path / "x.mp4"
    code, _, err = run(capsys, "animate", str(junk), "-o", str(out), "--no-progress")
    assert code == 2
    one_line_error(err)
    assert not out.exists()
    code, _, err = run(capsys, "animate", str(junk), "--emotion", "sleepy", "-o", str(out))
    assert code == 2 and "sleepy" in one_line_error(err)
