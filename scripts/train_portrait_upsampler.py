"""Trains the portrait cascade's 64 -> 128 super-resolution stage (`PortraitUpsampler`) on pairs of the same render crop.

Recipe (one seed rebuilds the run, up to the wall-clock cap):
- data: the base model's render cache (scripts/train_portrait_model.py --render-only or a full run writes it): each
  render's face crop at 64 px (what the base model learns to draw) and at 128 px (the target); the last
  `--holdout` pairs are never trained on and give the reported PSNR against bilinear and bicubic upscaling;
- model: `PortraitUpsampler` (residual CNN at the input's size, sub-pixel convolution to 2x, added to the bilinear
  upscale; the output layer starts at zero, so step 0 is exactly bilinear);
- training: random aligned patches (32 px in, 64 px out), horizontal flips, and Gaussian noise on the input
  (sigma U(0, 0.04) in [-1, 1] units, Imagen's "noise conditioning augmentation" without the conditioning) so the
  stage does not sharpen the base model's residual sampling noise into texture; L1 loss, AdamW lr 1e-3 with cosine
  decay over the planned steps or the wall-clock cap, batch 16; the weights are what ships (no EMA: deterministic,
  a regression);
- shipped: `--pipeline` (a 64 px `PortraitPipeline` folder, the base) is loaded, given the upsampler, and saved to
  `-o` (model_index.json then names unet, upsampler and scheduler), with upsampler_log.json and upsampler_loss.png.

    nice -n 10 python scripts/train_portrait_upsampler.py --pipeline /tmp/base -o generators/portrait/weights/emoavatar-portrait-128
    python scripts/train_portrait_upsampler.py --steps 5 --pipeline /tmp/base -o /tmp/p  # smoke run
    python scripts/train_portrait_upsampler.py --pipeline /tmp/base2 --reuse /tmp/p -o /tmp/q  # a trained stage on another base
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIG = {"scale": 2, "channels": 48, "num_blocks": 4}
PATCH = 32


def psnr(a: object, b: object) -> float:
    """Return the PSNR in dB between two image batches in [0, 1] (torch tensors), over all pixels."""
    mse = float(((a - b) ** 2).mean())  # type: ignore[operator]
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/tmp/emoavatar_portrait_data_v3.npz", help="the render cache with images and images_hr")
    ap.add_argument("--pipeline", required=True, help="the 64 px PortraitPipeline folder (the cascade's base) to add the upsampler to")
    ap.add_argument("-o", "--output", required=True, help="folder of the cascade pipeline (written atomically per file by diffusers)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", type=int, default=160, help="pairs at the end of the cache never trained on (the PSNR figures)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=20.0)
    ap.add_argument("--reuse", default=None, help="a cascade folder whose trained upsampler (and logs) to put on --pipeline, no training")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))

    import torch
    import torch.nn.functional as F

    from generators.portrait.models.upsampler import PortraitUpsampler
    from generators.portrait.pipeline import PortraitPipeline
    from train_portrait_model import plot_curve

    torch.set_num_threads(args.threads)
    if args.reuse:
        import shutil

        from generators.portrait.models.upsampler import PortraitUpsampler

        out = Path(args.output)
        base = PortraitPipeline.from_pretrained(args.pipeline)
        stage = PortraitUpsampler.from_pretrained(Path(args.reuse) / "upsampler")
        PortraitPipeline(unet=base.unet.to(torch.float16), scheduler=base.scheduler, upsampler=stage.to(torch.float16)).save_pretrained(out)
        for name in ("upsampler_log.json", "upsampler_loss.png"):
            if (Path(args.reuse) / name).is_file() and Path(args.reuse).resolve() != out.resolve():
                shutil.copyfile(Path(args.reuse) / name, out / name)
        print(f"saved {out}: the UNet and scheduler of {args.pipeline}, the upsampler of {args.reuse}", flush=True)
        return
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = np.load(args.data)
    if "images_hr" not in data:
        sys.exit(f"{args.data} has no 128 px crops (images_hr): rebuild it with scripts/train_portrait_model.py --render-only")
    lo = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    hi = torch.from_numpy(data["images_hr"]).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    n_train = len(lo) - args.holdout
    val_lo, val_hi = lo[n_train:], hi[n_train:]
    lo, hi = lo[:n_train], hi[:n_train]
    model = PortraitUpsampler(**MODEL_CONFIG)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    history: dict[str, list[float]] = {"step": [], "loss": [], "seconds": []}
    running: list[float] = []
    t0 = time.time()
    cap = args.max_minutes * 60
    step = 0
    print(f"upsampler: {n_params / 1e3:.0f} k parameters, {n_train} training pairs, {args.holdout} held out", flush=True)
    for step in range(args.steps):
        progress = min(1.0, max(step / args.steps, (time.time() - t0) / cap))
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, (step + 1) / 50) * (0.5 * (1 + math.cos(math.pi * progress)) * 0.95 + 0.05)
        idx = torch.randint(0, n_train, (args.batch,), generator=gen)
        ys = torch.randint(0, lo.shape[-1] - PATCH + 1, (args.batch,), generator=gen)
        xs = torch.randint(0, lo.shape[-1] - PATCH + 1, (args.batch,), generator=gen)
        x = torch.stack([lo[i, :, y:y + PATCH, s:s + PATCH] for i, y, s in zip(idx, ys, xs)])
        t = torch.stack([hi[i, :, 2 * y:2 * (y + PATCH), 2 * s:2 * (s + PATCH)] for i, y, s in zip(idx, ys, xs)])
        flip = torch.rand(args.batch, generator=gen) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        t = torch.where(flip.view(-1, 1, 1, 1), t.flip(-1), t)
        sigma = torch.rand(args.batch, 1, 1, 1, generator=gen) * 0.04
        x = x + sigma * torch.randn(x.shape, generator=gen)
        loss = F.l1_loss(model(x), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(loss.item())
        if (step + 1) % 25 == 0:
            history["step"].append(step + 1)
            history["loss"].append(float(np.mean(running)))
            history["seconds"].append(round(time.time() - t0, 1))
            running = []
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{args.steps} L1 {history['loss'][-1]:.4f} ({(time.time() - t0) / (step + 1):.2f} s/step)", flush=True)
        if time.time() - t0 > cap:
            print(f"wall-clock cap of {args.max_minutes} min reached at step {step + 1}", flush=True)
            break
    train_seconds = time.time() - t0
    model.eval()
    with torch.no_grad():
        want = (val_hi + 1) / 2
        figures = {"upsampler": psnr((model(val_lo).clamp(-1, 1) + 1) / 2, want)}
        for mode in ("bilinear", "bicubic"):
            up = F.interpolate(val_lo, scale_factor=2, mode=mode, align_corners=False).clamp(-1, 1)
            figures[mode] = psnr((up + 1) / 2, want)
    print("held-out PSNR (dB): " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)

    out = Path(args.output)
    base = PortraitPipeline.from_pretrained(args.pipeline)
    # float16 on disk, float32 when loaded (as the UNet); the base's UNet and scheduler are copied unchanged.
    PortraitPipeline(unet=base.unet.to(torch.float16), scheduler=base.scheduler, upsampler=model.to(torch.float16)).save_pretrained(out)
    log = {"history": history, "config": MODEL_CONFIG, "parameters": n_params, "steps_done": step + 1, "steps_planned": args.steps,
           "batch": args.batch, "lr": args.lr, "seed": args.seed, "patch": PATCH, "input_noise_sigma_max": 0.04,
           "train_seconds": round(train_seconds, 1), "threads": args.threads, "holdout_pairs": args.holdout,
           "holdout_psnr_db": {k: round(v, 2) for k, v in figures.items()}, "command": " ".join(sys.argv)}
    tmp = out / "upsampler_log.json.tmp"
    tmp.write_text(json.dumps(log, indent=1))
    tmp.replace(out / "upsampler_log.json")
    plot_curve(history["step"], history["loss"], out / "upsampler_loss.png", f"upsampler L1 loss (batch {args.batch}, 32->64 px patches)")
    print(f"saved {out} ({step + 1} steps, {train_seconds / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()
