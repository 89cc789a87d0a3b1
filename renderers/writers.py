"""Writes frames to standard files: PNG, GIF and H.264 MP4 (imageio-ffmpeg's bundled ffmpeg; MP4 with optional audio).

Every writer goes through `atomic_path`, so an interrupted or failed write never leaves a
half-written file behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from avatar.errors import AvatarInputError, OutputPathError, ShapeError
from avatar.io.atomic import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".gif")

MP4_PRESET = "veryfast"
"""Default x264 preset of `save_mp4`. On our renders (179 frames of a 512 px talking head) `veryfast` at `MP4_CRF`
matched `medium` at crf 18 in luma (45.1 against 44.8 dB PSNR to the raw frames; chroma 49.3 / 50.5) for half its
encoding CPU (0.73 against 1.55 s; the encoder was 14 % of `animate`'s CPU at 512 px) and 28 % larger files
(649 / 505 kB for 6 s; docs/performance.md, issue 21). Pass `preset="medium"` (CLI `--x264-preset medium --crf 18`)
for the smaller file."""
MP4_CRF = 16
"""Default x264 constant rate factor of `save_mp4` (lower: better and larger; 0-51): 16 with `MP4_PRESET` keeps the
quality `medium` at 18 gave."""
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
"""x264's presets, fastest first (each trades encoding time for a smaller file at a given crf)."""


def check_encoder(preset: str, crf: int) -> tuple[str, int]:
    """Return (preset, crf) checked for x264: a preset it knows and a crf in 0..51; else AvatarInputError naming the fix."""
    if preset not in X264_PRESETS:
        raise AvatarInputError(f"unknown x264 preset {preset!r}: use one of {', '.join(X264_PRESETS)}")
    if isinstance(crf, bool) or int(crf) != crf or not 0 <= int(crf) <= 51:
        raise AvatarInputError(f"crf must be a whole number 0..51 (lower is better quality), got {crf!r}")
    return preset, int(crf)


def _check_frame(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ShapeError(f"an image must be (H, W, 3) or (H, W, 4) uint8, got {a.shape} {a.dtype}")
    return a


def save_image(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write one (H, W, 3|4) uint8 image as PNG or JPEG (by suffix); return the path written."""
    from PIL import Image

    img = _check_frame(image)
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise OutputPathError(f"cannot write an image to {str(path)!r}: use a .png or .jpg file name")
    if suffix != ".png" and img.shape[2] == 4:
        img = img[..., :3]
    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG" if suffix == ".png" else "JPEG", quality=95)
    return Path(path)


def save_gif(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 30.0, total: int | None = None,
             progress: bool = False) -> Path:
    """Write frames as a looping GIF at `fps`, every frame kept and the total duration exact; return the path.

    GIF delays are whole centiseconds: 30 fps cannot be 3.33 cs a frame, and 3 cs each made a 3 s clip
    play in 2.7 s. ffmpeg stamps each frame at its own time rounded to a centisecond (3, 4, 3, 3, 4, ...),
    so the delays add up to the clip's length, and it keeps repeated frames (Pillow merged them, so a GIF
    said to have 90 frames had 88). One palette is made for the whole clip (palettegen), so colours do not
    flicker from frame to frame. Browsers show delays under 2 cs as 10 cs: above 50 fps a GIF plays slow there.
    """
    return _encode(frames, path, fps, ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse", "-loop", "0"], None, total, progress)


def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary shipped inside imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe_video(path: str | os.PathLike, sample_rate: int = 16000) -> tuple[int, float, float | None]:
    """Return (video frames, video seconds, audio seconds or None) of a video file, decoded by the bundled ffmpeg.

    Frames are counted by decoding (not read from the header), and the audio stream is decoded to mono PCM
    at `sample_rate` and its samples counted, so a lost frame or audio that drifted shows up.
    """
    import imageio_ffmpeg

    frames, seconds = imageio_ffmpeg.count_frames_and_secs(os.fspath(path))
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", os.fspath(path)], capture_output=True, text=True)
    if "Audio:" not in info.stderr:
        return int(frames), float(seconds), None
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", os.fspath(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1",
                          "-ar", str(sample_rate), "-"], capture_output=True, check=True)
    return int(frames), float(seconds), len(out.stdout) / 2 / sample_rate


def save_mp4(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 30.0, audio: str | os.PathLike | None = None,
             crf: int = MP4_CRF, total: int | None = None, progress: bool = False, preset: str = MP4_PRESET) -> Path:
    """Write frames as H.264 MP4 (yuv420p, opens everywhere), muxing `audio` in sync when given; return the path.

    Frames are streamed to ffmpeg, so a long sequence never has to sit in memory. `preset` and `crf` are x264's
    (defaults `MP4_PRESET`, `MP4_CRF`: fast to encode; `preset="medium", crf=18` for a ~20 % smaller file).
    """
    preset, crf = check_encoder(preset, crf)
    if audio is not None and not Path(audio).is_file():
        raise AvatarInputError(f"audio file {str(audio)!r} not found: pass an existing file or no audio")
    # One encoder thread: the file is then a function of the frames alone. With x264's frame threads `veryfast`'s output
    # depended on the machine's load (2 of 14 runs under load differed from the same frames' serial file; none of 12 with
    # one thread), and one thread costs less CPU (0.82 against 0.86 s for 179 frames at 512 px) while the encoder stays
    # ~10x faster than the frames it is fed.
    codec = ["-c:v", "libx264", "-threads", "1", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
             "-movflags", "+faststart"]
    if audio is None:
        return _encode(frames, path, fps, codec, None, total, progress, even=True)
    # Video first, then the audio muxed to exactly its length (padded with silence or cut): streamed frames are
    # counted only at the end, and ffmpeg's -shortest both dropped the last frame (audio a little short) and let
    # short clips run on with audio (0.96 s of sound on a 0.5 s video).
    import tempfile

    with atomic_path(path) as tmp:
        fd, name = tempfile.mkstemp(prefix=f".{tmp.stem}.", suffix=".video.mp4", dir=tmp.parent)
        os.close(fd)
        video_only = Path(name)
        try:
            n = _stream(frames, video_only, fps, codec, total, progress, even=True, label=path)
            seconds = n / fps
            cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", os.fspath(video_only), "-i", os.fspath(audio),
                   "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", f"apad=whole_dur={seconds:.6f},atrim=end={seconds:.6f}",
                   "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart", os.fspath(tmp)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unknown error"
                raise OutputPathError(f"ffmpeg could not add the audio {str(audio)!r} to {str(path)!r}: {last}")
        finally:
            video_only.unlink(missing_ok=True)
    return Path(path)


def _encode(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float, codec: list[str], audio: str | os.PathLike | None,
            total: int | None, progress: bool, even: bool = False) -> Path:
    """Stream frames to ffmpeg with the output options `codec` into `path` (atomically); return the path."""
    with atomic_path(path) as tmp:
        _stream(frames, tmp, fps, codec, total, progress, even, audio, label=path)
    return Path(path)


def _stream(frames: Iterable[np.ndarray], out: Path, fps: float, codec: list[str], total: int | None, progress: bool,
            even: bool = False, audio: str | os.PathLike | None = None, label: str | os.PathLike | None = None) -> int:
    """Stream frames to ffmpeg writing `out` with the output options `codec`; return the number of frames written.

    `even` pads odd sizes by one pixel (H.264 in yuv420p needs even sizes) rather than fail; `label` is the
    path errors name (the user's, not a temp file's). Frames are
    produced on the calling thread (a GL renderer must stay on its own thread) and written to ffmpeg's
    stdin by a feeder thread through a short queue, so drawing frame t + 1 overlaps handing frame t to the
    encoder; the queue keeps their order and every frame (the count is checked before the file is kept).
    """
    from tqdm.auto import tqdm

    it = iter(frames)
    try:
        first = _check_frame(next(it))
    except StopIteration:
        raise AvatarInputError("no frames to write: the sequence is empty") from None
    h, w = first.shape[:2]
    pad = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"] if even and (h % 2 or w % 2) else []
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", f"{fps:g}", "-i", "-"]
    if audio is not None:
        cmd += ["-i", os.fspath(audio)]
    cmd += pad + codec + [os.fspath(out)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = _Feeder(proc)
    bar = tqdm(total=total, desc="encode", unit="frame", disable=not progress)
    sent = 0
    try:
        for f in _chain(first, it):
            img = _check_frame(f)
            if img.shape[:2] != (h, w):
                raise ShapeError(f"frame {sent} is {img.shape[1]}x{img.shape[0]}, the first was {w}x{h}: every frame must have one size")
            if not feeder.put(np.ascontiguousarray(img[..., :3]).tobytes()):
                break  # ffmpeg stopped reading: its own message is reported below
            sent += 1
            bar.update(1)
        feeder.close()
    except BaseException:
        feeder.abort()
        proc.kill()
        proc.wait()
        raise
    finally:
        bar.close()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0 or feeder.written != sent:
        last = err.strip().splitlines()[-1] if err.strip() else f"it took {feeder.written} of {sent} frames"
        raise OutputPathError(f"ffmpeg could not write {str(label or out)!r}: {last}")
    return sent


class _Feeder:
    """Writes frames to a subprocess's stdin from its own thread, through a queue of at most `depth` frames.

    `put` returns False once the process has stopped reading; `close` waits for every queued frame and closes
    stdin (ffmpeg then finishes the file); `written` counts the frames that reached the pipe.
    """

    def __init__(self, proc: subprocess.Popen, depth: int = 4) -> None:
        import queue
        import threading

        self.proc = proc
        self.written = 0
        self.broken = False
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="ffmpeg-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.proc.stdin is not None
        while True:
            data = self._queue.get()
            if data is None:
                break
            if self.broken:
                continue  # keep draining so a producer blocked on put() wakes up
            try:
                self.proc.stdin.write(data)
                self.written += 1
            except (BrokenPipeError, OSError):
                self.broken = True
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            self.broken = True

    def put(self, data: bytes) -> bool:
        """Queue one frame's bytes (blocks while the queue is full); return False when ffmpeg stopped reading."""
        if self.broken:
            return False
        self._queue.put(data)
        return True

    def close(self) -> None:
        """Send the end, wait until everything queued is written and stdin is closed."""
        self._queue.put(None)
        self._thread.join()

    def abort(self) -> None:
        """Stop without waiting for ffmpeg (the caller kills it): drop what is queued and end the thread."""
        self.broken = True
        while True:
            try:
                self._queue.get_nowait()
            except Exception:
                break
        self._queue.put(None)


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest


def save_frames(frames: np.ndarray | Iterable[np.ndarray], path: str | os.PathLike, fps: float = 30.0,
                audio: str | os.PathLike | None = None, total: int | None = None, progress: bool = False,
                preset: str = MP4_PRESET, crf: int = MP4_CRF) -> Path:
    """Write frames by suffix: .mp4 (with audio; x264 `preset` and `crf`), .gif, or .png/.jpg (a single frame); return
    the path."""
    suffix = Path(path).suffix.lower()
    if suffix == ".mp4":
        return save_mp4(frames, path, fps=fps, audio=audio, total=total, progress=progress, preset=preset, crf=crf)
    if suffix == ".gif":
        return save_gif(frames, path, fps=fps, total=total, progress=progress)
    if suffix in IMAGE_SUFFIXES:
        arr = np.asarray(frames) if isinstance(frames, np.ndarray) else np.stack(list(frames))
        if arr.ndim == 4:
            if len(arr) != 1:
                raise OutputPathError(f"{len(arr)} frames cannot go into one image {str(path)!r}: use .mp4 or .gif")
            arr = arr[0]
        return save_image(arr, path)
    raise OutputPathError(f"unsupported output type {suffix or '(none)'!r} for {str(path)!r}: use .png, .jpg, .gif or .mp4")
