"""Trains the embedded portrait model's base: an AU-conditioned 64x64 diffusion UNet on domain-randomised renders of our head.

The shipped model is a cascade: this base (64 px) and a 2x upsampler (scripts/train_portrait_upsampler.py, trained
on the 128 px crops this script also writes to its render cache) in one `PortraitPipeline` folder.

Recipe (one seed rebuilds the data and the run exactly, up to the wall-clock cap):
- conditions: the AUs that pose each render (the same catalogue, `avatar.facs.ActionUnits`, that drives the head):
  10% neutral; 60% one EMFACS emotion (FACS prototypes, `generators.expression.expression_aus`) at intensity
  0.3 + 0.7 sqrt(U) (mean 0.77: the extremes weighted up); 10% a two-emotion mixture; 20% 1-4 random AUs (gaze
  excluded; 20% of them one-sided); 8% of all get a blink (AU45) added. Poses are `ActionUnits.to_arkit()` of
  exactly that condition, and the condition vector is `ActionUnits.to_sides()` flattened (left, right per AU).
- renders (`renderers.gl`, 192 px, no anti-aliasing, cropped then resized to 64 and to 128 px), worker processes
  with their own seeds, of the default `Appearance` (skin detail, soft shadows, clothing; hair style, hair, brow
  and clothing colours drawn by `Appearance.from_seed(identity)`): identity seeds 0-199 (the head's PCA identities, a new one every 8 renders), 5 skin tones with +-6% RGB
  jitter, 5 eye colours, camera yaw U(-15, 15), pitch U(-6, 6), distance +-3%, rigid head pose +-3 deg per axis, a
  near-frontal key/fill/ambient light with a slight warm/cool tint (`calm_lighting`) and a muted flat (70%) or
  two-tone vertical gradient background (`plain_background`); a square crop of 1.0x the renderer's face box (a face
  detector's framing, brows to chin: the real-face judges read renders best there) resized to 64x64;
- augmentation: horizontal flip with the condition's left and right swapped (the flip mirrors the face);
- model: `AUConditionedUNet` (diffusers UNet2DModel, blocks 16/32/64/96, attention at 8x8, 3.07M parameters of which
  0.79M are the condition basis): the AU vector enters twice, through an MLP added to a 256-wide time embedding that
  FiLMs every resnet (`resnet_time_scale_shift="scale_shift"`), and as a 3-channel spatial map concatenated to the
  noisy input: a learned linear map from the AUs, initialised by the ridge regression of the training images on
  their conditions (`regression_basis`: each AU's average pixel change, where on the face it acts), trained at a
  tenth of the learning rate. v-prediction (`--prediction`) on a 1000-step squared-cosine DDPM schedule rescaled
  to zero terminal SNR (`rescale_betas_zero_snr`; `--no-zero-snr` keeps the old end), min-SNR-5 loss weighting
  in v's form, the condition dropped (null embedding, zero map) 10% of the time (classifier-free guidance),
  optionally warm-started from a previous model's UNet (`--init`, a pipeline folder's unet/, same config; a cascade
  folder works, its upsampler is not read), AdamW lr 1e-3 with 100 warm-up steps (`--warmup`) and cosine decay
  over the planned steps or the wall-clock cap, whichever ends first, batch 16, EMA 0.995 of the weights is what ships (an EMA pipeline is saved every --checkpoint-every steps);
- saved as a `PortraitPipeline` folder (model_index.json, unet/ in float16, scheduler/ = DPM-Solver++ 2M), with
  the loss log and curve (training_log.json, loss.png) and the recipe in recipe.json. The sampler starts at t = 999
  ("trailing" spacing, where the zero-SNR model was trained on pure noise) and thresholds x0 to the image range
  (`sampler_config`). The upsampler script then adds the 2x stage and writes the shipped folder.

    # the shipped base (16 min of renders + 55 min of training on 2 busy cores), then its 2x stage:
    python scripts/train_portrait_model.py --init generators/portrait/weights/emoavatar-portrait-64 -o /tmp/base
    python scripts/train_portrait_upsampler.py --pipeline /tmp/base -o generators/portrait/weights/emoavatar-portrait-128
    # a continuation of the shipped base (warm start from the cascade's unet/, lower peak, short warm-up):
    python scripts/train_portrait_model.py --init generators/portrait/weights/emoavatar-portrait-128 --lr 3e-4 --warmup 50 -o /tmp/base2
    python scripts/train_portrait_model.py --n-images 64 --steps 5 -o /tmp/p  # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("/tmp/emoavatar_portrait_base")
"""The base alone is not the shipped folder: scripts/train_portrait_upsampler.py writes that."""
IMAGE = 64
HIRES = 128
"""The upsampler's targets (scripts/train_portrait_upsampler.py): the same crop at twice the base model's size."""
RENDER = 192
"""At 192 px the 1.0x face box is ~126 px wide, so the 128 px crop is (nearly) native resolution."""
CROP_SCALE = 1.0
GAZE_AUS = (61, 62, 63, 64)
MODEL_CONFIG = {"block_out_channels": (16, 32, 64, 96), "time_embedding_dim": 256, "resnet_time_scale_shift": "scale_shift",
                "condition_map_channels": 3}
"""The UNet: FiLM conditioning (the AU embedding, added to the time embedding, scales and shifts every resnet) and
a spatial AU map (3 channels, initialised by `regression_basis`) concatenated to the noisy input."""
BASIS_LR_SCALE = 0.1
"""The condition basis starts at the data's regression and moves at a tenth of the learning rate."""


def sample_condition(rng: np.random.Generator) -> object:
    """Return one random `ActionUnits` condition drawn by the recipe above (emotional extremes weighted up)."""
    from avatar.emotion import EMOTIONS
    from avatar.facs import AU_NUMBERS, ActionUnits
    from generators.expression import expression_aus

    u = rng.random()
    if u < 0.10:
        aus = ActionUnits()
    elif u < 0.70:
        label = EMOTIONS[int(rng.integers(1, len(EMOTIONS)))]
        aus = expression_aus(emotion=label, intensity=float(0.3 + 0.7 * math.sqrt(rng.random())))
    elif u < 0.80:
        a, b = rng.choice(np.arange(1, len(EMOTIONS)), 2, replace=False)
        aus = expression_aus(mixture={EMOTIONS[a]: float(rng.uniform(0.5, 1.0)), EMOTIONS[b]: float(rng.uniform(0.1, 0.5))})
    else:
        pool = [n for n in AU_NUMBERS if n not in GAZE_AUS and n != 43]
        picks = rng.choice(pool, int(rng.integers(1, 5)), replace=False)
        spec = {}
        for n in picks:
            side = "" if n != 30 and rng.random() > 0.2 else ("L" if rng.random() < 0.5 else "R")
            spec[f"{side}{n}" if side else f"AU{n}"] = float(rng.uniform(0.4, 1.0))
        aus = ActionUnits(spec)
    if rng.random() < 0.08:
        d = aus.to_dict()
        d["AU45"] = float(rng.uniform(0.4, 1.0))
        aus = ActionUnits(d)
    return aus


def calm_lighting(rng: np.random.Generator) -> object:
    """Return a random near-frontal portrait light (key, fill, ambient, slight warm/cool tint): varied, never hiding the face."""
    from renderers.lighting import Lighting

    az, el = rng.uniform(-0.5, 0.5), rng.uniform(0.1, 0.6)
    key = (math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el))
    tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.05, 0.05) * np.array([1.0, 0.2, -1.0])
    k, f, a = rng.uniform(0.8, 1.15), rng.uniform(0.2, 0.4), rng.uniform(0.08, 0.16)
    return Lighting(key_dir=key, fill_dir=(-key[0] - 0.3, 0.1, 0.6), key_rgb=tuple(k * tint),
                    fill_rgb=(f, f, f * 1.05), ambient=(a, a, a), specular=float(rng.uniform(0.05, 0.2)))


def plain_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return a (size, size, 3) float background: a muted flat colour (70%) or a soft vertical gradient of two."""
    def muted() -> np.ndarray:
        return np.clip(rng.uniform(0.25, 0.8) + rng.uniform(-0.08, 0.08, 3), 0, 1)

    c0 = muted()
    if rng.random() < 0.7:
        return np.broadcast_to(c0, (size, size, 3)).copy()
    t = np.linspace(0, 1, size)[:, None, None]
    return c0 * (1 - t) + muted() * t


def render_chunk(n: int, seed: int, chunk: int) -> dict[str, np.ndarray]:
    """Return {"images": (n, 64, 64, 3) uint8, "images_hr": (n, 128, 128, 3) uint8 (the same crops), "conditions": (n, 2 * NUM_AU)
    float32, "meta": (n, 4)} of one worker's chunk."""
    sys.path.insert(0, str(ROOT / "scripts"))
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from avatar.appearance import EYE_COLOURS, SKIN_TONES, Appearance
    from avatar.head import default_head
    from renderers.cameras import Camera
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    rng = np.random.default_rng([seed, chunk])
    base = default_head()
    renderer = GLRenderer(base, RendererOptions(width=RENDER, height=RENDER, background=None, samples=0))
    images = np.zeros((n, IMAGE, IMAGE, 3), np.uint8)
    images_hr = np.zeros((n, HIRES, HIRES, 3), np.uint8)
    conds = np.zeros((n, 2 * 32), np.float32)
    meta = np.zeros((n, 4), np.float32)  # identity, skin index, yaw, pitch
    t0 = time.time()
    for i in range(n):
        if i % 8 == 0:
            ident = int(rng.integers(0, 200))
            tone = int(rng.integers(len(SKIN_TONES)))
            skin = np.clip(np.array(SKIN_TONES[list(SKIN_TONES)[tone]]) * rng.uniform(0.94, 1.06, 3), 0, 1)
            eyes = list(EYE_COLOURS)[rng.integers(len(EYE_COLOURS))]
            # The default look (skin detail, shadows, clothing) with the hair style and colours drawn from the identity.
            renderer.set_head(base.with_identity(ident) if ident else base, Appearance.from_seed(ident, skin=tuple(skin), eyes=eyes))
        aus = sample_condition(rng)
        w = aus.to_arkit()
        yaw, pitch = rng.uniform(-15, 15), rng.uniform(-6, 6)
        renderer.set_camera(Camera.preset(yaw=yaw, pitch=pitch, distance=62.0 * rng.uniform(0.97, 1.03)))
        renderer.set_lighting(calm_lighting(rng))
        hp = np.concatenate([np.radians(rng.uniform(-3, 3, 3)), [0, 0, 0]]).astype(np.float32)
        rgba = renderer.render_vertices(renderer.head.pose(w, hp)).astype(np.float32) / 255.0
        rgb = rgba[..., :3] * rgba[..., 3:] + plain_background(rng, RENDER) * (1 - rgba[..., 3:])
        box = crop_box(renderer.face_boxes(w[None], hp[None])[0], CROP_SCALE)
        pad = RENDER // 2
        padded = np.pad((rgb * 255).astype(np.uint8), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        frame = Image.fromarray(padded)
        images[i] = np.asarray(frame.resize((IMAGE, IMAGE), Image.BILINEAR, box=tuple(box + pad)))
        images_hr[i] = np.asarray(frame.resize((HIRES, HIRES), Image.BILINEAR, box=tuple(box + pad)))
        conds[i] = aus.to_sides().reshape(-1)
        meta[i] = (ident, tone, yaw, pitch)
        if (i + 1) % 400 == 0:
            print(f"chunk {chunk}: rendered {i + 1}/{n} ({(time.time() - t0) / (i + 1) * 1000:.0f} ms each)", flush=True)
    renderer.close()
    return {"images": images, "images_hr": images_hr, "conditions": conds, "meta": meta}


def crop_box(box: np.ndarray, scale: float) -> np.ndarray:
    """Return the square (x0, y0, x1, y1) of `scale` x the renderer's face box (a detector's framing at scale 1)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * scale / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def render_dataset(n: int, seed: int, workers: int) -> dict[str, np.ndarray]:
    """Return the concatenated chunks of `n` renders from `seed`, rendered by `workers` processes (one GL context each)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    sizes = [n // workers + (k < n % workers) for k in range(workers)]
    if workers == 1:
        parts = [render_chunk(sizes[0], seed, 0)]
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(render_chunk, sizes, [seed] * workers, range(workers)))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def sampler_config(cls: type, train_config: dict) -> object:
    """Return the shipped sampler: DPM-Solver++ 2M on the training schedule (v-prediction, zero terminal SNR).

    "trailing" spacing makes the first step t = 999, the pure-noise end the model was trained at (with zero
    terminal SNR the model's x0 there is its own estimate, not noise divided by ~0, which is what tinted whole
    images under epsilon prediction); dynamic thresholding keeps each step's x0 inside the image range.
    """
    if train_config.get("prediction_type") == "epsilon":  # the 64 px model's recipe: clip the schedule's noisy end
        return cls.from_config(train_config, algorithm_type="dpmsolver++", solver_order=2, lambda_min_clipped=-3.0,
                               thresholding=True, sample_max_value=1.0)
    return cls.from_config(train_config, algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing",
                           thresholding=True, sample_max_value=1.0)


def plot_curve(xs: list[float], ys: list[float], path: Path, title: str) -> None:
    """Write a small log-scale line plot of ys against xs as PNG (PIL only: matplotlib is not a dependency)."""
    from PIL import Image, ImageDraw

    w, h, m = 480, 280, 40
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    if len(xs) > 1:
        ly = np.log10(np.maximum(ys, 1e-6))
        lo, hi = float(ly.min()), float(ly.max()) + 1e-9
        pts = [(m + (x - xs[0]) / (xs[-1] - xs[0]) * (w - 2 * m), h - m - (v - lo) / (hi - lo) * (h - 2 * m)) for x, v in zip(xs, ly)]
        d.line(pts, fill=(30, 90, 200), width=2)
        d.text((4, m - 10), f"{10 ** hi:.3g}", fill="black")
        d.text((4, h - m - 6), f"{10 ** lo:.3g}", fill="black")
        d.text((m, h - m + 6), f"step {xs[0]}", fill="black")
        d.text((w - m - 60, h - m + 6), f"step {xs[-1]}", fill="black")
    d.rectangle([m, m, w - m, h - m], outline="black")
    d.text((m, 10), title + " (log scale)", fill="black")
    img.save(path)


def save_pipeline(ema: torch.nn.Module, train_config: dict, folder: Path) -> None:
    """Write a loadable `PortraitPipeline` folder of the EMA UNet (float16 safetensors) and the shipped sampler."""
    import copy

    import torch
    from diffusers import DPMSolverMultistepScheduler

    from generators.portrait.pipeline import PortraitPipeline

    # Shipped in float16: loading casts back to the model's float32, and sampling cannot tell the difference.
    unet = copy.deepcopy(ema).to(torch.float16).eval()
    PortraitPipeline(unet=unet, scheduler=sampler_config(DPMSolverMultistepScheduler, train_config)).save_pretrained(folder)


def regression_basis(images: torch.Tensor, conditions: torch.Tensor, ridge: float = 1.0) -> torch.Tensor:
    """Return the (D, 3, S, S) ridge-regression coefficients of the images on their conditions (with an intercept).

    Each AU's coefficient image is the average pixel change it causes in the data (e.g. AU12 brightens and
    widens the mouth corners): it initialises `AUConditionedUNet.condition_basis`, so the condition enters the
    UNet from step 0 as a spatial map of where on the face each AU acts. Mirrored copies (left and right
    swapped) are included, as in training.
    """
    import torch

    x = torch.cat([images, images.flip(-1)]).reshape(2 * len(images), -1).double()
    c = torch.cat([conditions, swap_sides(conditions)]).double()
    a = torch.cat([c, torch.ones(len(c), 1, dtype=torch.float64)], dim=1)
    reg = ridge * torch.eye(a.shape[1], dtype=torch.float64)
    reg[-1, -1] = 0.0  # the intercept is not shrunk
    coef = torch.linalg.solve(a.T @ a + reg, a.T @ (x - x.mean(0)))
    return coef[:-1].float().reshape(conditions.shape[1], *images.shape[1:])


def swap_sides(conditions: torch.Tensor) -> torch.Tensor:
    """Return (B, 2 * NUM_AU) conditions with the left and right halves exchanged (the mirror image's AUs)."""
    import torch

    half = conditions.shape[1] // 2
    return torch.cat([conditions[:, half:], conditions[:, :half]], dim=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=3200)
    ap.add_argument("--steps", type=int, default=4000, help="planned steps (the cosine decay ends here or at --max-minutes)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100, help="linear warm-up steps before the cosine decay")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared, busy CPU)")
    ap.add_argument("--max-minutes", type=float, default=55.0, help="stop training (and save) after this much wall time")
    ap.add_argument("--render-workers", type=int, default=1, help="rendering processes (one GL context each)")
    ap.add_argument("--checkpoint-every", type=int, default=300, help="save the EMA pipeline every this many steps (0: never)")
    ap.add_argument("--checkpoints", default="/tmp/emoavatar_portrait_checkpoints", help="folder of the checkpoint-N pipelines")
    ap.add_argument("--data", default="/tmp/emoavatar_portrait_data_v3.npz", help="render cache (rebuilt when absent)")
    ap.add_argument("--prediction", default="v_prediction", choices=("v_prediction", "epsilon"),
                    help="what the UNet predicts (v: x0 is well posed at every noise level; no whole-image colour casts)")
    ap.add_argument("--no-zero-snr", action="store_true", help="keep the cosine schedule's non-zero terminal SNR")
    ap.add_argument("--init", default=None, help="a PortraitPipeline folder whose UNet (same config) starts the run")
    ap.add_argument("--render-only", action="store_true", help="build the render cache and stop")
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUT))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a file from anywhere: the toolkit's packages come from this checkout

    import torch
    from diffusers import DDPMScheduler

    from generators.portrait.models.au_unet import AUConditionedUNet

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        log_lines.append(line)
        print(line, flush=True)

    torch.set_num_threads(args.threads)
    t_start = time.time()
    data_path = Path(args.data)
    cached = dict(np.load(data_path)) if data_path.is_file() else {}
    if cached and int(cached["seed"]) == args.seed and len(cached["images"]) == args.n_images \
            and int(cached.get("workers", -1)) == args.render_workers and float(cached.get("crop", -1)) == CROP_SCALE \
            and int(cached.get("render", -1)) == RENDER and "images_hr" in cached:
        data = cached
        log(f"loaded {args.n_images} renders from {data_path}")
    else:
        data = render_dataset(args.n_images, args.seed, args.render_workers)
        tmp = data_path.with_name(data_path.stem + ".tmp.npz")
        np.savez(tmp, seed=args.seed, workers=args.render_workers, crop=CROP_SCALE, render=RENDER, **data)
        tmp.replace(data_path)  # atomic: a reader never sees half a cache
    render_seconds = time.time() - t_start
    log(f"data ready in {render_seconds:.0f} s")
    if args.render_only:
        return
    zero_snr = not args.no_zero_snr
    if zero_snr and args.prediction == "epsilon":
        sys.exit("--prediction epsilon cannot learn the zero-SNR end (the noise is all there is): add --no-zero-snr")

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images = torch.from_numpy(data["images"]).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    conds = torch.from_numpy(data["conditions"])
    if args.init:
        # Warm start: the previous model already draws faces; the run teaches it the new look and the v target.
        model = AUConditionedUNet.from_pretrained(Path(args.init) / "unet").float()
        if any(model.config[k] != (list(v) if isinstance(v, tuple) else v) for k, v in MODEL_CONFIG.items()):
            sys.exit(f"--init {args.init}: its UNet config differs from MODEL_CONFIG {MODEL_CONFIG}")
        model.train()
        log(f"warm start from {args.init}")
    else:
        model = AUConditionedUNet(**MODEL_CONFIG)
        with torch.no_grad():
            model.condition_basis.copy_(regression_basis(images, conds))
    ema = AUConditionedUNet.from_config(model.config)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params / 1e6:.2f} M parameters")
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type=args.prediction,
                          rescale_betas_zero_snr=zero_snr)
    alphas = sched.alphas_cumprod
    snr = alphas / (1 - alphas)
    rest = [p for n, p in model.named_parameters() if n != "condition_basis"]
    opt = torch.optim.AdamW([{"params": rest, "scale": 1.0}, {"params": [model.condition_basis], "scale": BASIS_LR_SCALE,
                                                               "weight_decay": 0.0}], lr=args.lr, weight_decay=1e-4)
    warm = max(1, args.warmup)
    cap = args.max_minutes * 60

    def lr_at(s: int) -> float:
        """Warm-up, then cosine decay over whichever runs out first: the planned steps or the wall-clock cap."""
        progress = min(1.0, max(s / args.steps, (time.time() - t_train) / cap))
        return args.lr * min(1.0, (s + 1) / warm) * (0.5 * (1 + math.cos(math.pi * progress)) * 0.95 + 0.05)

    history: dict[str, list[float]] = {"step": [], "loss": [], "seconds": []}
    running, t_train, step = [], time.time(), 0
    model.train()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step) * g["scale"]
        idx = torch.randint(0, len(images), (args.batch,), generator=gen)
        x0, c = images[idx], conds[idx]
        flip = torch.rand(args.batch, generator=gen) < 0.5
        x0 = torch.where(flip.view(-1, 1, 1, 1), x0.flip(-1), x0)
        c = torch.where(flip.view(-1, 1), swap_sides(c), c)
        keep = torch.rand(args.batch, generator=gen) >= 0.1
        t = torch.randint(0, 1000, (args.batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        xt = sched.add_noise(x0, noise, t)
        pred = model(xt, t, c, keep).sample
        # min-SNR-5: the low-noise steps (easy, many) stop dominating the gradient. As an x0 loss, epsilon's MSE
        # weighs snr and v's weighs snr + 1; both are capped at 5 (v keeps weight 1 at the pure-noise end).
        if args.prediction == "epsilon":
            target, weight = noise, torch.clamp(snr[t], max=5.0) / snr[t]
        else:
            target, weight = sched.get_velocity(x0, noise, t), torch.clamp(snr[t] + 1, max=5.0) / (snr[t] + 1)
        loss = (weight * (pred - target).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        decay = min(0.995, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        running.append(loss.item())
        if (step + 1) % 25 == 0:
            history["step"].append(step + 1)
            history["loss"].append(float(np.mean(running)))
            history["seconds"].append(round(time.time() - t_train, 1))
            running = []
        if (step + 1) % 100 == 0:
            log(f"step {step + 1}/{args.steps} loss {history['loss'][-1]:.4f} ({(time.time() - t_train) / (step + 1):.2f} s/step)")
        if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0:
            save_pipeline(ema, sched.config, Path(args.checkpoints) / f"checkpoint-{step + 1}")
        if time.time() - t_train > cap:
            log(f"wall-clock cap of {args.max_minutes} min reached at step {step + 1}")
            break
    steps_done = step + 1
    train_seconds = time.time() - t_train
    save_pipeline(ema, sched.config, out)
    recipe = {"seed": args.seed, "n_images": args.n_images, "image_size": IMAGE, "render_size": RENDER, "crop_scale": CROP_SCALE,
              "steps_planned": args.steps, "steps_done": steps_done, "batch": args.batch, "lr": args.lr, "warmup": warm, "ema": 0.995,
              "condition_dropout": 0.1, "min_snr_gamma": 5.0, "prediction_type": args.prediction,
              "zero_terminal_snr": zero_snr, "init": args.init, "parameters": n_params, "threads": args.threads,
              "render_seconds": round(render_seconds, 1), "train_seconds": round(train_seconds, 1),
              "model": dict(MODEL_CONFIG), "command": " ".join(sys.argv),
              "basis_lr_scale": BASIS_LR_SCALE, "render_workers": args.render_workers,
              "conditions": "10% neutral / 60% emotion at 0.3 + 0.7 sqrt(U) / 10% mixture / 20% random AUs, 8% + blink; "
                            "hflip swaps L/R",
              "domain": "the default Appearance (skin detail, shadows, clothing; hair style and colours from Appearance.from_seed(identity)), "
                        "identities 0-199, 5 skin tones +-6%, 5 eye colours, yaw +-15, pitch +-6, distance +-3%, head pose +-3 deg, "
                        "near-frontal key/fill/ambient + tint, muted flat/gradient backgrounds, crop 1.0x face box"}
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    (out / "training_log.json").write_text(json.dumps({"history": history, "log": log_lines}, indent=1))
    target_name = "eps" if args.prediction == "epsilon" else "v"
    plot_curve(history["step"], history["loss"], out / "loss.png", f"portrait UNet loss (min-SNR {target_name} MSE, batch {args.batch})")
    log(f"saved {out} ({steps_done} steps, {train_seconds / 60:.1f} min training)")


if __name__ == "__main__":
    main()
