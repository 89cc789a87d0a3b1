"""Writes recognizers/weights/mtcnn/ (config.json + safetensors) from facenet-pytorch's pnet.pt, rnet.pt, onet.pt.

Source: `facenet_pytorch/data/{pnet,rnet,onet}.pt` inside the PyPI wheel facenet-pytorch 2.6.0 (MIT,
(c) 2019 Timothy Esler): plain torch state dicts of MTCNN (Zhang, Zhang, Li & Qiao, "Joint Face
Detection and Alignment using Multi-task Cascaded Convolutional Networks", IEEE SPL 2016), which
facenet-pytorch ported from davidsandberg/facenet's TensorFlow port of the authors' Caffe models.
Get them without installing facenet-pytorch (its torch pin would replace ours):

    pip download facenet-pytorch==2.6.0 --no-deps -d /tmp/mtcnn && unzip -o /tmp/mtcnn/facenet_pytorch-2.6.0-py3-none-any.whl -d /tmp/mtcnn
    python scripts/convert_mtcnn.py /tmp/mtcnn/facenet_pytorch/data

The .pt files are read with `torch.load(weights_only=True)` (tensors only, no pickled code). Names
are mapped to ours (conv4_1 -> face, conv4_2 -> box, dense5 -> fc, dense6_3 -> landmarks, ...). One
layout change: facenet-pytorch flattens the last feature map of R-Net and O-Net in (W, H, C) order
(`permute(0, 3, 2, 1)`, a relic of the Caffe -> TF transposition); we flatten in torch's (C, H, W)
order, so the first dense layer's columns are permuted once here. The script then checks that our
modules reproduce a functional replay of the original layer sequence (with the original flatten)
on seeded random inputs, and loads everything strictly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "recognizers" / "weights" / "mtcnn"

# (their name, ours) per network; prelu weights are per-channel slopes.
NAMES = {
    "pnet": {"conv1": "conv1", "prelu1": "act1", "conv2": "conv2", "prelu2": "act2", "conv3": "conv3", "prelu3": "act3",
             "conv4_1": "face", "conv4_2": "box"},
    "rnet": {"conv1": "conv1", "prelu1": "act1", "conv2": "conv2", "prelu2": "act2", "conv3": "conv3", "prelu3": "act3",
             "dense4": "fc", "prelu4": "act4", "dense5_1": "face", "dense5_2": "box"},
    "onet": {"conv1": "conv1", "prelu1": "act1", "conv2": "conv2", "prelu2": "act2", "conv3": "conv3", "prelu3": "act3",
             "conv4": "conv4", "prelu4": "act4", "dense5": "fc", "prelu5": "act5", "dense6_1": "face", "dense6_2": "box",
             "dense6_3": "landmarks"},
}
FIRST_DENSE = {"rnet": "dense4", "onet": "dense5"}


def whc_to_chw_columns(weight, channels: int, side: int):  # type: ignore[no-untyped-def]
    """Return a dense weight (out, W*H*C) with its columns reordered to torch's (C, H, W) flatten order."""
    out = weight.shape[0]
    return weight.reshape(out, side, side, channels).permute(0, 3, 2, 1).reshape(out, -1).contiguous()


def convert(data_dir: Path) -> tuple[dict, dict, dict[str, str]]:
    """Return (our state dict, their state dicts by network, sha256 by file name)."""
    import torch

    ours: dict[str, torch.Tensor] = {}
    theirs: dict[str, dict[str, torch.Tensor]] = {}
    shas: dict[str, str] = {}
    for net, names in NAMES.items():
        path = data_dir / f"{net}.pt"
        shas[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        sd = torch.load(path, map_location="cpu", weights_only=True)
        theirs[net] = sd
        used = set()
        for key, value in sd.items():
            layer, _, param = key.rpartition(".")
            if layer not in names:
                raise SystemExit(f"{path.name}: unexpected tensor {key}")
            v = value.detach().float().clone()
            if layer == FIRST_DENSE.get(net) and param == "weight":
                channels = sd[key.replace(layer, {"rnet": "conv3", "onet": "conv4"}[net])].shape[0]
                side = int(round((v.shape[1] / channels) ** 0.5))
                if side * side * channels != v.shape[1]:
                    raise SystemExit(f"{key}: {v.shape[1]} inputs is not a square map of {channels} channels")
                v = whc_to_chw_columns(v, channels, side)
            ours[f"{net}.{names[layer]}.{param}"] = v
            used.add(layer)
        if used != set(names):
            raise SystemExit(f"{path.name}: missing layers {sorted(set(names) - used)}")
    return ours, theirs, shas


def replay(sd: dict, net: str, x):  # type: ignore[no-untyped-def]
    """Return the original network's outputs computed straight from its state dict (facenet-pytorch's layer order)."""
    import torch.nn.functional as F

    def conv(x, name):  # type: ignore[no-untyped-def]
        return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"])

    def prelu(x, name):  # type: ignore[no-untyped-def]
        return F.prelu(x, sd[f"{name}.weight"])

    def dense(x, name):  # type: ignore[no-untyped-def]
        return F.linear(x, sd[f"{name}.weight"], sd[f"{name}.bias"])

    if net == "pnet":
        x = F.max_pool2d(prelu(conv(x, "conv1"), "prelu1"), 2, 2, ceil_mode=True)
        x = prelu(conv(prelu(conv(x, "conv2"), "prelu2"), "conv3"), "prelu3")
        return conv(x, "conv4_2"), conv(x, "conv4_1")
    if net == "rnet":
        x = F.max_pool2d(prelu(conv(x, "conv1"), "prelu1"), 3, 2, ceil_mode=True)
        x = F.max_pool2d(prelu(conv(x, "conv2"), "prelu2"), 3, 2, ceil_mode=True)
        x = prelu(conv(x, "conv3"), "prelu3").permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = prelu(dense(x, "dense4"), "prelu4")
        return dense(x, "dense5_2"), dense(x, "dense5_1")
    x = F.max_pool2d(prelu(conv(x, "conv1"), "prelu1"), 3, 2, ceil_mode=True)
    x = F.max_pool2d(prelu(conv(x, "conv2"), "prelu2"), 3, 2, ceil_mode=True)
    x = F.max_pool2d(prelu(conv(x, "conv3"), "prelu3"), 2, 2, ceil_mode=True)
    x = prelu(conv(x, "conv4"), "prelu4").permute(0, 3, 2, 1).reshape(x.shape[0], -1)
    x = prelu(dense(x, "dense5"), "prelu5")
    return dense(x, "dense6_2"), dense(x, "dense6_1"), dense(x, "dense6_3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="facenet_pytorch/data from the unzipped wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--source-version", default="2.6.0", help="the facenet-pytorch version the files came from")
    args = parser.parse_args(argv)

    import torch

    from recognizers.mtcnn import MTCNN

    state, theirs, shas = convert(args.data_dir)
    model = MTCNN().eval()
    mine = model.state_dict()
    missing, unexpected = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
    if missing or unexpected:
        raise SystemExit(f"weights do not cover the model: missing {missing}, unexpected {unexpected}")
    model.load_state_dict(state, strict=True)

    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    with torch.no_grad():
        for net, size in (("pnet", 37), ("rnet", 24), ("onet", 48)):
            x = torch.rand(8, 3, size, size, generator=gen) * 2 - 1
            for a, b in zip(getattr(model, net)(x), replay(theirs[net], net, x)):
                worst = max(worst, float((a - b).abs().max()))
    if worst > 1e-5:
        raise SystemExit(f"our modules differ from the original layer sequence by {worst:.2e}")

    model.save_pretrained(args.out, safe_serialization=True)
    source = {
        "source": f"PyPI facenet-pytorch=={args.source_version}, facenet_pytorch/data/{{pnet,rnet,onet}}.pt",
        "sha256": shas,
        "license": "MIT (c) 2019 Timothy Esler; see recognizers/weights/LICENSE.facenet-pytorch",
        "original": "MTCNN, Zhang, Zhang, Li & Qiao, IEEE Signal Processing Letters 23(10), 2016 (kpzhang93/MTCNN_face_detection_alignment)",
        "provenance": "facenet-pytorch ported davidsandberg/facenet's TensorFlow MTCNN weights, themselves converted from the authors' Caffe models",
        "converted_by": "scripts/convert_mtcnn.py",
        "parameters": int(sum(v.numel() for v in state.values())),
        "max_abs_diff_vs_original_layers": worst,
    }
    (args.out / "source.json").write_text(json.dumps(source, indent=2) + "\n")
    print(f"wrote {args.out} ({source['parameters']} parameters; max |diff| vs the original layer sequence {worst:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
