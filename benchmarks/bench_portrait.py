"""Prints and plots how well diffusion portraits show the requested expression, with and without recognizer guidance.

Per emotion, `--n` portraits (seeds 0..n-1) from the shipped model at the default steps, unguided and guided by
`--critic` (FER2013) at `--guidance`, plus renders of the head at the same AUs (identities 0..n-1, cropped as the
model's training data), all read by every judge that loads: FER2013 (steered, so not held out), face-classification
and face-api (real-face judges that did not steer) and ExpressionNet (ours; its ARKit read-back gives AU adherence).

- accuracy: top label (over the classes a judge has) == the requested emotion;
- AU adherence: mean |AUs read back by ExpressionNet - requested AUs| (`avatar.facs_inverse`), and the same over the
  52 ARKit weights;
- diversity: mean pairwise RMS pixel distance between portraits of one condition (seeds), beside renders across identities;
- speed: seconds per image at the default steps for a batch of 1 and of --n, unguided and guided.

    python benchmarks/bench_portrait.py [--n 8] [--guidance 4] [--out benchmarks/results/portrait]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _machine import machine

EMOTIONS8 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


def bar_chart(rows: dict[str, dict[str, float]], series: tuple[str, ...], title: str, path: Path) -> None:
    """Write a grouped bar chart (one group per row key, one bar per series, values in 0..1) as PNG with PIL."""
    from PIL import Image, ImageDraw

    colours = [(150, 150, 150), (70, 130, 200), (220, 110, 50), (80, 170, 90)]
    groups = list(rows)
    gw, bw, m, h = 26 + 14 * len(series), 12, 40, 260
    w = m * 2 + gw * len(groups)
    img = Image.new("RGB", (w, h + 70), "white")
    d = ImageDraw.Draw(img)
    d.text((m, 6), title, fill="black")
    for k in range(0, 11, 2):
        y = h - k / 10 * (h - 40)
        d.line([(m - 4, y), (w - m, y)], fill=(225, 225, 225))
        d.text((4, y - 6), f"{k / 10:.1f}", fill="black")
    for gi, g in enumerate(groups):
        for si, s in enumerate(series):
            v = rows[g].get(s)
            if v is None or not np.isfinite(v):
                continue
            x0 = m + gi * gw + 6 + si * 14
            d.rectangle([x0, h - v * (h - 40), x0 + bw, h], fill=colours[si % len(colours)])
        d.text((m + gi * gw + 4, h + 6), g[:8], fill="black")
    for si, s in enumerate(series):
        d.rectangle([m + si * 150, h + 30, m + si * 150 + 10, h + 40], fill=colours[si % len(colours)])
        d.text((m + si * 150 + 14, h + 29), s, fill="black")
    img.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="portraits (seeds) and renders (identities) per emotion")
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--critic", default="fer2013")
    ap.add_argument("--judges", default="fer2013,face-classification,face-api,expression-net")
    ap.add_argument("--emotions", default=",".join(EMOTIONS8))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a busy, shared CPU)")
    ap.add_argument("--model", default=None, help="a PortraitPipeline folder (default: the shipped model)")
    ap.add_argument("--out", default="benchmarks/results/portrait")
    args = ap.parse_args()
    print(machine())

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from avatar.app.portrait import make_portrait_critic, render_start
    from avatar.emotion import EMOTIONS
    from avatar.facs_inverse import arkit_to_au_vector
    from generators.portrait.conditions import resolve_condition
    from generators.portrait.pipeline import PortraitPipeline

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = PortraitPipeline.from_pretrained(args.model).to(args.device)
    critic = make_portrait_critic(args.critic, args.device)
    judges = {}
    for name in (j.strip() for j in args.judges.split(",") if j.strip()):
        try:
            judges[name] = make_portrait_critic(name, args.device)
        except Exception as err:  # noqa: BLE001 - a judge that does not load is reported and skipped
            print(f"judge {name} skipped: {str(err).splitlines()[0]}")
    expr = judges.get("expression-net") or make_portrait_critic("expression-net", args.device)
    emotions = [e.strip() for e in args.emotions.split(",")]
    kinds = ("render", "portrait", "guided")
    acc: dict[str, dict[str, dict[str, float]]] = {j: {e: {} for e in emotions} for j in judges}
    adherence: dict[str, dict[str, dict[str, float]]] = {e: {} for e in emotions}
    diversity: dict[str, dict[str, float]] = {e: {} for e in emotions}
    sheet_rows = []
    for e in emotions:
        cond = resolve_condition(emotion=e)
        t0 = time.perf_counter()
        sets = {
            "render": torch.from_numpy(np.stack([render_start(cond.aus, identity=i) for i in range(args.n)])).permute(0, 3, 1, 2).float() / 255,
            "portrait": pipe(emotion=e, num_images_per_prompt=args.n, num_inference_steps=args.steps,
                             generator=torch.Generator().manual_seed(0), output_type="pt").images,
            "guided": pipe(emotion=e, num_images_per_prompt=args.n, num_inference_steps=args.steps, critic=critic,
                           critic_guidance=args.guidance, generator=torch.Generator().manual_seed(0), output_type="pt").images,
        }
        col = EMOTIONS.index(e)
        with torch.no_grad():
            for j, c in judges.items():
                for k, x in sets.items():
                    lp = c.log_probs(x.to(c.device)).float().cpu()
                    if not torch.isfinite(lp[:, col]).all():
                        acc[j][e][k] = float("nan")  # the judge has no such class
                        continue
                    acc[j][e][k] = float((lp.argmax(1) == col).float().mean())
            want_arkit = torch.from_numpy(cond.arkit())
            want_aus = cond.aus.to_vector()
            for k, x in sets.items():
                read = expr.arkit(x.to(expr.device)).float().cpu()
                aus = arkit_to_au_vector(read.numpy())
                adherence[e][k] = {"au_error": float(np.abs(aus - want_aus).mean()),
                                   "arkit_error": float((read - want_arkit).abs().mean())}
                flat = x.reshape(x.shape[0], -1)
                dist = torch.cdist(flat, flat) / flat.shape[1] ** 0.5
                diversity[e][k] = float(dist.sum() / (x.shape[0] * (x.shape[0] - 1)))
        sheet_rows.append(torch.cat([sets[k][:4] for k in kinds]))
        print(f"{e:9s} " + "  ".join(f"{j}: " + "/".join("n/a" if not np.isfinite(acc[j][e][k]) else f"{acc[j][e][k]:.2f}" for k in kinds)
                                     for j in judges) + f"   ({time.perf_counter() - t0:.0f} s)", flush=True)

    # speed at the default settings
    speed = {}
    for label, n, kw in (("1 image", 1, {}), (f"{args.n} images", args.n, {}),
                         (f"{args.n} images, guided", args.n, {"critic": critic, "critic_guidance": args.guidance})):
        pipe(emotion="happy", num_images_per_prompt=n, num_inference_steps=args.steps, **kw)  # warm
        t0 = time.perf_counter()
        pipe(emotion="happy", num_images_per_prompt=n, num_inference_steps=args.steps, generator=torch.Generator().manual_seed(1), **kw)
        speed[label] = (time.perf_counter() - t0) / n

    def pooled(j: str, k: str) -> float:
        vals = [acc[j][e][k] for e in emotions if np.isfinite(acc[j][e][k])]
        return float(np.mean(vals)) if vals else float("nan")

    summary = {j: {k: pooled(j, k) for k in kinds} for j in judges}
    report = {"machine": machine(), "n": args.n, "steps": args.steps, "guidance": args.guidance, "critic": args.critic,
              "accuracy": acc, "accuracy_mean": summary, "adherence": adherence, "diversity": diversity,
              "seconds_per_image": speed, "threads": torch.get_num_threads()}
    (out / "bench_portrait.json").write_text(json.dumps(report, indent=1))
    print("\nmean accuracy over emotions (render / portrait / guided):")
    for j in judges:
        tag = " (steered)" if j == args.critic else " (held out)"
        print(f"  {j:20s} " + " / ".join(f"{summary[j][k]:.2f}" for k in kinds) + tag)
    print("AU adherence, mean |AU read-back - requested| (render / portrait / guided): " +
          " / ".join(f"{np.mean([adherence[e][k]['au_error'] for e in emotions]):.3f}" for k in kinds))
    print("diversity, mean pairwise RMS distance (render across identities / portrait across seeds / guided): " +
          " / ".join(f"{np.mean([diversity[e][k] for e in emotions]):.3f}" for k in kinds))
    print("seconds per image: " + ", ".join(f"{k} {v:.2f}" for k, v in speed.items()))

    for j in judges:
        bar_chart({e: acc[j][e] for e in emotions}, kinds, f"{j}: accuracy per emotion (render / portrait / guided x{args.guidance:g})",
                  out / f"accuracy_{j}.png")
    bar_chart({e: {k: adherence[e][k]["au_error"] * 5 for k in kinds} for e in emotions}, kinds,
              "AU error read back by ExpressionNet (x5; lower is better)", out / "au_error.png")
    from PIL import Image

    rows = [torch.cat(list(r), dim=2) for r in sheet_rows]  # per emotion: 4 renders | 4 portraits | 4 guided
    sheet = (torch.cat(rows, dim=1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(sheet).save(out / "sheet.jpg", quality=88)  # JPEG: a PNG of noisy 64 px faces is 10x larger
    print(f"wrote {out}/bench_portrait.json, accuracy_*.png, au_error.png, sheet.jpg (rows: {', '.join(emotions)}; "
          "columns: 4 renders | 4 portraits | 4 guided)")


if __name__ == "__main__":
    main()
