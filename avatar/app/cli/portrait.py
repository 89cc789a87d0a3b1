"""`emoavatar portrait`: diffusion portraits of an emotion, AUs or valence/arousal, each scored by the judges."""

from __future__ import annotations

import argparse
import re
from typing import Any

EPILOG = """examples:
  emoavatar portrait --emotion anger --intensity 0.8 -n 16 --seed 0 -o out/   # out/grid.png, out/0000.png ..., out/scores.json
  emoavatar portrait --aus AU4=1,AU5=0.6,AU23=0.7 -o out/
  emoavatar portrait --va -0.6,0.7 -o out/
  emoavatar portrait --emotion fear --critic-guidance 3 -o out/   # recognizer guidance strength (0 = off)
  emoavatar portrait --emotion sad --from-render --identity 7 -o out/   # start from a render of the head
  emoavatar portrait --model ./my-sd-au-adapter --emotion happy -o out/  # a local Stable Diffusion + our AU adapter

The condition is resolved onto the same FACS action units that pose the 3D head. --critic-guidance follows the
critic's (default FER2013) gradient of the target emotion on each step's predicted clean image; --best-of
keeps the critic's favourite of several candidates. scores.json holds every image's reading by each judge
(--judge), and which judge steered (it is not held out).
"""


def cmd_portrait(args: argparse.Namespace) -> int:
    from avatar.app.portrait import portrait
    from avatar.errors import AvatarInputError
    from avatar.io.atomic import check_output_path
    from generators.portrait.conditions import parse_va, resolve_condition
    from generators.portrait.pipeline import check_pipeline_folder

    given = [o for o, v in (("--emotion", args.emotion), ("--aus", args.aus), ("--va", args.va)) if v is not None]
    if len(given) > 1:
        raise AvatarInputError(f"give only one of --emotion, --aus or --va; got {' and '.join(given)}")
    va = parse_va(args.va) if args.va is not None else None
    # Every condition error surfaces here, before any folder is made or model loaded.
    resolve_condition(emotion=args.emotion, intensity=args.intensity, aus=args.aus, va=va)
    if args.identity is not None and not args.from_render:
        raise AvatarInputError("--identity picks the face of the start render: add --from-render")
    if args.brow_lowerer is not None and not args.from_render:
        raise AvatarInputError("--brow-lowerer shapes the head of the start render: add --from-render")
    if args.model is not None:
        check_pipeline_folder(args.model)
    check_output_path(args.output.rstrip("/") + "/grid.png")
    from avatar.app.judges import parse_judges

    judges = parse_judges(args.judge, allow_empty=True)
    out = portrait(emotion=args.emotion, intensity=args.intensity, aus=args.aus, va=va, n=args.n, seed=args.seed,
                   critic_guidance=args.critic_guidance, au_guidance=args.au_guidance, best_of=args.best_of, steps=args.steps,
                   guidance_scale=args.guidance_scale, from_render=args.from_render, identity=args.identity,
                   strength=args.strength, brow_lowerer=args.brow_lowerer, model=args.model, critic=args.critic, judge=judges, device=args.device,
                   progress=args.progress)
    folder = out.save(args.output)
    summary = out.to_dict()["summary"]
    target = out.settings["condition"].get("target_emotion")
    print(f"{len(out.images)} portraits in {out.seconds:.1f} s ({out.seconds / len(out.images):.2f} s each) -> {folder}/grid.png")
    for judge, s in summary.items():
        tag = " (steered)" if judge == out.critic else ""
        line = f"  {judge:20s}"
        if "accuracy" in s:
            line += f" read as {target}: {s['accuracy']:.0%}, mean p {s['mean_p_target']:.2f}"
        if "mean_arkit_error" in s:
            line += f" ARKit error {s['mean_arkit_error']:.3f}"
        print(line + tag)
    for note in out.notes:
        print(f"  note: {note}")
    return 0


def register(sub: Any) -> None:
    """Add the portrait subcommand to the CLI's subparsers."""
    from avatar.app.cli.common import EMOTION_HELP, add_brow_lowerer_arg, add_judge_arg, add_renamed, identity_arg, positive_int

    p = sub.add_parser("portrait", help="diffusion portraits of an emotion / AUs / valence-arousal, scored by the judges",
                       description="Generate face portraits with an AU-conditioned diffusion model (the shipped 128x128 cascade, "
                                   "or a local Stable Diffusion checkpoint with our AU adapter), optionally steered by a "
                                   "recognizer, and score each image with the judges.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emotion", default=None, help=f"the emotion to show: {EMOTION_HELP}")
    p.add_argument("--intensity", type=float, default=1.0, help="intensity in 0..1 (scales the AUs; default 1)")
    p.add_argument("--aus", default=None, help="action units instead, e.g. AU4=1,AU5=0.6,AU23=0.7 (L/R prefixes for one side)")
    p.add_argument("--va", default=None, help="valence,arousal in -1..1 instead, e.g. -0.6,0.7")
    # argparse reads "-0.6,0.7" as an unknown option (only plain numbers count as negative values); teach this
    # parser that comma-separated numbers are values too, so `--va -0.6,0.7` works as written in the docs.
    p._negative_number_matcher = re.compile(r"^-\d*\.?\d+(,\s*-?\d*\.?\d+)*$")
    p.add_argument("-n", type=positive_int, default=4, help="number of portraits (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--steps", type=positive_int, default=12, help="sampler steps (default 12, DPM-Solver++)")
    p.add_argument("--guidance-scale", type=float, default=2.0,
                   help="classifier-free guidance on the AU condition (diffusers' guidance_scale; 1 = off; default 2)")
    add_renamed(p, "--cfg", "--guidance-scale", "guidance_scale", type=float)
    p.add_argument("--critic-guidance", type=float, default=0.0, help="recognizer guidance strength (0 = off; try 3)")
    add_renamed(p, "--guidance", "--critic-guidance", "critic_guidance", type=float)
    p.add_argument("--au-guidance", type=float, default=0.0, help="guidance by ExpressionNet's AU read-back error (0 = off)")
    p.add_argument("--best-of", type=positive_int, default=1, help="candidates per portrait; the critic's favourite is kept")
    p.add_argument("--critic", default="fer2013", help="the recognizer that steers --critic-guidance / --best-of (default fer2013)")
    add_judge_arg(p, "fer2013,face-classification,expression-net", several=True, old=("--judges",),
                  help="comma-separated recognizers that grade every image ('' for none; default fer2013,face-classification,expression-net)")
    p.add_argument("--from-render", action="store_true", help="start from a render of the head at the same AUs (image-to-image)")
    p.add_argument("--identity", type=identity_arg, default=None, help="with --from-render: the head's identity seed")
    p.add_argument("--strength", type=float, default=0.6, help="with --from-render: share of the noise schedule re-run (default 0.6)")
    add_brow_lowerer_arg(p, from_render=True)
    p.add_argument("--model", default=None, help="a pipeline folder (ours, or SD + AU adapter); default: the shipped model")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("-o", "--output", required=True, help="output folder (grid.png, 0000.png ..., scores.json)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    p.set_defaults(func=cmd_portrait)
