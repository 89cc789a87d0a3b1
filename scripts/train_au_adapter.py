"""Trains our AU adapter (AU tokens into cross-attention) on a local Stable Diffusion checkpoint and a folder of faces.

Labels come from our recognizers, so no AU annotation is needed: each image's largest face is found
(`recognizers.faces.detect_boxes`), cropped square with a margin and resized to the model's size; ExpressionNet
reads its ARKit weights, which `avatar.facs_inverse.arkit_to_sides` turns into the (left, right) AU condition the
adapter learns; FER2013's label is kept in labels.json for reference. Only the adapter trains; the checkpoint's
VAE, text encoder and UNet stay frozen. Seeded; everything local (the checkpoint is read with local_files_only).

    python scripts/train_au_adapter.py --sd ./stable-diffusion-v1-5 --images ./faces -o ./my-sd-au-adapter --steps 2000
    emoavatar portrait --model ./my-sd-au-adapter --emotion happy -o out/

Caveat: ExpressionNet was trained on renders of our head, so its AU read-back on photographs is approximate;
labels.json records it per image, and any other labeller's AUs can be dropped in its place.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def label_faces(folder: Path, size: int, margin: float, device: str, log: callable) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Return ((N, size, size, 3) uint8 face crops, (N, 2 * NUM_AU) float32 AU conditions, per-image label records)."""
    import torch
    from PIL import Image

    from avatar.facs import AU_NUMBERS
    from avatar.facs_inverse import arkit_to_sides
    from recognizers.expression_net import ExpressionNetRecognizer
    from recognizers.faces import detect_boxes
    from recognizers.fer2013 import FER2013Recognizer

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SystemExit(f"no images ({', '.join(SUFFIXES)}) under {folder}")
    expr = ExpressionNetRecognizer.from_default(device=device)
    fer = FER2013Recognizer(device=device, detect_faces=False)
    crops, conds, records = [], [], []
    for path in files:
        img = np.asarray(Image.open(path).convert("RGB"))
        box = detect_boxes(img[None])[0]
        if not np.isfinite(box).all():
            records.append({"file": str(path.relative_to(folder)), "face": False})
            continue
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * (1 + margin) / 2
        pad = int(half) + 1
        padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        crop = np.asarray(Image.fromarray(padded).resize((size, size), Image.BICUBIC,
                                                         box=(cx - half + pad, cy - half + pad, cx + half + pad, cy + half + pad)))
        x = torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float().div(255).to(expr.device)
        rec = expr.recognize(x)
        sides = arkit_to_sides(rec.arkit[0].cpu().numpy())
        label = fer.recognize(x.to(fer.device)).labels[0]
        crops.append(crop)
        conds.append(sides.reshape(-1).astype(np.float32))
        records.append({"file": str(path.relative_to(folder)), "face": True, "box": [round(float(v), 1) for v in box],
                        "fer2013": label, "aus": {f"{s}{AU_NUMBERS[i]}": round(float(v), 3) for s, row in zip("LR", sides)
                                                  for i, v in enumerate(row) if v > 0.05}})
    log(f"labelled {len(crops)} faces of {len(files)} images")
    if not crops:
        raise SystemExit("no faces found: the adapter needs face images")
    return np.stack(crops), np.stack(conds), records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sd", required=True, help="a local Stable Diffusion 1.5/2.x folder (diffusers layout)")
    ap.add_argument("--images", required=True, help="a folder of face images (searched recursively)")
    ap.add_argument("-o", "--output", required=True, help="where the whole pipeline (checkpoint + adapter) is saved")
    ap.add_argument("--adapter", default=None, help="continue from this AUTokenEncoder folder")
    ap.add_argument("--tokens", type=int, default=4, help="AU tokens appended to the prompt (default 4)")
    ap.add_argument("--size", type=int, default=None, help="training resolution (default: the checkpoint's)")
    ap.add_argument("--margin", type=float, default=0.4, help="crop margin around the detected face (default 0.4)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--prompt", default="a close-up photograph of a person's face")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import torch

    from avatar.device import resolve_device
    from generators.portrait.sd_adapter import AUAdapterSDPipeline
    from generators.portrait.sd_training import AdapterTrainingOptions, train_au_adapter

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    pipe = AUAdapterSDPipeline.from_sd_checkpoint(args.sd, au_encoder=args.adapter, num_tokens=args.tokens).to(device)
    size = args.size or int(pipe.unet.config.sample_size) * pipe.vae_scale_factor
    crops, conds, records = label_faces(Path(args.images), size, args.margin, str(device), log)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(crops))
    batches = []
    for s in range(0, max(len(order) - args.batch + 1, 1), args.batch):
        idx = order[s:s + args.batch]
        batches.append((torch.from_numpy(crops[idx]).permute(0, 3, 1, 2).float().div(255).to(device),
                        torch.from_numpy(conds[idx]).to(device)))
    opts = AdapterTrainingOptions(steps=args.steps, lr=args.lr, prompt=args.prompt, seed=args.seed)
    t0 = time.time()
    losses = train_au_adapter(pipe, batches, opts, log=log, progress=True)
    out = Path(args.output)
    pipe.save_pretrained(out)
    (out / "labels.json").write_text(json.dumps(records, indent=1))
    (out / "adapter_training.json").write_text(json.dumps(
        {"sd": str(args.sd), "images": str(args.images), "faces": len(crops), "steps": args.steps, "batch": args.batch, "lr": args.lr,
         "prompt": args.prompt, "seed": args.seed, "size": size, "tokens": args.tokens, "seconds": round(time.time() - t0, 1),
         "loss": [round(v, 5) for v in losses[:: max(1, len(losses) // 200)]]}, indent=1))
    log(f"saved {out}")


if __name__ == "__main__":
    main()
