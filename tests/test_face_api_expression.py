"""The face-api.js FaceExpressionNet port against TensorFlow.js' own outputs, its weights, the recognizer and the critic.

tests/data/face_api_expression_reference.npz: 14 of the 33 fixed 112 x 112 RGB inputs of
scripts/convert_face_api_expression.py (astronaut crops, LFW-subset faces and non-faces, renders of
this project, other photos, a flat image, seeded noise) plus 4 non-square ones (112 x 84, 84 x 112),
and the probabilities and logits @vladmandic/face-api 1.7.15's own code gives them when
@tensorflow/tfjs 4.22.0 (CPU backend) runs it (scripts/make_face_api_expression_reference.mjs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, FileFormatError
from avatar.protocols import Critic
from recognizers.base import EMOTIONS
from recognizers.face_expression_net import (
    DEFAULT_WEIGHTS,
    FACE_API_CLASSES,
    JUDGE_NAME,
    FaceApiExpressionRecognizer,
    FaceExpressionNet,
    preprocess,
)

REFERENCE = Path(__file__).parent / "data" / "face_api_expression_reference.npz"
# Both sides are float32; observed over all 37 inputs: max |dp| 8.8e-7, max |dlogit| 8.6e-6.
PROB_ATOL = 1e-5
LOGIT_ATOL = 1e-4
ASTRONAUT_BOX = np.array([177.0, 66.0, 272.0, 161.0])  # the Haar box of the face in skimage.data.astronaut()


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def model() -> FaceExpressionNet:
    return FaceExpressionNet.from_pretrained(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def recognizer() -> FaceApiExpressionRecognizer:
    return FaceApiExpressionRecognizer(device="cpu")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def _logits(model: FaceExpressionNet, x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return model(preprocess(t)).numpy()


def test_port_matches_tfjs(model: FaceExpressionNet, reference: dict[str, np.ndarray]) -> None:
    logits = _logits(model, reference["x"])
    probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
    np.testing.assert_allclose(logits, reference["logits"], rtol=0, atol=LOGIT_ATOL)
    np.testing.assert_allclose(probs, reference["probs"], rtol=0, atol=PROB_ATOL)
    assert np.array_equal(probs.argmax(1), reference["probs"].argmax(1))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tall", "wide"])
def test_non_square_input_is_padded_like_face_api(model: FaceExpressionNet, reference: dict[str, np.ndarray], kind: str) -> None:
    probs = torch.softmax(torch.from_numpy(_logits(model, reference[f"x_{kind}"])), -1).numpy()
    np.testing.assert_allclose(probs, reference[f"probs_{kind}"], rtol=0, atol=PROB_ATOL)


def test_reference_records_its_provenance(reference: dict[str, np.ndarray]) -> None:
    meta = json.loads(str(reference["meta"]))
    assert meta["package"] == "@vladmandic/face-api" and meta["package_version"] == "1.7.15"
    assert meta["tfjs_version"] == "4.22.0" and meta["backend"] == "cpu"
    assert meta["classes"] == list(FACE_API_CLASSES)
    source = json.loads((DEFAULT_WEIGHTS / "source.json").read_text())
    assert meta["bin_sha256"] == source["files"]["model/face_expression_model.bin"]
    assert reference["x"].shape == (14, 112, 112, 3) and reference["x"].dtype == np.uint8


def test_weights_folder_and_licence(model: FaceExpressionNet) -> None:
    assert sum(p.numel() for p in model.parameters()) == 323_687
    assert dict(model.config)["block_channels"] == [32, 64, 128, 256]
    source = json.loads((DEFAULT_WEIGHTS / "source.json").read_text())
    assert source["package"] == "@vladmandic/face-api" and source["version"] == "1.7.15" and source["license"] == "MIT"
    licence = (DEFAULT_WEIGHTS / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Vladimir Mandic" in licence and "Vincent Mühler" in licence


def test_weights_load_strictly(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(DEFAULT_WEIGHTS, broken)
    weights = broken / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state.pop("fc.bias")
    save_file(state, weights)
    with pytest.raises(FileFormatError, match="fc.bias"):
        FaceExpressionNet.from_pretrained(broken)
    with pytest.raises(AvatarInputError, match="not found"):
        FaceExpressionNet.from_pretrained(tmp_path / "nowhere")


@pytest.mark.slow
def test_recognizer_reads_the_astronaut_photo(astronaut: np.ndarray) -> None:
    pytest.importorskip("cv2")
    with FaceApiExpressionRecognizer(device="cpu", detect_faces=True) as rec:
        out = rec(astronaut).to_numpy()
        blank = rec(np.full((96, 96, 3), 128, np.uint8)).to_numpy()
    assert out.labels == ["happy"] and out.model == JUDGE_NAME
    assert out.emotion_probs[0, EMOTIONS.index("happy")] > 0.9
    contempt = EMOTIONS.index("contempt")
    assert np.isnan(out.emotion_probs[0, contempt]) and not out.emotion_available[contempt]
    assert np.nansum(out.emotion_probs[0]) == pytest.approx(1.0, abs=1e-5)
    assert blank.labels == [None] and not blank.face_found[0]


@pytest.mark.slow
def test_classes_map_onto_emotions(recognizer: FaceApiExpressionRecognizer, model: FaceExpressionNet,
                                   reference: dict[str, np.ndarray]) -> None:
    x = torch.from_numpy(reference["x"]).permute(0, 3, 1, 2).float() / 255.0
    out = recognizer(x).to_numpy()
    ours = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "anger",
            "fearful": "fear", "disgusted": "disgust", "surprised": "surprise"}
    for i, name in enumerate(FACE_API_CLASSES):
        np.testing.assert_allclose(out.emotion_probs[:, EMOTIONS.index(ours[name])], reference["probs"][:, i], atol=PROB_ATOL)
    assert out.labels == [ours[FACE_API_CLASSES[i]] for i in reference["probs"].argmax(1)]


@pytest.mark.slow
def test_known_boxes_log_probs_and_gradients(recognizer: FaceApiExpressionRecognizer, astronaut: np.ndarray) -> None:
    frames = torch.from_numpy(np.stack([astronaut, astronaut[:, ::-1].copy()])).permute(0, 3, 1, 2).float() / 255.0
    box = ASTRONAUT_BOX
    boxes = np.stack([box, [512 - box[2], box[1], 512 - box[0], box[3]]])
    rec = recognizer(frames, boxes=boxes)
    assert rec.labels == ["happy", "happy"] and rec.emotion_probs.shape == (2, 8)

    frames.requires_grad_(True)
    lp = recognizer.log_probs(frames, boxes=boxes)
    assert lp.shape == (2, 8) and torch.isneginf(lp[:, EMOTIONS.index("contempt")]).all()
    available = torch.from_numpy(recognizer.emotion_available)
    assert torch.allclose(lp[:, available].exp().sum(1), torch.ones(2), atol=1e-5)
    np.testing.assert_allclose(lp[:, available].exp().detach().numpy(), rec.emotion_probs[:, available].numpy(), atol=1e-5)
    assert recognizer.logits(frames, boxes=boxes).shape == (2, 7)
    lp[:, EMOTIONS.index("sad")].sum().backward()
    assert frames.grad is not None and torch.isfinite(frames.grad).all() and frames.grad.abs().sum() > 0


def test_registry_names_it() -> None:
    from avatar.app.judges import RECOGNIZERS, make_recognizer

    assert "face-api" in RECOGNIZERS
    rec = make_recognizer("face-api", device="cpu", detect_faces=False)
    assert isinstance(rec, FaceApiExpressionRecognizer) and not rec.detect_faces
    assert isinstance(rec, Critic)  # the differentiable read-out refinement and portrait guidance take
    assert isinstance(make_recognizer("FaceAPI", device="cpu"), FaceApiExpressionRecognizer)


def test_bad_arguments_name_the_fix(recognizer: FaceApiExpressionRecognizer) -> None:
    with pytest.raises(AvatarInputError, match="batch_size"):
        FaceApiExpressionRecognizer(device="cpu", batch_size=0)
    with pytest.raises(AvatarInputError, match="save_pretrained"):
        FaceApiExpressionRecognizer(device="cpu", weights=Path(__file__))
    with pytest.raises(AvatarInputError, match="torch tensor"):
        recognizer.log_probs(np.zeros((1, 3, 112, 112), np.float32))
    with pytest.raises(AvatarInputError, match="RGB"):
        recognizer.logits(torch.zeros(1, 1, 112, 112))
