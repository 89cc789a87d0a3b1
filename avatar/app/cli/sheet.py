"""`emoavatar sheet`: a labelled contact sheet of emotions x intensities."""

from __future__ import annotations

import argparse
from typing import Any

from avatar.app.cli.common import (EMOTION_HELP, add_judge_arg, add_look_args, appearance_from_args, camera_from_args, floats, load_cli_head,
                                   parse_emotions)

EPILOG = """examples:
  emoavatar sheet -o sheet.png
  emoavatar sheet --emotions happy,sad,anger --intensities 0.5,1 --view three-quarter -o s.png
  emoavatar sheet --judge fer2013 --prototypes refined -o judged.png   # each face's top label and probability
"""



def cmd_sheet(args: argparse.Namespace) -> int:
    import avatar.app.facade as P
    from avatar.app.judges import judge_name
    from avatar.io.atomic import check_output_path

    check_output_path(args.output)
    emotions = parse_emotions(args.emotions) if args.emotions else None  # synonyms of one label: one row
    img = P.contact_sheet(emotions=emotions, intensities=floats(args.intensities, "--intensities"), cell=args.cell,
                          identity=args.identity, view=camera_from_args(args), skin=args.skin, head=load_cli_head(args), progress=args.progress,
                          judge=None if args.judge is None else judge_name(args.judge), prototypes=args.prototypes, appearance=appearance_from_args(args))
    P.save_image(img, args.output)
    print(f"wrote {args.output} ({img.shape[1]}x{img.shape[0]})")
    return 0


def register(sub: Any) -> None:
    """Add the sheet subcommand to the CLI's subparsers."""
    p = sub.add_parser("sheet", help="contact sheet: emotions x intensities, labelled",
                       description="Render a labelled grid: one row per emotion, one column per intensity.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    p.add_argument("--emotions", default=None, help=f"comma-separated emotions (default: all 8): {EMOTION_HELP}")
    p.add_argument("--intensities", default="0.33,0.66,1.0", help="comma-separated intensities (default 0.33,0.66,1.0)")
    p.add_argument("--cell", type=int, default=256, help="size of each face in pixels (default 256)")
    add_judge_arg(p, None, help="write this recognizer's top label and probability under each face (e.g. fer2013)")
    p.add_argument("--prototypes", default=None, choices=("facs", "refined"), help="emotion table (default: the toolkit's default)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    add_look_args(p)
    p.set_defaults(func=cmd_sheet)
