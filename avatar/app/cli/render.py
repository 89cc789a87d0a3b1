"""`emoavatar render`: an emotion, AUs, valence/arousal or an animation file to PNG/JPEG/GIF/MP4."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

from avatar.app.cli.common import (
    EMOTION_HELP,
    add_look_args,
    add_video_args,
    add_workers_arg,
    appearance_from_args,
    camera_from_args,
    check_video_background,
    load_cli_head,
    parse_colour,
    parse_va,
    video_args,
    write_sequence_video,
)
from avatar.errors import AvatarInputError
from avatar.validation import check_unit

EPILOG = """examples:
  emoavatar render --emotion happy --intensity 0.8 -o happy.png
  emoavatar render --aus AU1=0.6,AU4=0.8,AU15=0.7 --view three-quarter -o sad_aus.png
  emoavatar render --va 0.8,0.5 --identity 7 -o va.png
  emoavatar render --sequence anim.csv -o anim.mp4          # Live Link Face CSV, NPZ or JSON, at its fps
  emoavatar render --sequence anim.npz --audio speech.wav -o talk.mp4
  emoavatar render --sequence frames.jsonl --audio speech.wav -o talk.mp4   # what `emoavatar stream` wrote
  emoavatar render --emotion joy --head myhead.glb --allow-missing -o mine.png   # a head without every ARKit shape
"""


def cmd_render(args: argparse.Namespace) -> int:
    import numpy as np

    import avatar.app.facade as P
    from avatar.sequence import ExpressionSequence

    given = [x for x in (args.emotion, args.aus, args.va, args.sequence) if x is not None]
    if len(given) > 1:
        raise AvatarInputError("give only one of --emotion, --aus, --va, --sequence")
    if not given:
        # Silently drawing the neutral face looked like a bug; neutral is one flag away.
        raise AvatarInputError("nothing to render: pass --emotion, --aus, --va or --sequence (for the resting face: --emotion neutral)")
    check_unit(args.intensity, "intensity")
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".gif", ".mp4"):
        raise AvatarInputError(f"output {str(out)!r} has an unsupported type: use .png, .jpg, .gif or .mp4")
    background = parse_colour(args.background)
    if suffix in (".gif", ".mp4"):
        check_video_background(background, out)
    elif background is None and suffix != ".png":
        raise AvatarInputError(f"a transparent background needs a .png output, not {suffix!r}: use -o {out.stem}.png")
    from avatar.io.atomic import check_output_path

    check_output_path(out)  # fail before any work on an unwritable path
    make_renderer = partial(P.get_renderer, load_cli_head(args), args.identity, args.width or args.size,
                            args.height or args.size, background, args.skin, args.eyes, camera_from_args(args),
                            appearance=appearance_from_args(args))
    if args.sequence is not None:
        seq = ExpressionSequence.load(args.sequence, fps=args.fps)
        if suffix in (".png", ".jpg", ".jpeg"):
            raise AvatarInputError("a sequence needs a video output: use -o anim.mp4 or anim.gif")
        from renderers.workers import RenderWorkers, resolve_workers

        # Frame ranges in several processes (forked before this process makes a GL context), in order to one encoder.
        count = resolve_workers(args.workers, len(seq))
        with (RenderWorkers(make_renderer, count) if count > 1 else nullcontext()) as workers:
            write_sequence_video(workers or make_renderer(), seq, out, args.audio or seq.audio, args.progress, video_args(args))
        print(f"wrote {out} ({len(seq)} frames at {seq.fps:g} fps, {seq.duration:.2f} s)")
        return 0
    renderer = make_renderer()
    va = parse_va(args.va) if args.va is not None else None
    weights = P.pose(emotion=args.emotion, intensity=args.intensity, aus=args.aus, va=va)
    img = renderer.render(weights)
    if suffix in (".gif", ".mp4"):
        from renderers.writers import save_frames

        fps = args.fps or 30.0
        save_frames(np.repeat(img[None], max(1, round(fps)), 0), out, fps=fps, **video_args(args))  # one second of the still pose
    else:
        P.save_image(img, out)
    print(f"wrote {out}")
    return 0


def register(sub: Any) -> None:
    """Add the render subcommand to the CLI's subparsers."""
    p = sub.add_parser("render", help="render an emotion, AUs, valence/arousal or a sequence to PNG/GIF/MP4",
                       description="Render the head posed by an emotion, FACS action units, valence/arousal, or an "
                                   "animation file, to an image or a video.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to render (one of)")
    src.add_argument("--emotion", help=EMOTION_HELP)
    src.add_argument("--aus", help="action units, e.g. AU1=0.6,AU4=0.8,AU15=0.7 (intensities 0..1; R12/L12 for one side)")
    src.add_argument("--va", help="valence,arousal in -1..1, e.g. 0.8,0.5")
    src.add_argument("--sequence", help="animation file: Live Link Face .csv, .npz, .json, or `emoavatar stream`'s .jsonl")
    p.add_argument("--intensity", type=float, default=1.0, help="emotion intensity 0..1 (default 1)")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .jpg, .gif or .mp4")
    p.add_argument("--size", type=int, default=512, help="square image size in pixels (default 512)")
    p.add_argument("--width", type=int, default=None, help="image width (overrides --size)")
    p.add_argument("--height", type=int, default=None, help="image height (overrides --size)")
    p.add_argument("--fps", type=float, default=None, help="resample the sequence to this frame rate (default: its own)")
    p.add_argument("--audio", default=None, help="audio file to mux into an MP4")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    add_workers_arg(p)
    add_video_args(p)
    add_look_args(p)
    p.set_defaults(func=cmd_render)
