"""Trains ExpressionNet on rendered faces (from make_render_dataset.py) and writes safetensors + metrics.

Seeded end to end (torch, numpy, data order). Losses: cross-entropy on the 8 emotions (label
smoothing 0.05), L1 on the 52 ARKit weights, L1 on valence/arousal. Augmentation on the device:
random square sub-crop (scale 0.87-1.15 of the face box, shift +-6%), horizontal flip (Left/Right
ARKit columns swapped), brightness/contrast/saturation jitter, grayscale (p=0.15), blur (p=0.2),
Gaussian noise. Held-out metrics come from a split with unseen identities and unseen views.

    python scripts/make_render_dataset.py --n 24000 --split train --seed 0 -o /tmp/emo_train.npz
    python scripts/make_render_dataset.py --n 2400 --split heldout --seed 1 -o /tmp/emo_heldout.npz
    python scripts/train_expression_net.py --train /tmp/emo_train.npz --heldout /tmp/emo_heldout.npz --epochs 12
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from avatar.emotion import EMOTIONS
from avatar.rig import ARKIT_NAMES
from recognizers.expression_net import WEIGHTS_PATH, ExpressionNet

DATA_CROP_SCALE = 1.4  # the dataset crops are 1.4x the face box; inference crops are 1.0x


def flip_permutation() -> list[int]:
    """Return the ARKit column order that mirrors the face (Left <-> Right)."""
    perm = []
    for n in ARKIT_NAMES:
        m = n.replace("Left", "\0").replace("Right", "Left").replace("\0", "Right")
        # eyeLookIn/Out swap meaning under a mirror only through the side swap: In stays In.
        perm.append(ARKIT_NAMES.index(m))
    return perm


def augment(x: torch.Tensor, arkit: torch.Tensor, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Return randomly cropped, flipped and colour-jittered (B, 3, size, size) images and matching ARKit targets."""
    b = x.shape[0]
    dev = x.device
    rel = (1.0 / DATA_CROP_SCALE) * (0.87 + 0.28 * torch.rand(b, generator=gen))
    shift = (torch.rand(b, 2, generator=gen) - 0.5) * 0.12 * rel[:, None]
    flip = torch.rand(b, generator=gen) < 0.5
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = rel * torch.where(flip, -1.0, 1.0)
    theta[:, 1, 1] = rel
    theta[:, :, 2] = shift * 2
    grid = F.affine_grid(theta.to(dev), [b, 3, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    arkit = torch.where(flip[:, None].to(dev), arkit[:, flip_permutation()], arkit)
    # Colour jitter.
    bright = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.5
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.5
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast.to(dev) + mean * bright.to(dev)
    gray = out.mean(1, keepdim=True)
    sat = torch.where(torch.rand(b, 1, 1, 1, generator=gen) < 0.15, 0.0, 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.6)
    out = gray + (out - gray) * sat.to(dev)
    blur = (torch.rand(b, generator=gen) < 0.2).to(dev)
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0], device=dev)
        k = (k[:, None] * k[None]) / 16
        blurred = F.conv2d(F.pad(out, (1, 1, 1, 1), mode="replicate"), k.expand(3, 1, 3, 3), groups=3)
        out = torch.where(blur[:, None, None, None], blurred, out)
    out = out + torch.randn(out.shape, generator=gen).to(dev) * (0.02 * torch.rand(b, 1, 1, 1, generator=gen)).to(dev)
    return out.clamp(0, 1), arkit


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Return the inference-time crop (1.0x the face box) of dataset images, resized to `size`."""
    b = x.shape[0]
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / DATA_CROP_SCALE
    grid = F.affine_grid(theta, [b, 3, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def evaluate(model: ExpressionNet, data: dict[str, np.ndarray], batch: int = 256) -> dict[str, float]:
    """Return accuracy, balanced accuracy, per-class recall, ARKit MAE and VA MAE on a dataset split."""
    model.eval()
    preds, ark, vas = [], [], []
    for i in range(0, len(data["labels"]), batch):
        x = centre_crop(to_tensor(data["images"][i:i + batch]), model.input_size)
        logits, a, va = model(x)
        preds.append(logits.argmax(1).numpy())
        ark.append(a.numpy())
        vas.append(va.numpy())
    p, y = np.concatenate(preds), data["labels"]
    recall = {EMOTIONS[k]: float((p[y == k] == k).mean()) for k in range(len(EMOTIONS)) if (y == k).any()}
    return {
        "n": int(len(y)),
        "accuracy": float((p == y).mean()),
        "balanced_accuracy": float(np.mean(list(recall.values()))),
        "recall": recall,
        "arkit_mae": float(np.abs(np.concatenate(ark) - data["arkit"]).mean()),
        "va_mae": float(np.abs(np.concatenate(vas) - data["va"]).mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("-o", "--output", default=str(WEIGHTS_PATH), help="checkpoint folder to write (default: the shipped one)")
    ap.add_argument("--init-from", default=None, help="fine-tune this checkpoint folder instead of starting from random weights")
    ap.add_argument("--subset", type=int, default=0, help="train on this many images drawn (seeded) from --train (0: all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train = dict(np.load(args.train))
    held = dict(np.load(args.heldout))
    if args.subset:
        pick = np.sort(np.random.default_rng(args.seed).permutation(len(train["labels"]))[: args.subset])
        train = {k: (v[pick] if np.ndim(v) and len(v) == len(train["labels"]) else v) for k, v in train.items()}
    model = ExpressionNet.from_pretrained(args.init_from) if args.init_from else ExpressionNet()
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    n = len(train["labels"])
    steps = args.epochs * math.ceil(n / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    images = to_tensor(train["images"])
    labels = torch.from_numpy(train["labels"])
    arkit = torch.from_numpy(train["arkit"])
    va = torch.from_numpy(train["va"])
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        tot = 0.0
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            x, a = augment(images[idx], arkit[idx], model.input_size, gen)
            logits, pa, pva = model(x)
            loss = (F.cross_entropy(logits, labels[idx], label_smoothing=0.05) + 2.0 * F.l1_loss(pa, a)
                    + 0.5 * F.l1_loss(pva, va[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
        m = evaluate(model, held)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {tot / n:.4f}  heldout acc {m['accuracy']:.3f} "
              f"bal {m['balanced_accuracy']:.3f} arkit MAE {m['arkit_mae']:.4f} VA MAE {m['va_mae']:.3f}  "
              f"({time.time() - t0:.0f} s)", flush=True)
    seconds = round(time.time() - t0)
    model.eval()
    held_metrics = evaluate(model, held)
    # Save before the slower extra evaluations, so a late failure never loses the trained model.
    out = Path(args.output)
    model.save_pretrained(out)  # the diffusers folder: config.json + diffusion_pytorch_model.safetensors
    (out / "metrics.json").write_text(json.dumps({"heldout": held_metrics, "trained_by": "scripts/train_expression_net.py"}, indent=2))
    subset = {k: (v[:2000] if np.ndim(v) else v) for k, v in train.items()}
    metrics = {"heldout": held_metrics, "train_subset": evaluate(model, subset), "parameters": n_params,
               "epochs": args.epochs, "seed": args.seed, "train_images": n, "train_seconds": seconds,
               "init_from": args.init_from, "lr": args.lr}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
