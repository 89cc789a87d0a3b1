"""Prints and saves, for portrait models side by side on fixed seeds, the judges' reads per emotion and the colour casts.

Each model draws one portrait per seed (`--seeds`, default 0-15; image i starts from seed i's noise, the same
noise for every 64 px base) for each of the 7 basic emotions, from pure noise, unguided, at the pipeline's
defaults (12 steps, CFG 2; `--guidance-scales` draws each model at several). Every judge that loads reads every portrait: face-api and face-classification (real-face
judges that never trained or steered these models) and FER2013 (the facade's default critic; unguided here, so it
did not steer either). Colour: `generators.portrait.colour` (background chroma of the edge strips, the face
centre's hue; a cast is either out of the bound the training renders keep), with the renders' own figures from the
training cache when `--data` exists. Output: bench_portrait_seeds.json and sheet.jpg (per model, the happy and
surprise rows of seeds 0-15) in `--out`.

    python benchmarks/bench_portrait_seeds.py                       # previous (64 px) vs shipped (128 px cascade)
    python benchmarks/bench_portrait_seeds.py --models a,b --names old,new --seeds 0-3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _machine import machine

EMOTIONS7 = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")


def seed_list(spec: str) -> list[int]:
    """Return the seeds of "0-15" or "0,3,7"."""
    if "-" in spec:
        a, b = spec.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in spec.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated PortraitPipeline folders (default: previous and shipped)")
    ap.add_argument("--names", default=None, help="comma-separated labels for --models")
    ap.add_argument("--seeds", default="0-15")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--guidance-scales", default=None,
                    help="comma-separated classifier-free guidance scales, each model drawn at each (default: the pipeline's)")
    ap.add_argument("--judges", default="face-api,face-classification,fer2013")
    ap.add_argument("--data", default="/tmp/emoavatar_portrait_data_v3.npz", help="the training render cache (renders' colour figures)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/portrait_seeds")
    args = ap.parse_args()
    print(machine())

    import torch

    torch.set_num_threads(args.threads)
    from avatar.app.portrait import make_portrait_critic
    from avatar.emotion import EMOTIONS
    from generators.portrait.colour import CHROMA_BOUND, HUE_RANGE, background_chroma, colour_casts, face_hue
    from generators.portrait.loading import load_portrait_pipeline
    from generators.portrait.pipeline import DEFAULT_MODEL_PATH, PREVIOUS_MODEL_PATH

    folders = args.models.split(",") if args.models else [str(PREVIOUS_MODEL_PATH), str(DEFAULT_MODEL_PATH)]
    names = args.names.split(",") if args.names else [Path(f).name for f in folders]
    seeds = seed_list(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    judges = {}
    for name in (j.strip() for j in args.judges.split(",") if j.strip()):
        try:
            judges[name] = make_portrait_critic(name, "cpu")
        except Exception as err:  # noqa: BLE001 - a judge that does not load is reported and skipped
            print(f"judge {name} skipped: {str(err).splitlines()[0]}")

    report: dict = {"machine": machine(), "seeds": seeds, "steps": args.steps, "threads": args.threads,
                    "chroma_bound": CHROMA_BOUND, "hue_range": HUE_RANGE, "models": {}}
    if Path(args.data).is_file():
        cache = np.load(args.data)
        hr = cache["images_hr"] if "images_hr" in cache else cache["images"]
        ch, hu = background_chroma(hr), face_hue(hr)
        report["renders"] = {"n": len(hr), "chroma_mean": float(ch.mean()), "chroma_p99": float(np.percentile(ch, 99)),
                             "chroma_max": float(ch.max()), "hue_min": float(hu.min()), "hue_max": float(hu.max()),
                             "casts": int(colour_casts(hr).sum())}
        print(f"training renders ({len(hr)}): background chroma mean {ch.mean():.3f} p99 {np.percentile(ch, 99):.3f} "
              f"max {ch.max():.3f}; face hue {hu.min():.0f}..{hu.max():.0f} deg; casts {report['renders']['casts']}")
    scales = [float(g) for g in args.guidance_scales.split(",")] if args.guidance_scales else [None]
    runs = [(folder, name if len(scales) == 1 else f"{name}@cfg{g:g}", g) for folder, name in zip(folders, names) for g in scales]
    report["guidance_scales"] = scales
    sheets = []
    for folder, label, cfg in runs:
        pipe = load_portrait_pipeline(folder)
        extra = {} if cfg is None else {"guidance_scale": cfg}
        reads = {j: {} for j in judges}
        chroma, hue, casts, size = {}, {}, {}, None
        t0 = time.perf_counter()
        rows = []
        for e in EMOTIONS7:
            gens = [torch.Generator().manual_seed(s) for s in seeds]
            x = pipe(emotion=e, num_images_per_prompt=len(seeds), num_inference_steps=args.steps, generator=gens, output_type="pt",
                     **extra).images
            size = int(x.shape[-1])
            col = EMOTIONS.index(e)
            with torch.no_grad():
                for j, c in judges.items():
                    lp = c.log_probs(x.to(c.device)).float().cpu()
                    reads[j][e] = int((lp.argmax(1) == col).sum()) if torch.isfinite(lp[:, col]).all() else None
            chroma[e] = background_chroma(x).round(4).tolist()
            hue[e] = face_hue(x).round(1).tolist()
            casts[e] = [int(s) for s, bad in zip(seeds, colour_casts(x)) if bad]
            if e in ("happy", "surprise"):
                up = torch.nn.functional.interpolate(x, size=128, mode="bicubic", align_corners=False).clamp(0, 1)
                rows.append(torch.cat(list(up), dim=2))
        seconds = time.perf_counter() - t0
        all_chroma = np.concatenate([chroma[e] for e in EMOTIONS7])
        cast_seeds = sorted({s for e in EMOTIONS7 for s in casts[e]})
        report["models"][label] = {"folder": str(folder), "guidance_scale": cfg, "size": size, "reads": reads, "chroma": chroma, "hue": hue, "casts": casts,
                                   "cast_images": int(sum(len(v) for v in casts.values())), "cast_seeds": cast_seeds,
                                   "chroma_mean": float(all_chroma.mean()), "chroma_max": float(all_chroma.max()),
                                   "seconds": round(seconds, 1)}
        print(f"\n{label} ({size}x{size}, {seconds:.0f} s for {len(seeds) * len(EMOTIONS7)} portraits): "
              f"background chroma mean {all_chroma.mean():.3f} max {all_chroma.max():.3f} (bound {CHROMA_BOUND}); "
              f"cast images {report['models'][label]['cast_images']}/{len(seeds) * len(EMOTIONS7)}, seeds with a cast {cast_seeds}")
        for j in judges:
            vals = [reads[j][e] for e in EMOTIONS7 if reads[j][e] is not None]
            print(f"  {j:20s} " + "  ".join(f"{e[:4]} {reads[j][e]:2d}" for e in EMOTIONS7 if reads[j][e] is not None)
                  + f"   (of {len(seeds)} each; mean {np.mean(vals) / len(seeds):.2f})")
        sheets.append(torch.cat(rows, dim=1))
    tmp = out / "bench_portrait_seeds.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    tmp.replace(out / "bench_portrait_seeds.json")
    from PIL import Image

    sheet = (torch.cat(sheets, dim=1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(sheet).save(out / "sheet.jpg", quality=88)
    print(f"\nwrote {out}/bench_portrait_seeds.json, sheet.jpg (rows per model: happy, surprise; seeds {args.seeds}, shown at 128 px)")


if __name__ == "__main__":
    main()
