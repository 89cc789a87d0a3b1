"""`emoavatar stream`: speech in (a file, or raw 16-bit PCM on stdin), one JSON line per ARKit frame out, live.

Each line: {"frame", "time", "timecode", "blendshapes": {52 ARKit names: weight}, "head_pose": {pitch, yaw,
roll (radians), tx, ty, tz (cm)}, "emotion"}, what a live avatar (Live Link bridges, three.js, a web socket
relay) consumes. Frames come from `generators.speech.streaming.StreamingAnimator`: the neural path run
causally, with a fixed algorithmic latency (92.5 ms for the shipped model) printed to stderr at the start.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from avatar.app.cli.common import EMOTION_HELP, intensity_arg, positive_int
from avatar.errors import AvatarInputError

EPILOG = """examples:
  emoavatar stream speech.wav --realtime                       # paced like a live microphone
  emoavatar stream speech.wav --emotion happy --intensity auto > frames.jsonl
  arecord -f S16_LE -r 16000 -c 1 -t raw | emoavatar stream - --rate 16000 --realtime
"""


def _chunks_from_file(path: str, chunk_s: float):  # noqa: ANN202 - generator of (samples, rate)
    from generators.speech.audio import load_audio

    clip = load_audio(path)
    n = max(1, int(round(chunk_s * clip.sample_rate)))
    for i in range(0, len(clip.samples), n):
        yield clip.samples[i : i + n], clip.sample_rate


def _chunks_from_stdin(rate: int, chunk_s: float):  # noqa: ANN202 - generator of (samples, rate)
    import numpy as np

    n = max(1, int(round(chunk_s * rate))) * 2
    stream = sys.stdin.buffer
    carry = b""
    while True:
        data = stream.read(n)
        if not data:
            break
        data = carry + data
        cut = len(data) - len(data) % 2  # a read may end mid-sample
        carry = data[cut:]
        yield np.frombuffer(data[:cut], dtype="<i2").astype(np.float32) / 32768.0, rate


def cmd_stream(args: argparse.Namespace) -> int:
    from generators.speech.streaming import StreamingAnimator

    if not 0.005 <= args.chunk_ms / 1000.0 <= 1.0:
        raise AvatarInputError(f"--chunk-ms must be between 5 and 1000, got {args.chunk_ms:g}")
    if args.intensity != "auto" and not 0.0 <= args.intensity <= 1.0:
        raise AvatarInputError(f"--intensity must be between 0 and 1 or 'auto', got {args.intensity:g}")
    chunk_s = args.chunk_ms / 1000.0
    if args.audio == "-":
        rate = args.rate
        chunks = _chunks_from_stdin(rate, chunk_s)
    else:
        from generators.speech.audio import SAMPLE_RATE

        rate = SAMPLE_RATE
        chunks = _chunks_from_file(args.audio, chunk_s)
    anim = StreamingAnimator(args.model, fps=args.fps, emotion=args.emotion, intensity=args.intensity, seed=args.seed,
                             life=args.life, sample_rate=rate)
    print(f"emoavatar: streaming at {args.fps:g} fps, algorithmic latency {1000 * anim.latency_s:.1f} ms", file=sys.stderr)
    out = sys.stdout
    start = time.perf_counter()
    pushed = 0.0

    def write(frames: list[Any]) -> None:
        for f in frames:
            out.write(f.to_json() + "\n")
        if frames:
            out.flush()

    try:
        for samples, r in chunks:
            if args.realtime and args.audio != "-":
                # Pace a file like a live source: a chunk is only "heard" once its time has passed.
                wait = start + pushed + len(samples) / r - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            pushed += len(samples) / r
            write(anim.push(samples))
        write(anim.flush())
    except BrokenPipeError:  # the consumer went away (e.g. `| head`): stop quietly
        return 0
    return 0


def register(sub: Any) -> None:
    """Add the stream subcommand to the CLI's subparsers."""
    p = sub.add_parser("stream", help="speech -> live ARKit frames, one JSON line per frame (file or stdin PCM)",
                       description="Stream ARKit blendshape frames from speech with the neural lip-sync path, "
                                   "causally, as the audio arrives.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", help="speech file (WAV, FLAC, OGG, MP3), or - for raw 16-bit little-endian mono PCM on stdin")
    p.add_argument("--rate", type=positive_int, default=16000, help="sample rate of stdin PCM (default 16000)")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=False,
                   help="pace a file as if it came from a microphone (stdin is paced by its writer)")
    p.add_argument("--chunk-ms", type=float, default=20.0, help="audio chunk size in ms (default 20)")
    p.add_argument("--emotion", default="neutral", help=EMOTION_HELP)
    p.add_argument("--intensity", type=intensity_arg, default=1.0, help="emotion intensity 0..1 or 'auto' (follows vocal arousal)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks, gaze and head motion (default 0)")
    p.add_argument("--life", action=argparse.BooleanOptionalAction, default=True, help="blinks, gaze and head motion")
    p.add_argument("--model", default=None, help="checkpoint folder of a speech model (default: the shipped one)")
    p.set_defaults(func=cmd_stream)
