"""`emoavatar refine`: refine an emotion's pose (or every emotion's) so real-face judges read it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EPILOG = """examples:
  emoavatar refine --emotion anger                      # the shipped recipe (40 steps; 10-25 min on 2 CPU cores)
  emoavatar refine --emotion sad --steps 5 --size 96 -o sad.json
  emoavatar refine --all -o arkit_prototypes.json       # a refined prototype table (slow: minutes per emotion)
  emoavatar refine --emotion disgust --critics fer2013 --judge face-classification --identities 101-140 --views -40,0,40
  emoavatar refine --emotion fear --space arkit         # move single ARKit shapes instead of the prototype's AUs

The optimisation renders identities --identities at camera yaws --views with jittered light and keeps
its best step (by the critics' objective on those views, the start included); the readings before/after
use other identities and views (--judge-identities, --judge-views), so judges that did not steer (--judge
minus --critics) are held out. When the judges read the result worse than the FACS pose it started from,
refine says so, writes nothing and exits with status 1; --force writes it anyway. See docs/refinement.md.
"""


def _seeds(text: str, what: str) -> tuple[int, ...]:
    """Return identity seeds from '1,2,5' or ranges '101-140' (the shared parser, `avatar.validation.parse_identities`)."""
    from avatar.validation import parse_identities

    return parse_identities(text, what)


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _print_readings(readings: dict[str, Any], critics: tuple[str, ...], emotion: str) -> None:
    print(f"{emotion}: accuracy before -> after (validation identities x views)")
    for judge, r in readings.items():
        tag = "critic" if judge in critics else "held out"
        b, a = r["before"], r["after"]
        print(f"  {judge:22s} {b['accuracy']:.2f} -> {a['accuracy']:.2f}   p(target) {b['p_target']:.2f} -> {a['p_target']:.2f}  ({tag})")


def cmd_refine(args: argparse.Namespace) -> int:
    from avatar.app.judges import parse_judges
    from avatar.views import parse_views, view_label, view_yaw
    from avatar.app.refine import build_prototype_table, refine
    from avatar.errors import AvatarInputError
    from generators.refinement import RefinementOptions

    if args.output:
        from avatar.io.atomic import check_output_path

        check_output_path(args.output)
    if not args.all and not args.emotion:
        raise AvatarInputError("give --emotion NAME or --all")
    options = RefinementOptions(
        steps=args.steps, seed=args.seed, symmetric=not args.asymmetric, batch_size=args.batch_size, lr=args.lr,
        identities=_seeds(args.identities, "--identities"), yaws=tuple(view_yaw(v) for v in parse_views(args.views)),
        space=args.space, aus=_names(args.aus) if args.aus else None,
    ).check()
    judges = parse_judges(args.judge, allow_empty=True)
    critics = _names(args.critics)
    common = dict(critics=critics, judge=judges, validation_identities=_seeds(args.judge_identities, "--judge-identities"),
                  validation_views=tuple(view_label(v) for v in parse_views(args.judge_views)), options=options, size=args.size, judge_size=args.judge_size,
                  device=args.device, progress=args.progress)
    if args.all:
        table = build_prototype_table(_names(args.emotions) if args.emotions else None, log=print, **common)
        for e, entry in table["emotions"].items():
            print(f"  {e:9s} {'refined' if entry['refined'] else 'kept (' + entry['why'] + ')'}")
        text = json.dumps(table, indent=1)
        worse, verdict, what, start = table["validation"]["worse"], table["validation"]["verdict"], "the refined table", "the FACS table"
    else:
        out = refine(args.emotion, args.intensity, **common)
        _print_readings(out.readings, out.critics, out.emotion)
        for note in out.notes:
            print(f"  note: {note}")
        print("  weights: " + ", ".join(f"{k}={v:.2f}" for k, v in out.result.named(0.02).items()))
        if options.space == "au":
            print("  AUs: " + ", ".join(f"{k}={v:.2f}" for k, v in out.result.parameters.items()))
        print(f"  kept step {out.result.best_step} of {options.steps} (best by the critics' objective on the optimisation's views)")
        text = json.dumps(out.to_dict(), indent=1)
        worse, verdict, what, start = out.worse, out.verdict, f"refined {out.emotion}", "the FACS pose it started from"
    if worse:
        action = "writing it anyway (--force)" if args.force else "nothing written; --force writes it anyway"
        print(f"emoavatar: {'warning' if args.force else 'error'}: {what} reads worse to the judges than {start} "
              f"({verdict}); {action}", file=sys.stderr)
        if not args.force:
            return 1
    if args.output:
        from pathlib import Path

        from avatar.io.atomic import atomic_path

        with atomic_path(args.output) as tmp:
            Path(tmp).write_text(text)
        print(f"wrote {args.output}")
    return 0


def register(sub: Any) -> None:
    """Add the refine subcommand to the CLI's subparsers (defaults: `RefinementOptions`'s, the shipped recipe)."""
    from avatar.app.cli.common import add_judge_arg
    from avatar.app.refine import DEFAULT_CRITICS, DEFAULT_JUDGES, JUDGE_SIZE, RENDER_SIZE
    from generators.refinement.options import SPACES, RefinementOptions

    recipe = RefinementOptions()
    p = sub.add_parser("refine", help="refine emotion poses against real-face judges (recognizer in the loop)",
                       description="Optimise an emotion's pose (its action units' intensities, or its 52 ARKit weights) so "
                                   "that real-face judges read it across identities, views and lights, staying close to the "
                                   "FACS prototype (L2), sparse (L1), symmetric and with uncrossed lips; print each judge's "
                                   "reading before and after.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group()
    what.add_argument("--emotion", default=None, help="the emotion to refine (e.g. anger)")
    what.add_argument("--all", action="store_true", help="refine every emotion and write a refined prototype table")
    p.add_argument("--emotions", default=None, help="with --all: only these (comma-separated)")
    p.add_argument("--intensity", type=float, default=1.0, help="intensity of the pose refined (default 1)")
    p.add_argument("--steps", type=int, default=recipe.steps, help=f"optimisation steps (default {recipe.steps}, the shipped recipe)")
    p.add_argument("--lr", type=float, default=recipe.lr, help="step size: about how far a pulled parameter (AU intensity or weight) "
                                                               f"moves per step (default {recipe.lr})")
    p.add_argument("--batch-size", type=int, default=recipe.batch_size, help=f"renders per step (default {recipe.batch_size})")
    p.add_argument("--seed", type=int, default=recipe.seed, help=f"seed of the identity/view/light sampling (default {recipe.seed})")
    ids = f"{recipe.identities[0]}-{recipe.identities[-1]}"
    p.add_argument("--identities", default=ids, help=f"identity seeds optimised over (default {ids})")
    yaws = ",".join(f"{y:g}" for y in recipe.yaws)
    p.add_argument("--views", default=yaws, help=f"views optimised over: presets or yaws in degrees (default {yaws}; "
                                                 "a list starting with a negative yaw is written --views=-40,0,40)")
    p.add_argument("--critics", default=",".join(DEFAULT_CRITICS),
                   help=f"judges to optimise against (default {','.join(DEFAULT_CRITICS)}; the other --judge stay held out)")
    add_judge_arg(p, ",".join(DEFAULT_JUDGES), several=True, old=("--judges",),
                  help=f"comma-separated recognizers that grade before/after (default {','.join(DEFAULT_JUDGES)}; '' for none; "
                       "missing ones are skipped)")
    p.add_argument("--judge-identities", default="0,7,21,80,95", help="identity seeds of the readings (default 0,7,21,80,95)")
    p.add_argument("--judge-views", default="front,yaw=20,three-quarter,yaw=60,profile", help="views of the readings: presets or yaws")
    p.add_argument("--asymmetric", action="store_true", help="let Left/Right pairs differ (one-sided expressions)")
    p.add_argument("--space", choices=SPACES, default=recipe.space,
                   help="what moves: the intensities of the prototype's action units (au, default; how the shipped table "
                        "was made) or the 52 ARKit weights (arkit)")
    p.add_argument("--aus", default=None, help="with --space au: the AUs that may move, e.g. AU4,AU5,AU7 (default: the prototype's own)")
    p.add_argument("--size", type=int, default=RENDER_SIZE, help=f"render size of the optimisation (default {RENDER_SIZE})")
    p.add_argument("--judge-size", type=int, default=JUDGE_SIZE, help=f"render size of the readings (default {JUDGE_SIZE})")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("-o", "--output", default=None, help="write the result (or with --all the table) as JSON")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars (--no-progress: none)")
    p.add_argument("--force", action="store_true",
                   help="write the result even when the judges read it worse than where it started (the exit status is then 0)")
    p.set_defaults(func=cmd_refine)
