"""Writers produce files standard tools open, mux audio, and never leave half-written outputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import AvatarInputError, OutputPathError
from renderers.writers import ffmpeg_exe, save_frames, save_mp4

pytestmark = [pytest.mark.speech]


def frames(n: int = 12, h: int = 64, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1, h, w, 3), dtype=np.uint8)
    ramp = np.linspace(0, 200, n, dtype=np.uint8)[:, None, None, None]
    return (base // 2 + ramp // 2).astype(np.uint8)


def test_mp4_has_all_frames(tmp_path: Path) -> None:
    import imageio.v3 as iio

    out = save_frames(frames(12), tmp_path / "a.mp4", fps=12)
    read = np.stack(list(iio.imiter(out)))
    assert read.shape == (12, 64, 64, 3)


def test_mp4_muxes_audio(tmp_path: Path) -> None:
    import wave

    wav = tmp_path / "tone.wav"
    sr = 16000
    t = np.arange(sr) / sr
    pcm = (np.sin(2 * np.pi * 220 * t) * 12000).astype(np.int16)
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(sr), f.writeframes(pcm.tobytes())
    out = save_mp4(frames(30), tmp_path / "talk.mp4", fps=30, audio=wav)
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True)
    assert "Video: h264" in probe.stderr and "Audio: aac" in probe.stderr


def test_gif_and_png(tmp_path: Path) -> None:
    from PIL import Image

    g = save_frames(frames(5), tmp_path / "a.gif", fps=10)
    with Image.open(g) as im:
        assert im.n_frames == 5
    p = save_frames(frames(1), tmp_path / "a.png")
    assert Image.open(p).size == (64, 64)
    with pytest.raises(OutputPathError, match="use .mp4 or .gif"):
        save_frames(frames(3), tmp_path / "b.png")


def test_failed_write_leaves_no_file_and_keeps_old_one(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"

    def broken():
        yield frames(1)[0]
        raise RuntimeError("renderer died mid-sequence")

    with pytest.raises(RuntimeError):
        save_mp4(broken(), target)
    assert not target.exists()
    assert not list(tmp_path.glob(".*part*"))
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        save_mp4(broken(), target)
    assert target.read_bytes() == b"old"


def test_bad_outputs(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="unsupported output type"):
        save_frames(frames(2), tmp_path / "a.avi")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="cannot create output folder"):
        save_frames(frames(2), blocker / "sub" / "a.mp4")
    with pytest.raises(AvatarInputError, match="empty"):
        save_frames(np.zeros((0, 8, 8, 3), np.uint8), tmp_path / "e.mp4")


def test_output_path_may_not_escape_root(tmp_path: Path) -> None:
    from avatar.io.atomic import check_output_path

    with pytest.raises(OutputPathError, match="escapes the output folder"):
        check_output_path("../../etc/x.png", root=tmp_path)
    assert check_output_path("sub/x.png", root=tmp_path) == (tmp_path / "sub" / "x.png").resolve()


def test_mp4_encoder_settings_are_used_and_checked(tmp_path: Path) -> None:
    """The x264 preset and crf reach the encoder (a higher crf makes a smaller file of the same frames; both decode to
    every frame close to the source), and a bad value is a one-line error naming the fix, with no file left."""
    import imageio.v3 as iio

    y, x = np.mgrid[0:96, 0:96]
    t = np.arange(24)[:, None, None]
    # Smooth shapes that move (a drifting gradient and a sliding disc): what a talking head's frames look like to x264.
    grey = 128 + 60 * np.sin((x + 2 * t) / 9.0) + 50 * (((x - 20 - 2 * t) ** 2 + (y - 48) ** 2) < 200)
    clip = np.clip(np.stack([grey, grey * 0.8 + 20, 255 - grey], -1), 0, 255).astype(np.uint8)
    fine = save_mp4(clip, tmp_path / "fine.mp4", fps=24, preset="veryfast", crf=12)
    coarse = save_mp4(clip, tmp_path / "coarse.mp4", fps=24, preset="medium", crf=30)
    assert coarse.stat().st_size < fine.stat().st_size
    for out, tol in ((fine, 3.0), (coarse, 6.0)):
        read = np.stack(list(iio.imiter(out))).astype(np.float64)
        assert read.shape == clip.shape
        assert np.abs(read - clip).mean() < tol
    with pytest.raises(AvatarInputError, match="unknown x264 preset 'fastest': use one of"):
        save_mp4(clip, tmp_path / "bad.mp4", preset="fastest")
    with pytest.raises(AvatarInputError, match="crf must be a whole number 0..51"):
        save_frames(clip, tmp_path / "bad.mp4", crf=52)
    assert not (tmp_path / "bad.mp4").exists()
