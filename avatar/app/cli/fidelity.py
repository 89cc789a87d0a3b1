"""`emoavatar fidelity`: pose x render x recognize x score, per emotion, view and recognizer."""

from __future__ import annotations

import argparse
from typing import Any

from avatar.app.cli.common import VIEW_HELP, add_brow_lowerer_arg, add_judge_arg, add_shading_args
from avatar.app.judges import RECOGNIZERS

EPILOG = """examples:
  emoavatar fidelity
  emoavatar fidelity --identities 0,7,21,42 --views front,three-quarter --intensities 0.5,1 -o fidelity.json
  emoavatar fidelity --prototypes facs,refined --views front,yaw=20,three-quarter,profile --by-view
  emoavatar fidelity --judge face-api --skin dark --no-cavity   # what a shading switch costs, per emotion
"""



def cmd_fidelity(args: argparse.Namespace) -> int:
    from avatar.app.cli.common import appearance_from_args, floats
    from avatar.app.fidelity import FidelityConfig, run_fidelity
    from avatar.app.judges import parse_judges
    from avatar.validation import parse_identities
    from avatar.views import parse_views, view_label

    if args.output:
        from avatar.io.atomic import check_output_path

        check_output_path(args.output)
    from avatar.validation import check_choice
    from generators.expression import PROTOTYPE_TABLES

    tables = [check_choice(t.strip(), ("default", *PROTOTYPE_TABLES), "--prototypes") for t in args.prototypes.split(",") if t.strip()]
    reports = {}
    for table in tables:
        cfg = FidelityConfig(
            identities=parse_identities(args.identities, "--identities"), views=tuple(view_label(v) for v in parse_views(args.views)),
            intensities=floats(args.intensities, "--intensities"), recognizers=parse_judges(args.judge),
            size=args.size, device=args.device, prototypes=None if table == "default" else table, skin=args.skin,
            appearance=appearance_from_args(args), brow_lowerer=args.brow_lowerer,
        )
        report = reports[table] = run_fidelity(cfg, progress=args.progress)
        if len(tables) > 1:
            print(f"== {table} prototypes")
        print(report.table())
        if args.by_view:
            print()
            print(report.view_table())
    if args.output:
        if len(reports) == 1:
            next(iter(reports.values())).to_json(args.output)
        else:
            import json
            from pathlib import Path

            from avatar.app.fidelity import _json_default
            from avatar.io.atomic import atomic_path

            with atomic_path(args.output) as tmp:
                Path(tmp).write_text(json.dumps({t: r.to_dict() for t, r in reports.items()}, indent=2, default=_json_default))
        print(f"wrote {args.output}")
    return 0


def register(sub: Any) -> None:
    """Add the fidelity subcommand to the CLI's subparsers."""
    p = sub.add_parser("fidelity", help="emotion fidelity table: pose x render x recognize x score",
                       description="Pose every emotion at several intensities, identities and views, render, "
                                   "recognize with each recognizer, and print per-emotion accuracy per recognizer.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--identities", default="0,7,21", help="identity seeds, e.g. 0,7,21 or 101-140 (default 0,7,21)")
    p.add_argument("--views", default="front,three-quarter",
                   help=f"comma-separated camera views, each {VIEW_HELP} (default front,three-quarter)")
    p.add_argument("--prototypes", default="default", help="emotion table(s) posed: default, facs, refined, or facs,refined for both")
    p.add_argument("--by-view", action="store_true", help="also print per-emotion x per-view tables for each recognizer")
    p.add_argument("--intensities", default="0.5,0.75,1.0", help="emotion intensities (default 0.5,0.75,1.0)")
    add_judge_arg(p, ",".join(RECOGNIZERS), several=True, old=("--recognizers", "--judges"))
    p.add_argument("--size", type=int, default=256, help="render size in pixels (default 256)")
    p.add_argument("--skin", default="medium", help="skin tone: light, medium, tan, brown, dark (default: medium)")
    add_brow_lowerer_arg(p)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("-o", "--output", default=None, help="write the full report as JSON")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    add_shading_args(p)
    p.set_defaults(func=cmd_fidelity)
