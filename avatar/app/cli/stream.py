"""`emoavatar stream`: speech in (a file, raw 16-bit PCM on stdin, or the microphone), ARKit frames out live.

Outputs: JSON lines on stdout, Live Link Face UDP packets (`--livelink HOST[:PORT]`, Unreal) and VMC
protocol over OSC (`--vmc HOST[:PORT]`, VTuber apps with perfect sync); see docs/live.md. A file streamed
with `--realtime` sends each frame at its deadline on the audio's clock; Ctrl-C stops the stream and sends
a neutral frame (as does the end of the audio), so the receiving face comes to rest.

Frames come from `generators.speech.streaming.StreamingAnimator`: the neural path run
causally, with a fixed algorithmic latency (92.5 ms for the shipped model) printed to stderr at the start.
A JSON line: {"frame", "time", "timecode", "blendshapes": {52 names}, "head_pose": {...}, "emotion"}.
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
  arecord -f S16_LE -r 16000 -c 1 -t raw | emoavatar stream - --rate 16000
  emoavatar stream speech.wav --realtime --livelink 192.168.1.20 --subject emoavatar   # Unreal Live Link
  emoavatar stream --mic --vmc 127.0.0.1:39539                                      # VSeeFace / Warudo
"""


def _chunks_from_file(path: str, chunk_s: float):  # noqa: ANN202 - iterator of (samples, rate)
    from generators.speech.audio import load_audio

    clip = load_audio(path)  # read now, not on the first chunk: a paced stream's clock starts after this
    n = max(1, int(round(chunk_s * clip.sample_rate)))
    return ((clip.samples[i : i + n], clip.sample_rate) for i in range(0, len(clip.samples), n))


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


def _open_sinks(args: argparse.Namespace) -> list[Any]:
    """Return the live senders the flags name (Live Link, VMC), each aimed at its one resolved host; [] for none."""
    sinks: list[Any] = []
    if args.livelink is not None:
        from avatar.app.live import livelink
        from avatar.app.live.target import parse_target

        sinks.append(livelink.LiveLinkSender(parse_target(args.livelink, livelink.DEFAULT_PORT, "--livelink"), args.fps,
                                             subject=args.subject))
    if args.vmc is not None:
        from avatar.app.live import vmc
        from avatar.app.live.target import parse_target

        try:
            sinks.append(vmc.VMCSender(parse_target(args.vmc, vmc.DEFAULT_PORT, "--vmc"), args.fps))
        except BaseException:
            for s in sinks:
                s.close()
            raise
    return sinks


def _describe(sink: Any) -> str:
    kind = "Live Link" if type(sink).__name__.startswith("LiveLink") else "VMC"
    subject = f" (subject {sink.subject!r})" if kind == "Live Link" else ""
    return f"{kind} to {sink.udp.target}{subject}"


def cmd_stream(args: argparse.Namespace) -> int:
    from generators.speech.streaming import StreamingAnimator

    from avatar.app.live.pacing import Pacer

    if not 0.005 <= args.chunk_ms / 1000.0 <= 1.0:
        raise AvatarInputError(f"--chunk-ms must be between 5 and 1000, got {args.chunk_ms:g}")
    if args.intensity != "auto" and not 0.0 <= args.intensity <= 1.0:
        raise AvatarInputError(f"--intensity must be between 0 and 1 or 'auto', got {args.intensity:g}")
    if args.mic and args.audio is not None:
        raise AvatarInputError(f"give either a speech file ({args.audio!r}) or --mic, not both")
    if not args.mic and args.audio is None:
        raise AvatarInputError("no audio: give a speech file, - for raw PCM on stdin, or --mic for the microphone")
    chunk_s = args.chunk_ms / 1000.0
    sinks = _open_sinks(args)  # a bad HOST:PORT fails before the model loads
    try:
        live_source = args.mic or args.audio == "-"
        if args.mic:
            from avatar.app.live.microphone import microphone_chunks

            rate = args.rate
            chunks = microphone_chunks(rate, chunk_s, device=args.mic_device,
                                       log=lambda m: print(m, file=sys.stderr, flush=True))
        elif args.audio == "-":
            rate = args.rate
            chunks = _chunks_from_stdin(rate, chunk_s)
        else:
            from generators.speech.audio import SAMPLE_RATE

            rate = SAMPLE_RATE
            chunks = _chunks_from_file(args.audio, chunk_s)
        if args.mic:
            from avatar.app.live.microphone import find_microphone

            find_microphone(args.mic_device)  # no microphone: one line before the model loads
        anim = StreamingAnimator(args.model, fps=args.fps, emotion=args.emotion, intensity=args.intensity, seed=args.seed,
                                 life=args.life, sample_rate=rate)
        if sinks or args.realtime or live_source:
            from avatar.app.live.warmup import warm_up

            warm_up(anim)  # the first live frame must not pay for lazy imports
        where = "; sending " + ", ".join(_describe(s) for s in sinks) if sinks else ""
        print(f"emoavatar: streaming at {args.fps:g} fps, algorithmic latency {1000 * anim.latency_s:.1f} ms{where}",
              file=sys.stderr, flush=True)
        return _stream(args, anim, chunks, sinks, chunk_s, paced=args.realtime and not live_source, pacer_cls=Pacer)
    finally:
        for s in sinks:
            s.close()


def _stream(args: argparse.Namespace, anim: Any, chunks: Any, sinks: list[Any], chunk_s: float, paced: bool,
            pacer_cls: Any) -> int:
    """Return the exit code after pushing every chunk through `anim` and each frame to stdout and the sinks."""
    out = sys.stdout
    jsonl = args.jsonl if args.jsonl is not None else not sinks
    # Frames are held to their deadline on the audio clock: a frame at t leaves at start + t + latency + one
    # chunk (when the chunk holding t + latency has been heard), so the cadence stays even and never drifts.
    pacer = pacer_cls(delay=anim.latency_s + chunk_s)
    start = pacer.begin()
    pushed = 0.0

    def write(frames: list[Any]) -> None:
        for f in frames:
            if paced and sinks:
                pacer.wait(f.time)
            for s in sinks:
                s.send(f.index, f.weights, f.head_pose)
            if jsonl:
                out.write(f.to_json() + "\n")
        if frames and jsonl:
            out.flush()

    def rest() -> None:
        for s in sinks:
            s.neutral()

    try:
        for samples, r in chunks:
            if paced:
                # Pace a file like a live source: a chunk is only "heard" once its time has passed.
                wait = start + pushed + len(samples) / r - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            pushed += len(samples) / r
            write(anim.push(samples))
        write(anim.flush())
        rest()
    except BrokenPipeError:  # the consumer went away (e.g. `| head`): stop quietly
        rest()
        return 0
    except KeyboardInterrupt:
        rest()
        said = " and sent a neutral frame" if sinks else ""
        print(f"emoavatar: stopped (Ctrl-C){said}", file=sys.stderr, flush=True)
        return 130
    finally:
        for s in sinks:
            failed = f", {s.udp.failed} failed" if s.udp.failed else ""
            print(f"emoavatar: {s.sent} frames sent by {_describe(s)}{failed}", file=sys.stderr, flush=True)
    return 0


def register(sub: Any) -> None:
    """Add the stream subcommand to the CLI's subparsers."""
    from avatar.app.live import livelink, vmc

    p = sub.add_parser("stream", help="speech -> live ARKit frames, one JSON line per frame (file or stdin PCM)",
                       description="Stream ARKit blendshape frames from speech with the neural lip-sync path, "
                                   "causally, as the audio arrives.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="?", default=None,
                   help="speech file (WAV, FLAC, OGG, MP3), or - for raw 16-bit little-endian mono PCM on stdin")
    p.add_argument("--mic", action="store_true", help="listen to the microphone (needs emoavatar[live] and PortAudio)")
    p.add_argument("--mic-device", default=None, help="microphone name (part of it) or index (default: the system's input)")
    p.add_argument("--rate", type=positive_int, default=16000, help="sample rate of stdin PCM or the microphone (default 16000)")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=False,
                   help="pace a file as if it came from a microphone, frames sent on the audio's clock "
                        "(stdin and the microphone are paced by their source)")
    p.add_argument("--livelink", metavar="HOST[:PORT]", default=None,
                   help=f"send Live Link Face UDP packets to Unreal's Live Link (default port {livelink.DEFAULT_PORT})")
    p.add_argument("--subject", default=livelink.DEFAULT_SUBJECT, help=f"Live Link subject name (default {livelink.DEFAULT_SUBJECT})")
    p.add_argument("--vmc", metavar="HOST[:PORT]", default=None,
                   help=f"send VMC protocol (OSC) to a VTuber app with perfect sync (default port {vmc.DEFAULT_PORT}; needs emoavatar[live])")
    p.add_argument("--jsonl", action=argparse.BooleanOptionalAction, default=None,
                   help="print one JSON line per frame (default: on, off when --livelink or --vmc is given)")
    p.add_argument("--chunk-ms", type=float, default=20.0, help="audio chunk size in ms (default 20)")
    p.add_argument("--emotion", default="neutral", help=EMOTION_HELP)
    p.add_argument("--intensity", type=intensity_arg, default=1.0, help="emotion intensity 0..1 or 'auto' (follows vocal arousal)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks, gaze and head motion (default 0)")
    p.add_argument("--life", action=argparse.BooleanOptionalAction, default=True, help="blinks, gaze and head motion")
    p.add_argument("--model", default=None, help="checkpoint folder of a speech model (default: the shipped one)")
    p.set_defaults(func=cmd_stream)
