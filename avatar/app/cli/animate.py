"""`emoavatar animate`: speech audio in, an emotional talking head out (MP4 with the audio, CSV, GLB, NPZ, JSON)."""

from __future__ import annotations

import argparse
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import Any

from avatar.app.cli.common import EMOTION_HELP, add_look_args, add_video_args, add_workers_arg, intensity_arg
from avatar.errors import AvatarInputError
from avatar.validation import check_unit

EPILOG = """examples:
  emoavatar animate speech.wav --emotion happy --intensity 0.7 -o talk.mp4          # audio only
  emoavatar animate speech.wav --text "the words spoken" --emotion sad -o talk.mp4   # transcript-aligned
  emoavatar animate speech.wav --emotion happy --intensity auto --export talk.csv    # intensity follows the voice
  emoavatar animate speech.wav --emotion-track "0:neutral,1.5:anger@0.9,4:neutral" --export talk.csv --export talk.glb
"""

EXPORT_SUFFIXES = (".csv", ".npz", ".json", ".glb", ".gltf")


def cmd_animate(args: argparse.Namespace) -> int:
    import avatar.app.facade as P
    from avatar.app.cli.common import (appearance_from_args, camera_from_args, check_video_background, load_cli_head,
                                       parse_colour)
    from avatar.io.atomic import check_output_path

    if args.output is None and not args.export:
        raise AvatarInputError("nothing to write: give -o talk.mp4 and/or --export talk.csv")
    if args.intensity != "auto":
        check_unit(args.intensity, "intensity")
    if args.output is not None:
        if Path(args.output).suffix.lower() not in (".mp4", ".gif"):
            raise AvatarInputError(f"output {args.output!r} must be a video: use .mp4 (with audio) or .gif")
        check_video_background(parse_colour(args.background), args.output)
        check_output_path(args.output)
    for e in args.export:
        if Path(e).suffix.lower() not in EXPORT_SUFFIXES:
            raise AvatarInputError(f"--export {e!r}: use one of {', '.join(EXPORT_SUFFIXES)}")
        check_output_path(e)
    # Check the emotion settings before the (slower) audio work, so a typo fails at once.
    from generators.expression import expression_weights, parse_emotion_track

    expression_weights(emotion=args.emotion, intensity=1.0 if args.intensity == "auto" else args.intensity)
    if args.emotion_track:
        parse_emotion_track(args.emotion_track)
    text = args.text
    if args.text_file:
        if not Path(args.text_file).is_file():
            raise AvatarInputError(f"transcript file {args.text_file!r} not found")
        text = Path(args.text_file).read_text()
    from avatar.io.headfile import load_head
    from generators.speech.talking import resolve_method

    user_head = load_cli_head(args)
    # Lips are closed on, and exports carry, this head.
    head = load_head(None, identity=args.identity) if user_head is None else user_head.with_identity(args.identity)
    method = resolve_method(args.method, text)
    make_renderer = partial(P.get_renderer, user_head, args.identity, args.size, args.size, parse_colour(args.background),
                            args.skin, args.eyes, camera_from_args(args), appearance=appearance_from_args(args))
    # Frame ranges in several processes: forked now, so their imports and renderer set-up overlap the speech work.
    workers = None
    if args.output is not None:
        from renderers.workers import RenderWorkers, resolve_workers

        count = resolve_workers(args.workers, _expected_frames(args.audio, args.fps))
        workers = RenderWorkers(make_renderer, count) if count > 1 else None
    try:
        return _animate(args, P, text, head, method, make_renderer, workers)
    finally:
        if workers is not None:
            workers.close()


def _expected_frames(audio: str, fps: float) -> int | None:
    """Return the frames a clip will have, from its header (None where it cannot be read cheaply: the speech stage
    reads it properly and says what is wrong)."""
    try:
        import soundfile

        info = soundfile.info(str(audio))
        return int(info.frames / info.samplerate * fps)
    except Exception:
        return None


def _animate(args: argparse.Namespace, P: Any, text: str | None, head: Any, method: str, make_renderer: Any,
             workers: Any) -> int:
    """Return 0 after the speech animation of `cmd_animate` is made, exported and rendered (by `workers` if any)."""
    from avatar.app.cli.common import video_args, write_sequence_video
    from avatar.appearance import Appearance

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seq = P.animate(args.audio, text=text, emotion=args.emotion, intensity=args.intensity,
                        emotion_track=args.emotion_track, fps=args.fps, seed=args.seed, method=args.method, head=head)
    # Fallbacks (a transcript that does not match the audio, a head without lip landmarks) change the
    # result: say so, one line each, instead of hiding them in Python's warning format.
    for w in caught:
        print(f"emoavatar: warning: {str(w.message).splitlines()[0]}", file=sys.stderr)
    aligned = any("falling back to recognition" in str(w.message) for w in caught)
    from generators.speech.audio import NoSpeechWarning

    how = {"neural": "neural (the shipped audio-to-ARKit model)",
           "hybrid": "hybrid (the shipped model's mouth, closures from it and from decoded phones)" if not text or aligned
           else "hybrid (the shipped model's mouth, closures from the pocketsphinx alignment to the transcript)",
           "phonetic": "phonetic (phones recognised from the audio)" if not text or aligned
           else "phonetic (pocketsphinx alignment to the transcript)"}[method]
    if any(issubclass(w.category, NoSpeechWarning) for w in caught):
        how = "none (no speech in the audio: an idle face)"
    print(f"lip sync: {how}")
    print(f"animated {args.audio}: {len(seq)} frames at {seq.fps:g} fps ({seq.duration:.2f} s)")
    for e in args.export:
        glb = Path(e).suffix.lower() in (".glb", ".gltf")
        seq.save(e, **({"head": head, "appearance": Appearance(skin=args.skin, eyes=args.eyes)} if glb else {}))
        print(f"wrote {e}")
    if args.output is not None:
        write_sequence_video(workers if workers is not None else make_renderer(), seq, args.output, seq.audio, args.progress,
                             video_args(args))
        print(f"wrote {args.output}")
    return 0


def register(sub: Any) -> None:
    """Add the animate subcommand to the CLI's subparsers."""

    p = sub.add_parser("animate", help="speech audio -> emotional talking head (MP4 with audio, CSV, GLB)",
                       description="Animate the head from speech: lips from the phones (or the neural model), "
                                   "emotion on the whole face, blinks, gaze and head motion from a seed.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", help="speech audio: WAV, FLAC, OGG or MP3, any sample rate")
    p.add_argument("--text", default=None, help="the words spoken (aligns the phones: best lip sync)")
    p.add_argument("--text-file", default=None, help="read the transcript from a file")
    p.add_argument("--emotion", default="neutral", help=EMOTION_HELP)
    p.add_argument("--intensity", type=intensity_arg, default=1.0,
                   help="emotion intensity 0..1 (default 1), or 'auto': follows vocal arousal (loudness, pitch range, "
                        "rate; a prosody heuristic, not emotion recognition)")
    p.add_argument("--emotion-track", default=None, help='timed emotions, e.g. "0:neutral,1.5:anger@0.9,4:neutral"')
    p.add_argument("--method", default="auto", choices=("auto", "phonetic", "neural", "hybrid"),
                   help="lip-sync path: phonetic (pocketsphinx visemes), neural (shipped model), hybrid (the model's mouth "
                        "with closures at the aligned --text, or without it from the model and decoded phones), "
                        "auto (default: hybrid when pocketsphinx and the model are installed, else whichever is)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed for blinks, gaze and head motion (default 0)")
    p.add_argument("-o", "--output", default=None, help="video: .mp4 (audio muxed in) or .gif")
    p.add_argument("--export", action="append", default=[], help="also write the animation: .csv (Live Link Face), .glb, .npz, .json; repeatable")
    p.add_argument("--size", type=int, default=512, help="video size in pixels (default 512)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    add_workers_arg(p)
    add_video_args(p)
    add_look_args(p, transparent=False)
    p.set_defaults(func=cmd_animate)
