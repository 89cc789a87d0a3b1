"""`emoavatar score`: recognize emotions in images, folders and videos; score them against an expected emotion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


from avatar.app.cli.common import EMOTION_HELP, add_judge_arg, positive_int
from avatar.app.judges import DEFAULT_RECOGNIZER, judge_name, make_recognizer

EPILOG_SCORE = """examples:
  emoavatar score happy.png --expected happy
  emoavatar score renders/ --expected sad -o score.json --confusion confusion.png
  emoavatar score talk.mp4 --expected anger --every 5 --per-image frames.csv
  emoavatar score photos/ --judge face-api          # no --expected: just print what each image reads as
"""

def cmd_score(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from avatar.io.atomic import atomic_path, check_output_path
    from avatar.io.media import expand_paths, iter_frames
    from recognizers.scoring import EmotionScorer

    expand_paths(args.paths)  # bad inputs fail before any model loads
    for out in (args.output, args.confusion, args.per_image):
        if out:
            check_output_path(out)
    expected = None
    if args.expected:
        from avatar.emotion import normalize_emotion

        expected = normalize_emotion(args.expected)
    rec = make_recognizer(judge_name(args.judge), args.device, detect_faces=True)
    scorer = EmotionScorer(device=args.device, judge=rec)
    rows: list[dict[str, Any]] = []
    batch: list[Any] = []

    def flush() -> None:
        if not batch:
            return
        images = np.stack([f.image for f in batch]) if len({f.image.shape for f in batch}) == 1 else None
        results = [rec(images)] if images is not None else [rec(f.image[None]) for f in batch]
        recs = [r.to_numpy() for r in results]
        probs = np.concatenate([r.emotion_probs for r in recs])
        labels = sum((r.labels for r in recs), [])
        if expected is not None:
            for r in results:
                scorer.update(r, [expected] * len(r))
        for f, p, lab in zip(batch, probs, labels):
            rows.append({"source": f.source, "frame": f.index, "label": lab,
                         **{n: (None if np.isnan(x) else round(float(x), 4)) for n, x in zip(recs[0].emotion_names, p)}})
        batch.clear()

    for frame in tqdm(iter_frames(args.paths, every=args.every), desc="score", unit="img", disable=not args.progress):
        batch.append(frame)
        if len(batch) >= args.batch:
            flush()
    flush()
    if args.per_image:
        import csv

        with atomic_path(args.per_image) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if expected is None:
        for r in rows:
            print(f"{r['source']}[{r['frame']}]: {r['label'] or 'no face'}")
        if args.output:
            with atomic_path(args.output) as tmp:
                Path(tmp).write_text(json.dumps(rows, indent=2))
        return 0
    score = scorer.compute()
    print(score)
    if args.output:
        if str(args.output).lower().endswith(".csv"):
            import csv

            with atomic_path(args.output) as tmp, open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["metric", "value"])
                for k, v in score.to_dict().items():
                    if not isinstance(v, (list, dict)):
                        w.writerow([k, v])
        else:
            score.to_json(args.output)
    if args.confusion:
        score.confusion_png(args.confusion)
    return 0


def register(sub: Any) -> None:
    """Add the score subcommand to the CLI's subparsers."""
    p = sub.add_parser("score", help="recognize emotions in images, folders or videos; score against --expected",
                       description="Recognize the emotion in each image or video frame; with --expected, print and "
                                   "write accuracy, per-class F1 and the confusion matrix.",
                       epilog=EPILOG_SCORE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="image files, folders (searched recursively) or videos")
    p.add_argument("--expected", default=None, help=f"the emotion every input should show: {EMOTION_HELP}")
    add_judge_arg(p, DEFAULT_RECOGNIZER, old=("--recognizer",))
    p.add_argument("-o", "--output", default=None, help="write the score as .json or .csv")
    p.add_argument("--confusion", default=None, help="write the confusion matrix as a PNG")
    p.add_argument("--per-image", default=None, help="write per-image probabilities as CSV")
    p.add_argument("--every", type=positive_int, default=1, help="use every N-th video frame, N >= 1 (default 1)")
    p.add_argument("--batch", type=positive_int, default=64, help="images per recognizer batch, >= 1 (default 64)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")
    p.set_defaults(func=cmd_score)
