"""`emoavatar batch`: render a manifest of jobs (JSON Lines or CSV) into a folder, on a local pool or on Ray."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """examples:
  emoavatar batch jobs.jsonl -o out/ --workers 2
  emoavatar batch jobs.csv -o out/ --backend ray                      # a local Ray
  emoavatar batch jobs.jsonl -o /shared/out --backend ray --ray-address ray://head:10001

one job per line, e.g.
  {"id": "a", "emotion": "happy", "intensity": 0.8, "size": 256, "duration": 3, "output": "happy.mp4"}
  {"audio": "speech.wav", "text": "the words spoken", "emotion": "sad", "output": "talk.mp4", "export": ["talk.csv"]}
  {"aus": "AU1=0.6,AU4=0.8,AU15=0.7", "view": "three-quarter", "output": "stills/sad.png"}
keys: id audio text emotion intensity emotion_track aus va identity view|yaw skin eyes background cavity wrinkles
mouth_shadow catch_lights mouth_interior eye_detail prototypes judge size fps duration seed output export
(output/export suffix picks the format: .mp4 .gif .png .csv .glb .npz .json). A rerun skips finished jobs;
batch_report.json and batch_report.csv in the output folder hold each job's status, seconds, outputs and score.
"""


def cmd_batch(args: argparse.Namespace) -> int:
    """Run the batch; return 0 when every job finished, 1 when any failed, 2 for a bad manifest."""
    from avatar.app.batch import ManifestError, run_batch

    try:
        result = run_batch(args.manifest, args.output, workers=args.workers, backend=args.backend, ray_address=args.ray_address,
                           judge=None if not args.score else args.judge, device=args.device, progress=args.progress,
                           cavity=False if args.no_cavity else None, brow_lowerer=args.brow_lowerer)
    except ManifestError as e:
        # Every problem on its own line, so a long manifest is fixed in one pass.
        for p in e.problems:
            print(f"emoavatar: error: {p}", file=sys.stderr)
        print(f"emoavatar: {len(e.problems)} problem{'s' * (len(e.problems) != 1)} in the manifest; nothing was run", file=sys.stderr)
        return 2
    c = result.counts
    print(f"{c['ok']} done, {c['skipped']} skipped (finished earlier), {c['failed']} failed of {c['total']} jobs "
          f"in {result.seconds:.1f} s; report: {result.report_json}")
    return 0 if result.ok else 1


def register(sub: Any) -> None:
    """Add the batch subcommand to the CLI's subparsers."""
    from avatar.app.cli.common import add_brow_lowerer_arg, add_judge_arg
    from avatar.app.judges import DEFAULT_RECOGNIZER, RECOGNIZERS

    p = sub.add_parser("batch", help="render a manifest of jobs (JSON Lines or CSV) into a folder; resumable",
                       description="Render every job of a manifest into an output folder: a pool of worker processes "
                                   "(one GL context each) or Ray tasks, outputs written atomically, finished jobs "
                                   "skipped on a rerun, a JSON and CSV report with each clip's in-loop score.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="jobs: .jsonl (one JSON object per line) or .csv with the same columns")
    p.add_argument("-o", "--output", required=True, help="output folder (outputs are paths relative to it)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="local process pool (default) or Ray tasks")
    p.add_argument("--ray-address", default=None, help="a Ray cluster's address (default: start a local Ray)")
    add_judge_arg(p, DEFAULT_RECOGNIZER, old=("--recognizer",),
                  help=f"recognizer that grades each clip: {', '.join(RECOGNIZERS)} (default {DEFAULT_RECOGNIZER}; a job's own 'judge' wins)")
    p.add_argument("--score", action=argparse.BooleanOptionalAction, default=True, help="score each rendered clip (default on)")
    p.add_argument("--device", default="auto", help="device of the judge: cpu, cuda or auto (default)")
    p.add_argument("--no-cavity", action="store_true",
                   help="render every job without cavity shading (~17%% faster frames on a CPU rasterizer)")
    add_brow_lowerer_arg(p, batch=True)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    p.set_defaults(func=cmd_batch)
