"""Writes a domain-randomised dataset of rendered faces with known emotion, ARKit weights and valence/arousal.

Recipe (all from one seed, so the data can be rebuilt exactly):
- identities: PCA identity seeds; the "train" split uses seeds 0-69, "heldout" 70-99 (unseen faces);
- appearance: 5 skin tones with +-6% RGB jitter, 5 eye colours;
- camera: train yaw U(-60, 60) deg, pitch U(-10, 10); heldout yaw +-U(60, 90), pitch U(-15, 15) (unseen views,
  up to full profile);
  distance +-10%; rigid head pose +-6 deg per axis;
- lights: random key direction in the front hemisphere, key 0.55-1.25, fill 0.05-0.5, ambient 0.08-0.3, warm/cool tint;
- background: flat colour, linear gradient, or smooth noise (rendered with alpha, then composited);
- expression: one of the 8 emotions uniformly; intensity U(0.35, 1) (neutral: 0); with p=0.3 a second emotion
  mixed in at U(0, 0.35); blinks (p=0.1), gaze (p=0.5) and talking jaw (p=0.3) as nuisance motion;
- targets: the emotion label, the 52 ARKit weights actually posed, and valence/arousal of the mixture;
- images: a square crop of 1.4x the renderer's face box (`GLRenderer.face_boxes`, squared), 128x128 uint8.

    python scripts/make_render_dataset.py --n 24000 --split train --seed 0 -o /tmp/emo_train.npz
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from avatar.emotion import EMOTIONS, mixture_to_va
from avatar.head import default_head
from avatar.rig import index_of
from generators.expression import expression_weights
from avatar.appearance import EYE_COLOURS, SKIN_TONES, Appearance
from renderers.cameras import Camera
from renderers.gl import GLRenderer
from renderers.lighting import Lighting
from renderers.options import RendererOptions

CROP = 128
CROP_SCALE = 1.4
RENDER = 256
SPLITS = {"train": (range(0, 70), (0, 60)), "heldout": (range(70, 100), (60, 90))}


def random_lighting(rng: np.random.Generator) -> Lighting:
    az, el = rng.uniform(-1.0, 1.0), rng.uniform(-0.2, 0.9)
    key = (np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el))
    tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.08, 0.08) * np.array([1.0, 0.2, -1.0])
    k, f, a = rng.uniform(0.55, 1.25), rng.uniform(0.05, 0.5), rng.uniform(0.08, 0.3)
    return Lighting(key_dir=tuple(key), fill_dir=(-key[0] - 0.3, 0.1, 0.6), key_rgb=tuple(k * tint),
                    fill_rgb=(f, f, f * 1.05), ambient=(a, a, a), specular=rng.uniform(0.0, 0.25))


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(3)
    c0 = rng.uniform(0, 1, 3)
    if kind == 0:
        return np.broadcast_to(c0, (size, size, 3)).copy()
    if kind == 1:
        c1 = rng.uniform(0, 1, 3)
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[:size, :size] / size
        t = np.clip(0.5 + (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)), 0, 1)[..., None]
        return c0 * (1 - t) + c1 * t
    small = rng.uniform(0, 1, (6, 6, 3))
    from PIL import Image

    img = Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    return np.asarray(img) / 255.0


def sample_expression(rng: np.random.Generator) -> tuple[np.ndarray, int, float, float]:
    """Return (ARKit weights, emotion index, valence, arousal) of one random expression."""
    k = int(rng.integers(len(EMOTIONS)))
    label = EMOTIONS[k]
    intensity = 0.0 if label == "neutral" else float(rng.uniform(0.35, 1.0))
    mix = {label: max(intensity, 1e-3)}
    if rng.random() < 0.3:
        other = EMOTIONS[int(rng.integers(1, len(EMOTIONS)))]
        if other != label:
            mix[other] = float(rng.uniform(0.0, 0.35)) * (1.0 if label != "neutral" else 0.6)
    if len(mix) == 1:
        w = expression_weights(emotion=label, intensity=intensity) if label != "neutral" else np.zeros(52, np.float32)
    else:
        w = expression_weights(mixture=mix)
    w = w.copy()
    # VA of an expression scales with its intensity (neutral sits at the origin).
    v, a = mixture_to_va(mix)
    if rng.random() < 0.1:
        w[index_of("eyeBlinkLeft")] = w[index_of("eyeBlinkRight")] = rng.uniform(0.3, 1.0)
    if rng.random() < 0.5:
        gx, gy = rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4)
        # Looking to the subject's left: left eye looks out, right eye looks in.
        w[index_of("eyeLookOutLeft")] = w[index_of("eyeLookInRight")] = max(gx, 0)
        w[index_of("eyeLookInLeft")] = w[index_of("eyeLookOutRight")] = max(-gx, 0)
        for s in ("Left", "Right"):
            w[index_of(f"eyeLookUp{s}")] = max(gy, 0)
            w[index_of(f"eyeLookDown{s}")] = max(-gy, 0)
    if rng.random() < 0.3:
        w[index_of("jawOpen")] = min(1.0, w[index_of("jawOpen")] + rng.uniform(0, 0.35))
    return np.clip(w, 0, 1).astype(np.float32), k, float(v), float(a)


def crop_box(box: np.ndarray, scale: float = CROP_SCALE) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * scale / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24000)
    ap.add_argument("--split", choices=sorted(SPLITS), default="train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block", type=int, default=48, help="samples per identity/appearance block")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    from PIL import Image
    from tqdm.auto import tqdm

    rng = np.random.default_rng(args.seed)
    ids, (yaw_lo, yaw_hi) = SPLITS[args.split]
    base = default_head()
    renderer = GLRenderer(base, RendererOptions(width=RENDER, height=RENDER, background=None))
    images = np.zeros((args.n, CROP, CROP, 3), np.uint8)
    arkit = np.zeros((args.n, 52), np.float32)
    labels = np.zeros(args.n, np.int64)
    va = np.zeros((args.n, 2), np.float32)
    meta = np.zeros((args.n, 3), np.float32)  # identity, yaw, pitch
    t0 = time.time()
    for i in tqdm(range(args.n), desc=f"render {args.split}", unit="img", mininterval=5):
        if i % args.block == 0:
            ident = int(rng.choice(list(ids)))
            skin = np.clip(np.array(SKIN_TONES[list(SKIN_TONES)[rng.integers(len(SKIN_TONES))]]) * rng.uniform(0.94, 1.06, 3), 0, 1)
            eyes = list(EYE_COLOURS)[rng.integers(len(EYE_COLOURS))]
            renderer.set_head(base.with_identity(ident) if ident else base, Appearance(skin=tuple(skin), eyes=eyes))
        w, k, v, a = sample_expression(rng)
        if args.split == "train":
            yaw = rng.uniform(-yaw_hi, yaw_hi)
        else:  # unseen views: beyond the training range on either side
            yaw = rng.uniform(yaw_lo, yaw_hi) * rng.choice([-1.0, 1.0])
        pitch = rng.uniform(-10, 10) if args.split == "train" else rng.uniform(-15, 15)
        cam = Camera.preset(yaw=yaw, pitch=pitch, distance=62.0 * rng.uniform(0.9, 1.1))
        renderer.set_camera(cam)
        renderer.set_lighting(random_lighting(rng))
        hp = np.concatenate([np.radians(rng.uniform(-6, 6, 3)), [0, 0, 0]]).astype(np.float32)
        verts = renderer.head.pose(w, hp)
        rgba = renderer.render_vertices(verts).astype(np.float32) / 255.0
        bg = random_background(rng, RENDER)
        rgb = rgba[..., :3] * rgba[..., 3:] + bg * (1 - rgba[..., 3:])
        # The same face box the renderer reports at inference time, squared and widened for augmentation.
        box = crop_box(renderer.face_boxes(w[None], hp[None])[0])
        # Edge-pad so a crop box reaching past the frame still sees background, not black.
        pad = RENDER // 2
        padded = np.pad((rgb * 255).astype(np.uint8), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        crop = Image.fromarray(padded).resize((CROP, CROP), Image.BILINEAR, box=tuple(box + pad))
        images[i] = np.asarray(crop)
        arkit[i], labels[i], va[i], meta[i] = w, k, (v, a), (ident, yaw, pitch)
    renderer.close()
    np.savez(args.output, images=images, arkit=arkit, labels=labels, va=va, meta=meta, emotions=np.array(EMOTIONS),
             crop_scale=CROP_SCALE, seed=args.seed, split=args.split)
    print(f"wrote {args.output}: {args.n} images in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
