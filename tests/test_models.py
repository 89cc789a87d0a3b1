"""Every torch model is a diffusers ModelMixin + ConfigMixin: tiny seeded configs round-trip exactly, loading is strict and local."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, FileFormatError
from generators.speech.audio import Audio
from generators.speech.shipped import DEFAULT_WEIGHTS as SPEECH_WEIGHTS
from generators.speech.neural import SpeechToARKit, load_model, mel_filterbank
from recognizers.expression_net import WEIGHTS_PATH as EXPRESSION_WEIGHTS
from recognizers.expression_net import ExpressionNet
from recognizers.fer2013 import DEFAULT_WEIGHTS as FER_WEIGHTS
from recognizers.fer2013 import MiniXception


def _tiny(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """Return a tiny model built under seed 0 and a seeded input for it."""
    torch.manual_seed(0)
    if name == "expression_net":
        return ExpressionNet(input_size=32, widths=(8, 16)).eval(), torch.rand(2, 3, 32, 32)
    if name == "mini_xception":
        return MiniXception(stem_channels=4, block_channels=(8, 8), image_size=32).eval(), torch.rand(2, 1, 32, 32) * 2 - 1
    return SpeechToARKit(n_mels=8, channels=8, hidden=8).eval(), torch.randn(2, 8, 40)


def _outputs(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(x)
    return list(out) if isinstance(out, tuple) else [out]


MODELS = ("expression_net", "mini_xception", "speech_to_arkit")


@pytest.mark.parametrize("name", MODELS)
def test_tiny_model_round_trips_bit_identically(tmp_path: Path, name: str) -> None:
    model, x = _tiny(name)
    model.save_pretrained(tmp_path / name)
    assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
    again = type(model).from_pretrained(tmp_path / name)
    assert not again.training
    for a, b in zip(_outputs(model, x), _outputs(again, x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    def public(config: Any) -> dict[str, Any]:  # JSON turns tuples into lists; compare what was written
        return json.loads(json.dumps({k: v for k, v in config.items() if not k.startswith("_")}))

    assert public(again.config) == public(model.config)


@pytest.mark.parametrize("name", MODELS)
def test_missing_or_extra_tensor_is_an_error(tmp_path: Path, name: str) -> None:
    from safetensors.torch import load_file, save_file

    model, _ = _tiny(name)
    model.save_pretrained(tmp_path / name)
    weights = tmp_path / name / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(weights))
    dropped = sorted(tensors)[0]
    save_file({k: v for k, v in tensors.items() if k != dropped}, str(weights), metadata={"format": "pt"})
    with pytest.raises(FileFormatError, match=f"missing.*{dropped}"):
        type(model).from_pretrained(tmp_path / name)
    save_file({**tensors, "stray.weight": torch.zeros(1)}, str(weights), metadata={"format": "pt"})
    with pytest.raises(FileFormatError, match="unexpected.*stray.weight"):
        type(model).from_pretrained(tmp_path / name)


@pytest.mark.parametrize("cls", [ExpressionNet, MiniXception, SpeechToARKit])
def test_bad_local_paths_never_reach_the_hub(tmp_path: Path, cls: Any) -> None:
    with pytest.raises(AvatarInputError, match="not"):
        cls.from_pretrained(tmp_path / "absent")
    (tmp_path / "single.safetensors").write_bytes(b"")
    with pytest.raises(AvatarInputError, match="folder"):
        cls.from_pretrained(tmp_path / "single.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AvatarInputError, match="config.json"):
        cls.from_pretrained(tmp_path / "empty")


@pytest.mark.parametrize(("cls", "folder"), [(ExpressionNet, EXPRESSION_WEIGHTS), (MiniXception, FER_WEIGHTS), (SpeechToARKit, SPEECH_WEIGHTS)])
def test_shipped_checkpoints_are_diffusers_folders(cls: Any, folder: Path) -> None:
    assert (folder / "config.json").is_file() and (folder / "diffusion_pytorch_model.safetensors").is_file()
    model = cls.from_pretrained(folder)
    assert type(model) is cls and model.config["_class_name"] == cls.__name__


def test_model_modules_do_not_load_with_the_packages() -> None:
    code = ("import sys, avatar, recognizers, generators, generators.speech; "
            "bad = [m for m in ('torch', 'diffusers') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_librosa_filterbank_matches_the_one_the_model_was_trained_with() -> None:
    # The hand-written filterbank it replaced (HTK mel scale, triangles normalised to unit area).
    sr, n_fft, n_mels, fmin, fmax = 16000, 400, 40, 60.0, 7600.0
    mel = 2595.0 * np.log10(1.0 + np.array([fmin, fmax]) / 700.0)
    edges = 700.0 * (10.0 ** (np.linspace(mel[0], mel[1], n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    ours = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid))) * 2.0 / (hi - lo)
    assert np.abs(mel_filterbank(sr, n_fft, n_mels, fmin, fmax) - ours).max() < 1e-6


def _speech_clip(rate: int, seconds: float = 1.5) -> np.ndarray:
    """Return a seeded speech-like clip (an amplitude-modulated glide with noise) at `rate`."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (180 + 250 * t) * t) * (1 + np.sin(2 * np.pi * 4 * t)) / 2
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.slow
def test_speech_predict_uses_the_clip_sample_rate() -> None:
    model = load_model() if (SPEECH_WEIGHTS / "config.json").is_file() else _tiny("speech_to_arkit")[0]
    ref_w, ref_shut = model.predict(Audio(_speech_clip(16000), 16000), fps=30.0)
    for rate in (8000, 44100):
        w, shut = model.predict(Audio(_speech_clip(rate), rate), fps=30.0)
        assert w.shape == ref_w.shape and shut.shape == ref_shut.shape  # same duration -> same frame count
        # The same sound at another rate reads (almost) the same; misread as 16 kHz it would not.
        assert np.abs(w - ref_w).mean() < 0.02
    misread, _ = model.predict(Audio(_speech_clip(8000), 16000), fps=30.0)
    assert misread.shape[0] < ref_w.shape[0]


@pytest.mark.parametrize("name", MODELS)
def test_config_that_does_not_fit_the_tensors_is_an_error(tmp_path: Path, name: str) -> None:
    model, _ = _tiny(name)
    model.save_pretrained(tmp_path / name)
    config_path = tmp_path / name / "config.json"
    config = json.loads(config_path.read_text())
    key = {"expression_net": "num_emotions", "mini_xception": "num_classes", "speech_to_arkit": "hidden"}[name]
    config[key] += 1
    config_path.write_text(json.dumps(config))
    with pytest.raises(FileFormatError):
        type(model).from_pretrained(tmp_path / name)
