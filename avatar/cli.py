"""The `emoavatar` command line: render, sheet, env (and more subcommands as they land).

Bad input prints one line, `emoavatar: error: ...`, and exits with code 2; outputs are written
atomically, so a failed run never leaves a half-written file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from avatar.errors import AvatarInputError, SetupError

EPILOG_RENDER = """examples:
  emoavatar render --emotion happy --intensity 0.8 -o happy.png
  emoavatar render --aus AU1=0.6,AU4=0.8,AU15=0.7 --view three-quarter -o sad_aus.png
  emoavatar render --va 0.8,0.5 --identity 7 -o va.png
  emoavatar render --sequence anim.csv -o anim.mp4          # Live Link Face CSV, NPZ or JSON, at its fps
  emoavatar render --sequence anim.npz --audio speech.wav -o talk.mp4
"""

EPILOG_SHEET = """examples:
  emoavatar sheet -o sheet.png
  emoavatar sheet --emotions happy,sad,anger --intensities 0.5,1 --view three-quarter -o s.png
"""


def _parse_colour(text: str) -> tuple[float, float, float] | None:
    t = text.strip().lower()
    if t in ("transparent", "none"):
        return None
    named = {"white": "#ffffff", "black": "#000000", "grey": "#808080", "gray": "#808080", "green": "#00b140"}
    t = named.get(t, t)
    if t.startswith("#") and len(t) == 7:
        try:
            return tuple(int(t[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            pass
    parts = t.split(",")
    if len(parts) == 3:
        try:
            vals = tuple(float(p) for p in parts)
            if all(0 <= v <= 1 for v in vals):
                return vals  # type: ignore[return-value]
        except ValueError:
            pass
    raise AvatarInputError(f"background {text!r} is not a colour: use #rrggbb, r,g,b in 0..1, a name, or 'transparent'")


def _parse_va(text: str) -> tuple[float, float]:
    try:
        v, a = (float(x) for x in text.split(","))
    except ValueError:
        raise AvatarInputError(f"--va {text!r} is not 'valence,arousal': use two numbers in -1..1, e.g. --va 0.8,0.5") from None
    return v, a


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise AvatarInputError(f"{what} {text!r} is not a comma-separated list of numbers") from None


def _add_look_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("look")
    g.add_argument("--view", default="front", help="camera: front, three-quarter, profile (default: front)")
    g.add_argument("--yaw", type=float, default=None, help="camera yaw in degrees instead of --view (positive: subject's left)")
    g.add_argument("--identity", type=int, default=None, help="face identity seed from the 100 PCA modes (0 = generic head)")
    g.add_argument("--head", default=None, help="your own glTF/GLB/OBJ head with ARKit-named morph targets")
    g.add_argument("--skin", default="medium", help="skin tone: light, medium, tan, brown, dark (default: medium)")
    g.add_argument("--eyes", default="brown", help="eye colour: brown, blue, green, hazel, grey")
    g.add_argument("--background", default="#ebebf0", help="#rrggbb, r,g,b in 0..1, or 'transparent' (PNG only)")


def _view(args: argparse.Namespace) -> Any:
    from renderers.cameras import Camera

    return Camera.preset(yaw=args.yaw) if args.yaw is not None else Camera.preset(args.view)


def write_sequence_video(renderer: Any, seq: Any, out: str | Path, audio: str | None, progress: bool) -> None:
    """Render every frame of `seq` and stream it to `out` (.mp4 with `audio` muxed, or .gif), with a progress bar."""
    from tqdm.auto import tqdm

    from renderers.writers import save_frames

    frames = tqdm(renderer.iter_frames(seq.weights, seq.head_pose), total=len(seq), desc="render", unit="frame",
                  disable=not progress)
    save_frames(frames, out, fps=seq.fps, audio=audio if Path(out).suffix.lower() == ".mp4" else None, total=len(seq))


def cmd_render(args: argparse.Namespace) -> int:
    import numpy as np

    import avatar.pipeline as P
    from avatar.sequence import ExpressionSequence

    given = [x for x in (args.emotion, args.aus, args.va, args.sequence) if x is not None]
    if len(given) > 1:
        raise AvatarInputError("give only one of --emotion, --aus, --va, --sequence")
    if not 0.0 <= args.intensity <= 1.0:
        raise AvatarInputError(f"intensity {args.intensity:g} is outside [0, 1]: use a value between 0 and 1")
    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".gif", ".mp4"):
        raise AvatarInputError(f"output {str(out)!r} has an unsupported type: use .png, .jpg, .gif or .mp4")
    background = _parse_colour(args.background)
    if background is None and suffix not in (".png",):
        raise AvatarInputError("a transparent background needs a .png output")
    from avatar.io.atomic import check_output_path

    check_output_path(out)  # fail before any work on an unwritable path
    renderer = P.get_renderer(args.head, args.identity, args.width or args.size, args.height or args.size, background,
                              args.skin, args.eyes, _view(args))
    if args.sequence is not None:
        seq = ExpressionSequence.load(args.sequence)
        if args.fps is not None:
            seq = seq.resample(args.fps)
        if suffix in (".png", ".jpg", ".jpeg"):
            raise AvatarInputError("a sequence needs a video output: use -o anim.mp4 or anim.gif")
        write_sequence_video(renderer, seq, out, args.audio or seq.audio, args.progress)
        print(f"wrote {out} ({len(seq)} frames at {seq.fps:g} fps, {seq.duration:.2f} s)")
        return 0
    va = _parse_va(args.va) if args.va is not None else None
    weights = P.pose(emotion=args.emotion, intensity=args.intensity, aus=args.aus, va=va)
    img = renderer.render(weights)
    if suffix in (".gif", ".mp4"):
        from renderers.writers import save_frames

        fps = args.fps or 30.0
        save_frames(np.repeat(img[None], max(1, round(fps)), 0), out, fps=fps)  # one second of the still pose
    else:
        P.save_image(img, out)
    print(f"wrote {out}")
    return 0


def cmd_sheet(args: argparse.Namespace) -> int:
    import avatar.pipeline as P
    from avatar.io.atomic import check_output_path

    check_output_path(args.output)
    emotions = tuple(e.strip() for e in args.emotions.split(",")) if args.emotions else None
    if emotions:
        from avatar.emotion import normalize_emotion

        emotions = tuple(normalize_emotion(e) for e in emotions)
    img = P.contact_sheet(emotions=emotions, intensities=_floats(args.intensities, "--intensities"), cell=args.cell,
                          identity=args.identity, view=_view(args), skin=args.skin, head=args.head, progress=args.progress)
    P.save_image(img, args.output)
    print(f"wrote {args.output} ({img.shape[1]}x{img.shape[0]})")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    import platform
    from importlib import metadata

    print(f"emoavatar {_version()}  python {platform.python_version()}  {platform.system()} {platform.machine()}")
    for dist in ("numpy", "torch", "moderngl", "trimesh", "imageio-ffmpeg", "pillow", "librosa", "pocketsphinx",
                 "opencv-python-headless", "safetensors"):
        try:
            print(f"  {dist:24s} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            print(f"  {dist:24s} (not installed)")
    try:
        import torch

        cuda = torch.cuda.is_available()
        dev = f"cuda ({torch.cuda.get_device_name(0)})" if cuda else "cpu"
        print(f"torch device (auto): {dev}")
    except ImportError:
        print("torch device: torch not installed")
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl")
        print(f"GL renderer: {ctx.info['GL_RENDERER']} | {ctx.info['GL_VERSION']}")
        ctx.release()
    except Exception as e:  # report, don't fail: env is the command people run when GL is broken
        print(f"GL renderer: unavailable ({e}); install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri")
    try:
        from renderers.writers import ffmpeg_exe

        print(f"ffmpeg: {ffmpeg_exe()}")
    except Exception as e:
        print(f"ffmpeg: unavailable ({e})")
    return 0


def _version() -> str:
    from avatar import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `emoavatar` command."""
    parser = argparse.ArgumentParser(
        prog="emoavatar", description="Emotional avatars: pose, render, animate and score ARKit blendshape heads.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'emoavatar COMMAND --help' for a command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"emoavatar {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("render", help="render an emotion, AUs, valence/arousal or a sequence to PNG/GIF/MP4",
                       description="Render the head posed by an emotion, FACS action units, valence/arousal, or an "
                                   "animation file, to an image or a video.",
                       epilog=EPILOG_RENDER, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("what to render (one of)")
    src.add_argument("--emotion", help="neutral, happy, sad, surprise, fear, disgust, anger, contempt")
    src.add_argument("--aus", help="action units, e.g. AU1=0.6,AU4=0.8,AU15=0.7 (intensities 0..1; R12/L12 for one side)")
    src.add_argument("--va", help="valence,arousal in -1..1, e.g. 0.8,0.5")
    src.add_argument("--sequence", help="animation file: Live Link Face .csv, .npz or .json")
    p.add_argument("--intensity", type=float, default=1.0, help="emotion intensity 0..1 (default 1)")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .jpg, .gif or .mp4")
    p.add_argument("--size", type=int, default=512, help="square image size in pixels (default 512)")
    p.add_argument("--width", type=int, default=None, help="image width (overrides --size)")
    p.add_argument("--height", type=int, default=None, help="image height (overrides --size)")
    p.add_argument("--fps", type=float, default=None, help="resample the sequence to this frame rate (default: its own)")
    p.add_argument("--audio", default=None, help="audio file to mux into an MP4")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    _add_look_args(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("sheet", help="contact sheet: emotions x intensities, labelled",
                       description="Render a labelled grid: one row per emotion, one column per intensity.",
                       epilog=EPILOG_SHEET, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    p.add_argument("--emotions", default=None, help="comma-separated emotions (default: all 8)")
    p.add_argument("--intensities", default="0.33,0.66,1.0", help="comma-separated intensities (default 0.33,0.66,1.0)")
    p.add_argument("--cell", type=int, default=256, help="size of each face in pixels (default 256)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    _add_look_args(p)
    p.set_defaults(func=cmd_sheet)

    p = sub.add_parser("env", help="print versions, the GL renderer and the torch device",
                       description="Print package versions, the OpenGL renderer string and the torch device.")
    p.set_defaults(func=cmd_env)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


# Later subcommands (score, animate, fidelity, ...) register themselves here from their modules.
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def _load_extra_commands() -> None:
    import importlib

    for name in ("avatar.cli_score", "avatar.cli_animate"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        reg = getattr(mod, "register", None)
        if reg is not None and reg not in _EXTRA_COMMANDS:
            _EXTRA_COMMANDS.append(reg)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 bad input, 1 other failure)."""
    _load_extra_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AvatarInputError as e:
        print(f"emoavatar: error: {e}", file=sys.stderr)
        return 2
    except SetupError as e:
        print(f"emoavatar: setup error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        if "pip install" not in str(e):  # a real bug: keep the traceback
            raise
        print(f"emoavatar: setup error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("emoavatar: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
