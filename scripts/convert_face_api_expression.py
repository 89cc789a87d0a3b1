"""Writes recognizers/weights/face_api_expression/ from @vladmandic/face-api's FaceExpressionNet weights, and checks it.

Source: `model/face_expression_model-weights_manifest.json` + `model/face_expression_model.bin` in
the npm package @vladmandic/face-api 1.7.15 (MIT, (c) Vladimir Mandic), the weights of face-api.js'
FaceExpressionNet (MIT, (c) 2018 Vincent Muehler): 49 tensors, every kernel uint8-quantized
(value = q * scale + min, as tf.io.decodeWeights reads them), the biases float32. Get it without
installing anything:

    mkdir -p /tmp/fapi && cd /tmp/fapi && npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz
    npm pack face-api.js@0.22.2 && mkdir orig && tar xzf face-api.js-0.22.2.tgz -C orig   # the original's LICENSE
    python scripts/convert_face_api_expression.py convert /tmp/fapi/package/model/face_expression_model-weights_manifest.json \
        --upstream-license /tmp/fapi/orig/package/LICENSE

Subcommands:

    convert MANIFEST            dequantize, map the names onto `FaceExpressionNet`, load strictly,
                                save_pretrained (config.json + safetensors), LICENSE, source.json
    inputs OUT_DIR              write the test inputs (astronaut crops, LFW faces, renders of the project,
                                other photos, patterns, seeded noise) as .npy for
                                scripts/make_face_api_expression_reference.mjs
    compare OUT_DIR REF.json    agreement of the port with the TF.js outputs; --write-test-data stores
                                a subset in tests/data/face_api_expression_reference.npz

Layouts: TF conv2d filters (kh, kw, in, out) -> (out, in, kh, kw); depthwise (kh, kw, in, 1) ->
(in, 1, kh, kw); pointwise (1, 1, in, out) -> (out, in, 1, 1); fc weights (in, out) -> (out, in).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "recognizers" / "weights" / "face_api_expression"
TEST_DATA = ROOT / "tests" / "data" / "face_api_expression_reference.npz"
CLASSES = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
PACKAGE = "@vladmandic/face-api"
SIZE = 112
# Reference input sets: name -> (height, width) of every image in it.
SETS = {"square": (SIZE, SIZE), "tall": (SIZE, 84), "wide": (84, SIZE)}
N_TEST_SQUARE = 14  # square inputs kept in the test data (spread over every kind), plus every non-square one


def read_manifest(manifest: Path) -> tuple[dict[str, np.ndarray], bytes]:
    """Return ({weight name: float32 array}, the raw .bin bytes) of a TF.js weights manifest, dequantizing uint8 weights."""
    groups = json.loads(manifest.read_text())
    arrays: dict[str, np.ndarray] = {}
    blobs = []
    for group in groups:
        blob = b"".join((manifest.parent / p).read_bytes() for p in group["paths"])
        blobs.append(blob)
        offset = 0
        for spec in group["weights"]:
            if spec["dtype"] != "float32":
                raise SystemExit(f"{spec['name']}: dtype {spec['dtype']}, this converter reads float32 (optionally quantized) weights")
            count = int(np.prod(spec["shape"], dtype=np.int64))
            q = spec.get("quantization")
            if q is None:
                values = np.frombuffer(blob, dtype="<f4", count=count, offset=offset)
                offset += 4 * count
            else:
                if q["dtype"] != "uint8" or "min" not in q:
                    raise SystemExit(f"{spec['name']}: quantization {q}, expected uint8 with scale and min")
                raw = np.frombuffer(blob, dtype=np.uint8, count=count, offset=offset)
                # tfjs computes q * scale + min in JS doubles and stores the result in a Float32Array.
                values = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
                offset += count
            arrays[spec["name"]] = values.reshape(spec["shape"]).copy()
        if offset != len(blob):
            raise SystemExit(f"weights use {offset} of {len(blob)} bytes")
    return arrays, b"".join(blobs)


def to_ours(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Return (our FaceExpressionNet state dict as numpy, our config) from face-api's weight names."""
    state: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        if name not in arrays:
            raise SystemExit(f"the manifest has no {name!r}")
        used.add(name)
        return arrays[name]

    block_channels: list[int] = []
    i = 0
    while f"dense{i}/conv1/bias" in arrays:
        p = f"dense.{i}"
        if i == 0:  # face-api's first layer is a plain conv (loadConvParamsFactory: filters + bias)
            f = take("dense0/conv0/filters")
            if f.shape[:2] != (3, 3):
                raise SystemExit(f"dense0/conv0/filters {f.shape}, expected 3x3")
            state[f"{p}.conv0.conv.weight"] = f.transpose(3, 2, 0, 1)
            state[f"{p}.conv0.conv.bias"] = take("dense0/conv0/bias")
            convs = ["conv1", "conv2", "conv3"]
        else:
            convs = ["conv0", "conv1", "conv2", "conv3"]
        for c in convs:
            dw, pw = take(f"dense{i}/{c}/depthwise_filter"), take(f"dense{i}/{c}/pointwise_filter")
            if dw.shape[:2] != (3, 3) or dw.shape[3] != 1 or pw.shape[:2] != (1, 1):
                raise SystemExit(f"dense{i}/{c}: depthwise {dw.shape}, pointwise {pw.shape}; expected (3, 3, C, 1), (1, 1, C, D)")
            state[f"{p}.{c}.depthwise.weight"] = dw.transpose(2, 3, 0, 1)
            state[f"{p}.{c}.pointwise.weight"] = pw.transpose(3, 2, 0, 1)
            state[f"{p}.{c}.pointwise.bias"] = take(f"dense{i}/{c}/bias")
        block_channels.append(int(state[f"{p}.conv3.pointwise.weight"].shape[0]))
        i += 1
    state["fc.weight"] = take("fc/weights").T
    state["fc.bias"] = take("fc/bias")
    left = sorted(set(arrays) - used)
    if left:
        raise SystemExit(f"manifest tensors not used: {left}")
    config = {
        "in_channels": int(state["dense.0.conv0.conv.weight"].shape[1]),
        "num_classes": int(state["fc.weight"].shape[0]),
        "block_channels": block_channels,
        "image_size": SIZE,
    }
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}, config


def convert(args: argparse.Namespace) -> int:
    import torch

    from recognizers.face_expression_net import MEAN_RGB, FaceExpressionNet

    arrays, blob = read_manifest(args.manifest)
    state, config = to_ours(arrays)
    model = FaceExpressionNet(**config)
    ours = model.state_dict()
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or unexpected:
        raise SystemExit(f"weights do not cover the model: missing {missing}, unexpected {unexpected}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    n_params = sum(v.numel() for v in ours.values())
    n_file = sum(a.size for a in arrays.values())
    if n_params != n_file:
        raise SystemExit(f"parameter count differs: manifest {n_file}, ours {n_params}")
    package_dir = args.manifest.parent.parent
    package = json.loads((package_dir / "package.json").read_text())
    if package.get("name") != PACKAGE:
        raise SystemExit(f"{package_dir} is {package.get('name')!r}, expected {PACKAGE}")
    args.out.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(args.out, safe_serialization=True)

    licence = (package_dir / "LICENSE").read_text()
    if args.upstream_license is not None:
        # The weights were trained and first published by face-api.js; keep its notice with the fork's.
        licence += ("\n" + "-" * 72 + "\nThe weights originate in face-api.js (npm face-api.js 0.22.2, "
                    "https://github.com/justadudewhohacks/face-api.js), whose licence is:\n\n" + args.upstream_license.read_text())
    (args.out / "LICENSE").write_text(licence)
    quantized = sorted(s["name"] for g in json.loads(args.manifest.read_text()) for s in g["weights"] if "quantization" in s)
    provenance = {
        "package": PACKAGE,
        "version": package["version"],
        "license": package.get("license"),
        "files": {
            "model/face_expression_model-weights_manifest.json": hashlib.sha256(args.manifest.read_bytes()).hexdigest(),
            "model/face_expression_model.bin": hashlib.sha256(blob).hexdigest(),
        },
        "original": "face-api.js FaceExpressionNet by Vincent Muehler (MIT): 'trained on a variety of images from publicly "
                    "available datasets as well as images scraped from the web' (face-api.js README); the datasets are not named",
        "classes": CLASSES,
        "preprocessing": "RGB 0..255, zero-pad to square (centred), resize to 112x112, subtract mean_rgb "
                         f"{list(MEAN_RGB)}, divide by 255",
        "quantization": f"{len(quantized)} of {len(arrays)} tensors stored as uint8 (value = q * scale + min), dequantized to float32; biases float32",
        "converted_by": "scripts/convert_face_api_expression.py convert",
        "parameters": n_params,
    }
    (args.out / "source.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {args.out} ({n_params} parameters, {len(state)} tensors, .bin sha256 {provenance['files']['model/face_expression_model.bin'][:16]})")
    return 0


def _render_crops() -> tuple[list[np.ndarray], list[str]]:
    """Return 112 x 112 uint8 RGB face crops of the project's renders (every emotion, several identities and views)."""
    import torch

    from avatar.appearance import Appearance
    from avatar.head import default_head
    from generators.expression import expression_weights
    from recognizers.faces import crop_faces
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    plan = [("neutral", 0, "front"), ("happy", 0, "front"), ("sad", 7, "front"), ("surprise", 21, "front"),
            ("fear", 80, "front"), ("disgust", 95, "front"), ("anger", 0, "front"), ("contempt", 7, "front"),
            ("happy", 21, "three-quarter"), ("anger", 80, "three-quarter"), ("surprise", 95, "profile")]
    base = default_head()
    renderer = GLRenderer(base, RendererOptions(width=256, height=256, appearance=Appearance()))
    xs, names = [], []
    try:
        for emotion, ident, view in plan:
            w = np.zeros((1, 52), np.float32) if emotion == "neutral" else expression_weights(emotion=emotion, intensity=1.0)[None]
            renderer.set_head(base.with_identity(ident) if ident else base)
            renderer.set_camera(view)
            frame = next(iter(renderer.iter_frames(w)))
            x = renderer.to_torch(frame[None], "cpu")
            crop = crop_faces(x, renderer.face_boxes(w), SIZE, 0.1)
            xs.append((crop[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy())
            names.append(f"render {emotion} identity {ident} {view}")
    finally:
        renderer.close()
    return xs, names


def reference_inputs() -> dict[str, tuple[np.ndarray, list[str]]]:
    """Return {set name: ((N, H, W, 3) uint8 RGB inputs, descriptions)}: photos, renders, patterns, seeded noise."""
    import cv2
    import skimage.data

    def square(img: np.ndarray, cx: float, cy: float, side: float, angle: float = 0.0, out: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
        h, w = out
        m = cv2.getRotationMatrix2D((cx, cy), angle, SIZE / side)
        m[:, 2] += (w / 2 - cx, h / 2 - cy)
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_AREA if side > SIZE else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    xs: list[np.ndarray] = []
    names: list[str] = []
    astro = skimage.data.astronaut()
    cx, cy, side = 224.5, 113.5, 114.0  # the astronaut's face: Haar box (177, 66)-(272, 161) plus 10 % margin
    for i, (dx, dy, s, a) in enumerate([(0, 0, 1.0, 0), (-10, 0, 1.0, 0), (0, 10, 1.0, 0), (0, 0, 0.85, 0), (0, 0, 1.25, 0),
                                        (0, 0, 1.0, -12), (5, 5, 1.1, 5), (-8, -6, 1.15, -3)]):
        xs.append(square(astro, cx + dx, cy + dy, side * s, a))
        names.append(f"astronaut crop {i}")
    xs.append(xs[0][:, ::-1].copy())
    names.append("astronaut crop 0 mirrored")
    lfw = skimage.data.lfw_subset()  # (200, 25, 25) grey float in [0, 1]: 100 faces then 100 non-faces
    for i in (0, 17, 34, 51, 68, 85, 150, 190):
        g = cv2.resize(np.round(lfw[i] * 255).astype(np.uint8), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        xs.append(np.repeat(g[:, :, None], 3, axis=2))
        names.append(f"lfw_subset {i} ({'face' if i < 100 else 'non-face'})")
    renders, render_names = _render_crops()
    xs += renders
    names += render_names
    xs.append(cv2.resize(skimage.data.chelsea()[40:260, 100:320], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    names.append("chelsea (cat)")
    xs.append(cv2.resize(skimage.data.coffee()[50:350, 150:450], (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    names.append("coffee")
    xs.append(np.full((SIZE, SIZE, 3), 128, np.uint8))
    names.append("flat grey")
    rng = np.random.default_rng(0)
    for i in range(2):
        xs.append(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
        names.append(f"seeded noise {i}")
    out = {"square": (np.stack(xs), names)}
    # Non-square inputs exercise face-api's centred black padding (their long side is 112: no resize).
    out["tall"] = (np.stack([square(astro, cx, cy, side, 0, SETS["tall"]), renders[1][:, 14:98]]),
                   ["astronaut 112x84", "render happy 112x84 (centre columns)"])
    out["wide"] = (np.stack([square(astro, cx, cy, side, 0, SETS["wide"]), renders[3][14:98]]),
                   ["astronaut 84x112", "render surprise 84x112 (centre rows)"])
    return out


def inputs(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (x, names) in reference_inputs().items():
        np.save(args.out / f"{name}.npy", np.ascontiguousarray(x))
        (args.out / f"{name}.names.json").write_text(json.dumps(names))
        print(f"wrote {args.out / name}.npy: {x.shape} uint8")
    return 0


def port_logits(model: object, x: np.ndarray) -> np.ndarray:
    """Return float64 (N, 7) logits of our port for uint8 (N, H, W, 3) inputs, through `preprocess` like the recognizer."""
    import torch

    from recognizers.face_expression_net import preprocess

    t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return model(preprocess(t)).double().numpy()  # type: ignore[operator]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def compare(args: argparse.Namespace) -> int:
    import torch

    from recognizers.face_expression_net import DEFAULT_WEIGHTS, FaceExpressionNet
    from recognizers.fer2013 import FER2013Recognizer, preprocess as fer_preprocess

    ref = json.loads(args.reference.read_text())
    model = FaceExpressionNet.from_pretrained(args.weights or DEFAULT_WEIGHTS)
    data = {}
    for name in SETS:
        x = np.load(args.inputs / f"{name}.npy")
        r = ref["sets"][name]
        if r["inputs_sha256"] != hashlib.sha256(x.tobytes()).hexdigest():
            raise SystemExit(f"the reference's {name} set was made from other inputs: rerun the node script on these .npy files")
        names = json.loads((args.inputs / f"{name}.names.json").read_text())
        data[name] = (x, names, np.asarray(r["probs"], np.float64), np.asarray(r["logits"], np.float64))
    all_p, all_t, all_l, all_tl = [], [], [], []
    for name, (x, names, probs, logits) in data.items():
        ours_l = port_logits(model, x)
        ours_p = _softmax(ours_l)
        all_p.append(ours_p), all_t.append(probs), all_l.append(ours_l), all_tl.append(logits)
        print(f"  {name} ({len(x)}): max |dp| {np.abs(ours_p - probs).max():.2e}, max |dlogit| {np.abs(ours_l - logits).max():.2e}, "
              f"top-1 {np.mean(ours_p.argmax(1) == probs.argmax(1)):.0%}")
    p, t = np.concatenate(all_p), np.concatenate(all_t)
    dl = np.abs(np.concatenate(all_l) - np.concatenate(all_tl))
    print(f"port vs TF.js {ref['tfjs_version']} ({ref['backend']}), {PACKAGE} {ref['package_version']}: {len(p)} inputs, "
          f"top-1 agreement {np.mean(p.argmax(1) == t.argmax(1)):.2%}, max |dp| {np.abs(p - t).max():.2e}, max |dlogit| {dl.max():.2e}")

    x, names, probs, _ = data["square"]
    fer = FER2013Recognizer(device="cpu").model
    with torch.no_grad():
        fer_p = torch.softmax(fer(fer_preprocess(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0)), -1).numpy()
    fer_classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    to_face_api = {"angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy", "sad": "sad",
                   "surprise": "surprised", "neutral": "neutral"}
    fer_labels = [to_face_api[fer_classes[i]] for i in fer_p.argmax(1)]
    print("square inputs (TF.js label / port label / FER2013 mini-Xception label):")
    for i, n in enumerate(names):
        ours = CLASSES[int(_softmax(port_logits(model, x[i : i + 1])).argmax())]
        print(f"  {n:42s} {CLASSES[int(probs[i].argmax())]:10s} {probs[i].max():.2f}  {ours:10s}  {fer_labels[i]}")

    if args.write_test_data:
        kinds = ["astronaut", "lfw", "render", "chelsea", "coffee", "flat", "seeded"]
        keep: list[int] = []
        # Round-robin over the kinds so the subset covers photos, renders and non-faces.
        by_kind = {k: [i for i, n in enumerate(names) if n.startswith(k)] for k in kinds}
        while len(keep) < N_TEST_SQUARE and any(by_kind.values()):
            for k in kinds:
                if by_kind[k] and len(keep) < N_TEST_SQUARE:
                    keep.append(by_kind[k].pop(0))
        keep.sort()
        meta = {k: ref[k] for k in ("package", "package_version", "manifest_sha256", "bin_sha256", "tfjs_version", "backend",
                                    "preprocessing", "classes", "loaded_by")}
        meta["inputs"] = {"square": [names[i] for i in keep], "tall": data["tall"][1], "wide": data["wide"][1]}
        meta["made_by"] = "scripts/make_face_api_expression_reference.mjs (outputs) + scripts/convert_face_api_expression.py compare (subset)"
        arrays = {"x": x[keep], "probs": probs[keep].astype(np.float32), "logits": data["square"][3][keep].astype(np.float32)}
        for name in ("tall", "wide"):
            arrays[f"x_{name}"] = data[name][0]
            arrays[f"probs_{name}"] = data[name][2].astype(np.float32)
        np.savez_compressed(TEST_DATA, meta=np.array(json.dumps(meta)), **arrays)
        print(f"wrote {TEST_DATA} ({len(keep)} square inputs + {len(data['tall'][0]) + len(data['wide'][0])} non-square)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="write the weights folder from the package's weights manifest")
    c.add_argument("manifest", type=Path, help="model/face_expression_model-weights_manifest.json inside the unpacked package")
    c.add_argument("--out", type=Path, default=DEFAULT_OUT)
    c.add_argument("--upstream-license", type=Path, default=None, help="face-api.js' LICENSE, appended to the fork's")
    i = sub.add_parser("inputs", help="write the reference inputs (square.npy, tall.npy, wide.npy: uint8 (N, H, W, 3))")
    i.add_argument("out", type=Path)
    m = sub.add_parser("compare", help="port vs the TF.js outputs written by the node script")
    m.add_argument("inputs", type=Path, help="the folder `inputs` wrote")
    m.add_argument("reference", type=Path)
    m.add_argument("--weights", type=Path, default=None)
    m.add_argument("--write-test-data", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args(argv)
    return {"convert": convert, "inputs": inputs, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
