"""The CLI's shared argument parsers and helpers: colours, number lists, emotions, the look options, the camera, heads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from avatar.emotion import EMOTIONS, SYNONYMS
from avatar.errors import AvatarInputError


def _aliases() -> str:
    """Return a few accepted synonyms per label, for --help ("joy/smile=happy, angry/mad=anger, ...")."""
    by_label: dict[str, list[str]] = {}
    for alias, label in SYNONYMS.items():
        by_label.setdefault(label, []).append(alias)
    return ", ".join(f"{'/'.join(sorted(by_label[e], key=len)[:2])}={e}" for e in EMOTIONS if e in by_label)


EMOTION_HELP = f"{', '.join(EMOTIONS)} (synonyms accepted: {_aliases()})"
"""The --help text of every emotion option: the eight labels and the synonyms that map onto them."""


def positive_int(text: str) -> int:
    """Return `text` as a whole number >= 1 (an argparse type: a bad value is a one-line usage error)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: use 1 or more") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: use a whole number >= 1")
    return n


def parse_emotions(text: str) -> tuple[str, ...]:
    """Return the canonical emotions of a comma-separated list, each once (a synonym of one already listed is dropped, with a note)."""
    from avatar.emotion import normalize_emotion

    out: list[str] = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        label = normalize_emotion(raw)
        if label in out:
            said = f"{raw!r} is {label!r}, " if raw.lower() != label else ""
            print(f"emoavatar: note: {said}{label!r} is listed already; drawn once", file=sys.stderr)
            continue
        out.append(label)
    if not out:
        raise AvatarInputError(f"--emotions {text!r} names no emotion: use e.g. happy,sad,anger")
    return tuple(out)


def load_cli_head(args: argparse.Namespace) -> Any:
    """Return the head --head names, loaded once, with --brow-lowerer's strength (None: the shipped head at its
    default); errors name --allow-missing.

    --identity is applied where the head is used (the session's renderer, `with_identity`), not here.
    """
    strength = getattr(args, "brow_lowerer", None)
    if args.head is None and strength is None:
        return None
    from avatar.io.headfile import load_head

    try:
        return load_head(args.head, allow_missing=args.allow_missing, brow_lowerer=strength)
    except AvatarInputError as e:
        # The loader speaks Python (allow_missing=True); on the command line the fix is a flag.
        raise type(e)(str(e).replace("pass allow_missing=True", "pass --allow-missing")) from None


def check_video_background(background: tuple[float, float, float] | None, output: str | Path) -> None:
    """Raise when a video output is asked for a transparent background (MP4 and GIF have no alpha here)."""
    if background is None:
        raise AvatarInputError(f"a transparent background needs a .png output, not {Path(output).suffix or str(output)!r}: "
                               "for video use a colour, e.g. --background '#00b140' (a green screen to key out)")


def parse_colour(text: str | None) -> tuple[float, float, float] | None:
    """Return an RGB triple in 0..1 from #rrggbb, r,g,b, a colour name, or None for 'transparent' (`avatar.validation.parse_colour`).

    `text` None (the --background default) is `avatar.constants.DEFAULT_BACKGROUND`, the one default every interface reads.
    """
    from avatar.validation import parse_colour as parse

    return parse(text)


def parse_va(text: str) -> tuple[float, float]:
    """Return (valence, arousal) from 'v,a'."""
    try:
        v, a = (float(x) for x in text.split(","))
    except ValueError:
        raise AvatarInputError(f"--va {text!r} is not 'valence,arousal': use two numbers in -1..1, e.g. --va 0.8,0.5") from None
    return v, a


def floats(text: str, what: str) -> tuple[float, ...]:
    """Return the numbers of a comma-separated list; `what` names the option in the error."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise AvatarInputError(f"{what} {text!r} is not a comma-separated list of numbers") from None


def add_look_args(p: argparse.ArgumentParser, transparent: bool = True) -> None:
    """Add the look options (view, yaw, identity, head, allow-missing, skin, eyes, background) to a subcommand.

    `transparent` False leaves 'transparent' out of --background's help (video-only commands cannot give it).
    """
    g = p.add_argument_group("look")
    add_view_arg(g)
    g.add_argument("--identity", type=identity_arg, default=None, help="face identity seed from the 100 PCA modes (0 = generic head)")
    g.add_argument("--head", default=None, help="your own glTF/GLB/OBJ head with ARKit-named morph targets")
    g.add_argument("--allow-missing", action="store_true", help="accept a --head that lacks some ARKit shapes (they stay still)")
    add_brow_lowerer_arg(g)
    g.add_argument("--skin", default="medium", help="skin tone: light, medium, tan, brown, dark (default: medium)")
    g.add_argument("--eyes", default="brown", help="eye colour: brown, blue, green, hazel, grey")
    g.add_argument("--background", default=None,
                   help=("#rrggbb, r,g,b in 0..1, a name (white, black, grey, green), or 'transparent' (PNG only)" if transparent
                         else "#rrggbb, r,g,b in 0..1, or a name (white, black, grey, green)") + "; default: light grey")
    add_shading_args(p)


def brow_lowerer_arg(text: str) -> float:
    """Return a brow lowerer strength in 0..2 (an argparse type: a bad value is a one-line usage error)."""
    from avatar.brow_lowerer import check_brow_lowerer

    try:
        return float(check_brow_lowerer(text, "strength"))  # type: ignore[arg-type]
    except AvatarInputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_brow_lowerer_arg(p: Any, batch: bool = False, from_render: bool = False) -> None:
    """Add --brow-lowerer STRENGTH: the corrective AU4 brow lowerer on the head's browDown (`avatar.brow_lowerer`);
    `batch`: the strength of the jobs whose line gives none; `from_render`: portrait's start render."""
    from avatar.brow_lowerer import BROW_LOWERER, BROW_LOWERER_MAX

    where = ("for jobs whose line has no brow_lowerer; default" if batch
             else "with --from-render, the start render's head; default" if from_render else "default")
    p.add_argument("--brow-lowerer", type=brow_lowerer_arg, default=None, metavar="STRENGTH",
                   help=f"strength 0..{BROW_LOWERER_MAX:g} of the corrective AU4 brow lowerer that draws the inner brows "
                        f"together (0 = ICT's own browDown; {where} {BROW_LOWERER:g} on the shipped head"
                        + ("" if batch or from_render else ", none on a --head") + ")")


def add_shading_args(p: argparse.ArgumentParser) -> None:
    """Add the renderer's shading switches (--no-cavity, --no-wrinkles, --mouth-shadow, --catch-lights and the skin's
    --no-skin-detail, --no-skin-regions, --no-subsurface, --no-ambient-occlusion, --shadows, the mouth's and eyes'
    --no-teeth-shade, --mouth-interior, --eye-detail) and the hair, brow and clothing
    options (--no-hair, --hair-style, --hair-colour, --no-brow-shell, --no-clothing, --clothing-colour); read them with
    `appearance_from_args`."""
    from avatar.appearance import (CLOTHING_COLOUR_DEFAULT, CLOTHING_COLOURS, HAIR_COLOUR_DEFAULT, HAIR_COLOURS, HAIR_STYLE_DEFAULT,
                                   HAIR_STYLES)

    s = p.add_argument_group("shading (the defaults read best to judges that never chose them: docs/legibility.md)")
    s.add_argument("--no-cavity", action="store_true",
                   help="do not darken the skin in folds and hollows (~17%% faster frames on a CPU rasterizer)")
    s.add_argument("--no-wrinkles", action="store_true", help="no expression lines (forehead, frown, crow's feet, folds)")
    s.add_argument("--mouth-shadow", action="store_true", help="darken the inside of an open mouth with depth")
    s.add_argument("--catch-lights", action="store_true", help="a highlight of the key light on each cornea")
    s.add_argument("--no-skin-detail", action="store_true", help="smooth skin: no pores or fine lines")
    s.add_argument("--no-skin-regions", action="store_true", help="one highlight everywhere (no oily T-zone, rough cheeks, glossy lips)")
    s.add_argument("--no-subsurface", action="store_true", help="no red-shifted light in thin skin (ears, nose wings, eyelids)")
    s.add_argument("--no-ambient-occlusion", action="store_true", help="no baked occlusion under the chin, in the nostrils, behind the ears")
    s.add_argument("--shadows", action="store_true",
                   help="soft cast shadows from the key light (off by default: the held-out judge read worse with them)")
    s.add_argument("--no-hair", action="store_true", help="a bald head (no hair geometry)")
    s.add_argument("--hair-style", default=HAIR_STYLE_DEFAULT, help=f"hair style: {', '.join(HAIR_STYLES)} (default: {HAIR_STYLE_DEFAULT})")
    s.add_argument("--hair-colour", default=HAIR_COLOUR_DEFAULT,
                   help=f"hair colour: {', '.join(HAIR_COLOURS)} (default: {HAIR_COLOUR_DEFAULT})")
    s.add_argument("--no-brow-shell", action="store_true", help="painted brows only (no raised brow shell)")
    s.add_argument("--no-clothing", action="store_true", help="the neck's bare cut instead of a crew-neck top")
    s.add_argument("--clothing-colour", default=CLOTHING_COLOUR_DEFAULT,
                   help=f"clothing colour: {', '.join(CLOTHING_COLOURS)} (default: {CLOTHING_COLOUR_DEFAULT})")
    s.add_argument("--no-teeth-shade", action="store_true",
                   help="light every tooth as if in the open, instead of in the mouth's shade following the lips each "
                        "frame (the default: no bright canines at an open mouth's corners, no lit far tooth at "
                        "three-quarter)")
    s.add_argument("--mouth-interior", action="store_true",
                   help="light the inside of the mouth through the lips' opening: shaded teeth, a dark (not black) cavity")
    s.add_argument("--eye-detail", action="store_true", help="iris fibres and limbal ring, a dark pupil, a wet line at the lower lids")


def appearance_from_args(args: argparse.Namespace) -> Any:
    """Return the Appearance that the shading flags of `add_look_args` ask for (colours come from --skin/--eyes)."""
    from avatar.appearance import Appearance

    return Appearance(cavity=not args.no_cavity, wrinkles=not args.no_wrinkles, mouth_shadow=args.mouth_shadow,
                      catch_lights=args.catch_lights, skin_detail=not args.no_skin_detail, skin_regions=not args.no_skin_regions,
                      subsurface=not args.no_subsurface, ambient_occlusion=not args.no_ambient_occlusion,
                      shadows=args.shadows, hair=not args.no_hair, hair_style=args.hair_style,
                      hair_colour=args.hair_colour, brow_shell=not args.no_brow_shell, clothing=not args.no_clothing,
                      clothing_colour=args.clothing_colour, mouth_interior=args.mouth_interior,
                      teeth_shade=not args.no_teeth_shade, eye_detail=args.eye_detail)


def camera_from_args(args: argparse.Namespace) -> Any:
    """Return the Camera that --view (or its shorthand --yaw) names."""
    from renderers.cameras import resolve_camera

    return resolve_camera(args.view)


def crf_arg(text: str) -> int:
    """Return an x264 crf, a whole number 0..51 (an argparse type for --crf)."""
    from renderers.writers import MP4_PRESET, check_encoder

    try:
        return check_encoder(MP4_PRESET, int(text))[1]
    except (ValueError, AvatarInputError):
        raise argparse.ArgumentTypeError(f"{text!r}: use a whole number 0..51 (lower is better quality and a larger file)") from None


def add_video_args(p: Any) -> None:
    """Add --x264-preset and --crf: how an .mp4 is encoded (`video_args` reads them)."""
    from renderers.writers import MP4_CRF, MP4_PRESET, X264_PRESETS

    v = p.add_argument_group("MP4 encoding (x264)")
    v.add_argument("--x264-preset", default=MP4_PRESET, choices=X264_PRESETS, metavar="PRESET",
                   help=f"encoder speed against file size: {', '.join(X264_PRESETS)} (default {MP4_PRESET}: fast to "
                        f"encode; 'medium' with --crf 18 gives the same quality in a ~20%% smaller file)")
    v.add_argument("--crf", type=crf_arg, default=MP4_CRF,
                   help=f"quality 0..51, lower is better and larger (default {MP4_CRF})")


def video_args(args: argparse.Namespace) -> dict[str, Any]:
    """Return the save_frames keywords (preset, crf) that `add_video_args`' options ask for."""
    return {"preset": args.x264_preset, "crf": args.crf}


def write_sequence_video(renderer: Any, seq: Any, out: str | Path, audio: str | None, progress: bool,
                         encoding: dict[str, Any] | None = None) -> None:
    """Render every frame of `seq` and stream it to `out` (.mp4 with `audio` muxed, or .gif), with a progress bar.

    `renderer` is a GLRenderer, or `renderers.workers.RenderWorkers` (frame ranges rendered in several processes,
    handed to the one encoder in order: the same frames). `encoding`: the MP4's x264 preset and crf (`video_args`)."""
    from tqdm.auto import tqdm

    from renderers.writers import save_frames

    split = getattr(renderer, "frames", None)
    source = split(seq.weights, seq.head_pose) if split is not None else renderer.iter_frames(seq.weights, seq.head_pose)
    frames = tqdm(source, total=len(seq), desc="render", unit="frame", disable=not progress)
    save_frames(frames, out, fps=seq.fps, audio=audio if Path(out).suffix.lower() == ".mp4" else None, total=len(seq),
                **(encoding or {}))


def workers_arg(text: str) -> int | str:
    """Return 'auto' or a whole number >= 1 (an argparse type for --workers)."""
    from renderers.workers import parse_workers

    try:
        return parse_workers(text)
    except AvatarInputError as e:
        raise argparse.ArgumentTypeError(str(e).replace("workers must", "must")) from None


def add_workers_arg(p: Any) -> None:
    """Add --workers: how many processes render a video's frames (animate, render --sequence)."""
    from renderers.workers import MIN_SPLIT_FRAMES

    p.add_argument("--workers", type=workers_arg, default="auto", metavar="N",
                   help="processes that render the video's frames, each with its own renderer, in order into one "
                        f"encoder (the same frames as 1); 'auto' (default): 2 on a machine with 2+ cores for clips "
                        f"of {MIN_SPLIT_FRAMES}+ frames, else 1")


def intensity_arg(text: str) -> float | str:
    """Return 'auto' or the intensity as a float (an argparse type for --intensity where 'auto' is allowed)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: use 0..1 or 'auto'") from None


VIEW_HELP = "a preset (front, three-quarter, profile) or a yaw in degrees, e.g. 20 or yaw=20 (positive: the subject's left)"
"""The --help text of every view option (`avatar.views` reads them)."""


def identity_arg(text: str) -> int:
    """Return one identity seed (an argparse type; "7.9" is a one-line usage error, not 7)."""
    from avatar.validation import parse_identities

    try:
        seeds = parse_identities(text, "identity")
    except AvatarInputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if len(seeds) != 1:
        raise argparse.ArgumentTypeError(f"identity {text!r} names {len(seeds)} seeds: give one (lists go to --identities)")
    return seeds[0]


class _YawAction(argparse.Action):
    """--yaw N: shorthand for --view N (stored in the same place, so the later of the two wins)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, f"yaw={values}")


def add_view_arg(p: Any, default: str = "front") -> None:
    """Add --view VIEW and its shorthand --yaw DEGREES (both land in `args.view`; `camera_from_args` reads it)."""
    p.add_argument("--view", default=default, help=f"camera view: {VIEW_HELP} (default: {default})")
    p.add_argument("--yaw", dest="view", action=_YawAction, metavar="DEGREES", help="shorthand for --view DEGREES")


class RenamedOption(argparse.Action):
    """An old spelling of an option: stores into the new option's place and prints one line naming the new spelling."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"emoavatar: warning: {option_string} is now {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed(p: Any, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept `old` (hidden from --help) as a deprecated spelling of option `new`, storing into `dest`."""
    p.add_argument(old, dest=dest, action=RenamedOption, new=new, help=argparse.SUPPRESS, **kwargs)


def add_judge_arg(p: Any, default: str | None, several: bool = False, old: tuple[str, ...] = (), help: str | None = None) -> None:
    """Add --judge: the recognizer that grades (a name; with `several`, a comma list). `old` spellings still work.

    Read the value with `avatar.app.judges.parse_judges` (names checked, aliases resolved).
    """
    from avatar.app.judges import RECOGNIZERS

    what = "comma-separated recognizers that grade" if several else "the recognizer that grades"
    text = help or f"{what}: {', '.join(RECOGNIZERS)}" + (f" (default {default})" if default else "")
    p.add_argument("--judge", default=default, metavar="NAMES" if several else "NAME", help=text)
    for o in old:
        add_renamed(p, o, "--judge", "judge")
