"""MTCNN: plain-torch NMS, the converted weights, detection on a photo and on a profile render, and the faces.py backends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, FileFormatError
from recognizers.mtcnn import DEFAULT_WEIGHTS, MTCNN, MTCNNFaceDetector, MTCNNOptions, pyramid_scales, square_boxes
from recognizers.nms import batched_nms, box_overlap, nms

pytestmark = [pytest.mark.gl]


@pytest.fixture(scope="module")
def detector() -> MTCNNFaceDetector:
    return MTCNNFaceDetector.create_from_options(MTCNNOptions(device="cpu"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


# -- NMS -----------------------------------------------------------------------------------------

def _greedy(boxes: np.ndarray, scores: np.ndarray, t: float, mode: str) -> list[int]:
    """Return the textbook greedy NMS, one box at a time (the reference for the matrix version)."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    for i in order:
        if all(box_overlap(torch.tensor(boxes[[j]]), torch.tensor(boxes[[i]]), mode).item() <= t for j in keep):
            keep.append(int(i))
    return keep


def test_nms_keeps_the_best_of_each_cluster() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [21, 20, 31, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.6, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1, 3]
    # IoU of boxes 0 and 1 is 81/119 = 0.68, of 2 and 3 90/110 = 0.82: a 0.7 limit keeps 0 and 1 only.
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 3]
    assert nms(boxes[:0], scores[:0], 0.5).numel() == 0


@pytest.mark.slow
def test_nms_chain_matches_sequential_greedy() -> None:
    # A suppressed box must not suppress anything: A kills B, so C (overlapping only B) survives.
    boxes = torch.tensor([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.2).tolist() == [0, 2]
    rng = np.random.default_rng(0)
    for trial in range(20):
        xy = rng.uniform(0, 50, (60, 2))
        wh = rng.uniform(5, 30, (60, 2))
        b = np.concatenate([xy, xy + wh], 1)
        s = rng.uniform(0, 1, 60)
        for mode in ("union", "min"):
            ours = nms(torch.tensor(b), torch.tensor(s), 0.4, mode).tolist()
            assert ours == _greedy(b, s, 0.4, mode), (trial, mode)


def test_batched_nms_keeps_groups_apart() -> None:
    boxes = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.5, 0.9, 0.7])
    assert sorted(batched_nms(boxes, scores, torch.tensor([0, 1, 1]), 0.5).tolist()) == [0, 1]
    assert batched_nms(boxes, scores, torch.tensor([0, 0, 0]), 0.5).tolist() == [1]
    assert box_overlap(boxes[:1], torch.tensor([[5, 0, 10, 10.0]]), "min").item() == pytest.approx(1.0)
    with pytest.raises(AvatarInputError, match="union"):
        box_overlap(boxes, boxes, "max")  # type: ignore[arg-type]


# -- weights -------------------------------------------------------------------------------------

def test_weights_load_strictly(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    model = MTCNN.from_pretrained(DEFAULT_WEIGHTS)
    assert sum(p.numel() for p in model.parameters()) == 495_850
    source = json.loads((DEFAULT_WEIGHTS / "source.json").read_text())
    assert "facenet-pytorch==2.6.0" in source["source"] and source["max_abs_diff_vs_original_layers"] < 1e-5
    assert (DEFAULT_WEIGHTS.parent / "LICENSE.facenet-pytorch").read_text().startswith("MIT License")
    broken = tmp_path / "mtcnn"
    shutil.copytree(DEFAULT_WEIGHTS, broken)
    state = load_file(broken / "diffusion_pytorch_model.safetensors")
    state.pop("onet.landmarks.weight")
    state["extra.weight"] = torch.zeros(1)
    save_file(state, broken / "diffusion_pytorch_model.safetensors")
    with pytest.raises(FileFormatError, match="onet.landmarks.weight"):
        MTCNN.from_pretrained(broken)


# -- detection -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_finds_the_astronaut(detector: MTCNNFaceDetector, astronaut: np.ndarray) -> None:
    r = detector.detect(astronaut)
    assert len(r) == 1 and r.scores[0] > 0.99 and r.image_size == (512, 512)
    x0, y0, x1, y1 = r.boxes[0]
    assert 165 < x0 < 195 and 45 < y0 < 75 and 255 < x1 < 285 and 160 < y1 < 190  # Haar: (177, 66)-(272, 161)
    eyes, nose, mouth = r.landmarks[0, :2], r.landmarks[0, 2], r.landmarks[0, 3:]
    assert eyes[0, 0] < nose[0] < eyes[1, 0] and eyes[:, 1].max() < nose[1] < mouth[:, 1].min()
    assert np.all((r.landmarks[0] > r.boxes[0, :2]) & (r.landmarks[0] < r.boxes[0, 2:]))
    # The float torch form gives the same faces, and a batch gives one result per image.
    t = torch.from_numpy(astronaut).permute(2, 0, 1).float() / 255.0
    np.testing.assert_allclose(detector.detect(t).boxes, r.boxes, atol=0.5)
    both = detector.detect_batch(np.stack([astronaut, np.full_like(astronaut, 90)]))
    assert [len(x) for x in both] == [1, 0]
    np.testing.assert_allclose(both[0].boxes, r.boxes, atol=1e-3)


@pytest.mark.slow
def test_finds_a_profile_render() -> None:
    from avatar.emotion import emotion_to_arkit
    from avatar.head import default_head
    from renderers.cameras import Camera
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    with GLRenderer(default_head(), RendererOptions(width=256, height=256, camera=Camera.preset("profile"))) as renderer:
        weights = emotion_to_arkit("happy", 1.0)[None]
        frame = renderer.render(weights)[0]
        known = renderer.face_boxes(weights)[0]
    with MTCNNFaceDetector.create_from_options(MTCNNOptions(device="cpu")) as det:
        r = det.detect(frame)
    assert len(r) >= 1
    cx, cy = (r.boxes[0, :2] + r.boxes[0, 2:]) / 2
    assert known[0] <= cx <= known[2] and known[1] <= cy <= known[3]


def test_no_face_and_closed(astronaut: np.ndarray) -> None:
    with MTCNNFaceDetector.create_from_options(MTCNNOptions(device="cpu", max_faces=1)) as det:
        empty = det.detect(np.full((64, 64, 3), 200, np.uint8))
        assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.landmarks.shape == (0, 5, 2)
        with pytest.raises(AvatarInputError, match="detect_batch"):
            det.detect(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(AvatarInputError, match="closed"):
        det.detect(astronaut)


def test_options_and_helpers() -> None:
    with pytest.raises(AvatarInputError, match="min_face_size"):
        MTCNNOptions(min_face_size=5)
    with pytest.raises(AvatarInputError, match="thresholds"):
        MTCNNOptions(thresholds=(0.6, 0.7))  # type: ignore[arg-type]
    scales = pyramid_scales(100, 200, 20, 0.709)
    assert scales[0] == pytest.approx(0.6) and 100 * scales[-1] >= 12 > 100 * scales[-1] * 0.709
    sq = square_boxes(torch.tensor([[0.0, 0.0, 10.0, 20.0]]))
    assert sq.tolist() == [[-5.0, 0.0, 15.0, 20.0]]


# -- faces.py backends ---------------------------------------------------------------------------

@pytest.mark.slow
def test_face_detector_backends(astronaut: np.ndarray) -> None:
    pytest.importorskip("cv2")
    from recognizers.faces import FaceDetector, FaceDetectorOptions

    with FaceDetector.create_from_options(FaceDetectorOptions(backend="mtcnn", device="cpu")) as det:
        m = det.detect(astronaut)
        gray = det.detect(np.full((96, 96, 3), 128, np.uint8))
    with FaceDetector.create_from_options(FaceDetectorOptions(backend="haar")) as det:
        h = det.detect(astronaut)
    assert m.detector == "mtcnn" and h.detector == "haar" and gray.detector == "mtcnn" and len(gray) == 0
    assert m.eyes_found[0] and m.landmarks.shape == (1, 5, 2) and np.isnan(h.scores).all()
    # The squared MTCNN box frames the face like Haar's: same centre and side within 10 %.
    side_m, side_h = m.boxes[0, 2] - m.boxes[0, 0], h.boxes[0, 2] - h.boxes[0, 0]
    assert abs(side_m / side_h - 1) < 0.1
    assert np.abs((m.boxes[0, :2] + m.boxes[0, 2:]) / 2 - (h.boxes[0, :2] + h.boxes[0, 2:]) / 2).max() < 0.1 * side_h
    with pytest.raises(AvatarInputError, match="backend"):
        FaceDetectorOptions(backend="dlib")
