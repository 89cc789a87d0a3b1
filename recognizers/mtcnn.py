"""MTCNN face detection (Zhang et al. 2016) in plain torch: boxes, scores and five landmarks, any device.

    opts = MTCNNOptions(min_face_size=20, device="auto")
    with MTCNNFaceDetector.create_from_options(opts) as detector:
        result = detector.detect(photo)        # photo: (H, W, 3) uint8 RGB, or (3, H, W) float in [0, 1]
        result.boxes, result.scores            # (N, 4) x0, y0, x1, y1 px; (N,) face probability
        result.landmarks                       # (N, 5, 2) x, y px: eye, eye, nose, mouth corner, mouth corner

Three cascaded CNNs (`MTCNN` holds them, a diffusers model): P-Net slides a 12 x 12 window over an
image pyramid (a fully convolutional net, stride 2) and proposes boxes; R-Net re-scores 24 x 24 crops
of the survivors; O-Net re-scores 48 x 48 crops and adds landmarks. Every stage regresses the box
edges and drops overlaps with non-maximum suppression (`recognizers.nms`, no torchvision). Unlike a
frontal Haar cascade it finds turned heads and small or dim faces.

Weights: facenet-pytorch 2.6.0's pnet.pt / rnet.pt / onet.pt (MIT, (c) 2019 Timothy Esler), which
facenet-pytorch ported from davidsandberg/facenet's TensorFlow port of the authors' original Caffe
models (kpzhang93/MTCNN_face_detection_alignment); converted by scripts/convert_mtcnn.py into
recognizers/weights/mtcnn/ (see recognizers/weights/README.md).

Conventions: input RGB scaled (x - 127.5) / 128 with x in 0..255; boxes (x0, y0, x1, y1) in
continuous pixel coordinates (the whole W x H image is (0, 0, W, H)); landmark order left eye,
right eye, nose, left mouth corner, right mouth corner, "left" meaning the image's left.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from avatar.device import resolve_device
from avatar.errors import AvatarInputError, ShapeError
from recognizers.base import check_images, images_to_tensor
from avatar.checkpoints import load_strict
from recognizers.nms import batched_nms

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "mtcnn"

# P-Net's receptive field and output stride (pixels of the pyramid level it runs on).
PNET_WINDOW = 12
PNET_STRIDE = 2


class PNet(nn.Module):
    """Return (box offsets (B, 4, h, w), face logits (B, 2, h, w)) for every 12 x 12 window (stride 2) of (B, 3, H, W)."""

    def __init__(self, channels: tuple[int, int, int]) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.conv1, self.act1 = nn.Conv2d(3, c1, 3), nn.PReLU(c1)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.act2 = nn.Conv2d(c1, c2, 3), nn.PReLU(c2)
        self.conv3, self.act3 = nn.Conv2d(c2, c3, 3), nn.PReLU(c3)
        self.face = nn.Conv2d(c3, 2, 1)
        self.box = nn.Conv2d(c3, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.act3(self.conv3(self.act2(self.conv2(x))))
        return self.box(x), self.face(x)


class RNet(nn.Module):
    """Return (box offsets (N, 4), face logits (N, 2)) of 24 x 24 crops (N, 3, 24, 24)."""

    def __init__(self, channels: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.conv1, self.act1 = nn.Conv2d(3, c1, 3), nn.PReLU(c1)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.act2 = nn.Conv2d(c1, c2, 3), nn.PReLU(c2)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.act3 = nn.Conv2d(c2, c3, 2), nn.PReLU(c3)
        self.fc, self.act4 = nn.Linear(c3 * 3 * 3, hidden), nn.PReLU(hidden)
        self.face = nn.Linear(hidden, 2)
        self.box = nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.act4(self.fc(self.act3(self.conv3(x)).flatten(1)))  # (C, H, W) flatten order
        return self.box(x), self.face(x)


class ONet(nn.Module):
    """Return (box offsets (N, 4), face logits (N, 2), landmarks (N, 10) as x1..x5, y1..y5 in crop units) of (N, 3, 48, 48)."""

    def __init__(self, channels: tuple[int, int, int, int], hidden: int, num_landmarks: int) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        self.conv1, self.act1 = nn.Conv2d(3, c1, 3), nn.PReLU(c1)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.act2 = nn.Conv2d(c1, c2, 3), nn.PReLU(c2)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.act3 = nn.Conv2d(c2, c3, 3), nn.PReLU(c3)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.act4 = nn.Conv2d(c3, c4, 2), nn.PReLU(c4)
        self.fc, self.act5 = nn.Linear(c4 * 3 * 3, hidden), nn.PReLU(hidden)
        self.face = nn.Linear(hidden, 2)
        self.box = nn.Linear(hidden, 4)
        self.landmarks = nn.Linear(hidden, 2 * num_landmarks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.pool3(self.act3(self.conv3(x)))
        x = self.act5(self.fc(self.act4(self.conv4(x)).flatten(1)))
        return self.box(x), self.face(x), self.landmarks(x)


class MTCNN(ModelMixin, ConfigMixin):
    """Return P-Net's (box offsets, face logits) when called; holds MTCNN's `pnet`, `rnet` and `onet` as one diffusers model.

    Inputs of all three are RGB scaled (x - 127.5) / 128 (x in 0..255). `MTCNNFaceDetector` runs
    the cascade; `from_pretrained(folder)` / `save_pretrained(folder)` read and write the weights.
    """

    @register_to_config
    def __init__(
        self,
        pnet_channels: tuple[int, int, int] = (10, 16, 32),
        rnet_channels: tuple[int, int, int] = (28, 48, 64),
        rnet_hidden: int = 128,
        onet_channels: tuple[int, int, int, int] = (32, 64, 64, 128),
        onet_hidden: int = 256,
        num_landmarks: int = 5,
    ) -> None:
        super().__init__()
        self.pnet = PNet(tuple(pnet_channels))
        self.rnet = RNet(tuple(rnet_channels), rnet_hidden)
        self.onet = ONet(tuple(onet_channels), onet_hidden, num_landmarks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return P-Net's (box offsets, face logits) of normalised images (B, 3, H, W); the cascade lives in the detector."""
        return self.pnet(x)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> MTCNN:
        """Return the model in a checkpoint folder (or a Hub id when online), in eval mode; strict: any missing tensor raises."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)


@dataclass(frozen=True)
class MTCNNOptions:
    """Settings of an `MTCNNFaceDetector` (MediaPipe Tasks style: options -> create_from_options -> detect).

    Attributes:
        min_face_size: smallest face side searched, pixels (the pyramid's first scale is 12 / this).
        scale_factor: ratio between pyramid levels (< 1; nearer 1 is slower and finds a little more).
        thresholds: minimum face probability after P-Net, R-Net, O-Net.
        nms_thresholds: overlap limits for P-Net within a level, P-Net across levels, R-Net (IoU)
            and O-Net (intersection over the smaller box, which also drops boxes nested in others).
        max_faces: keep at most this many faces, most probable first (None keeps all).
        max_proposals: P-Net windows kept per pyramid level before NMS, most probable first; bounds
            time and memory on busy, large images.
        device: "auto" (cuda when available), "cpu", "cuda", or a torch.device.
        weights: a checkpoint folder written by `MTCNN.save_pretrained`; None uses the shipped one.
    """

    min_face_size: float = 20.0
    scale_factor: float = 0.709
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    nms_thresholds: tuple[float, float, float, float] = (0.5, 0.7, 0.7, 0.7)
    max_faces: int | None = None
    max_proposals: int = 4000
    device: Any = "auto"
    weights: str | None = None

    def __post_init__(self) -> None:
        if not self.min_face_size >= PNET_WINDOW:
            raise AvatarInputError(f"min_face_size must be at least {PNET_WINDOW} px, got {self.min_face_size}: use e.g. 20")
        if not 0.1 <= self.scale_factor < 1.0:
            raise AvatarInputError(f"scale_factor must be in [0.1, 1), got {self.scale_factor}: use e.g. 0.709")
        if len(self.thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in self.thresholds):
            raise AvatarInputError(f"thresholds must be three probabilities (P-Net, R-Net, O-Net), got {self.thresholds}")
        if len(self.nms_thresholds) != 4 or not all(0.0 < t <= 1.0 for t in self.nms_thresholds):
            raise AvatarInputError(f"nms_thresholds must be four overlaps in (0, 1], got {self.nms_thresholds}")
        if self.max_faces is not None and self.max_faces < 1:
            raise AvatarInputError(f"max_faces must be None or at least 1, got {self.max_faces}")
        if self.max_proposals < 1:
            raise AvatarInputError(f"max_proposals must be at least 1, got {self.max_proposals}")


@dataclass(frozen=True)
class MTCNNResult:
    """The faces MTCNN found in one image, most probable first.

    Attributes:
        boxes: (N, 4) float32 (x0, y0, x1, y1) pixels.
        scores: (N,) float32 O-Net face probability.
        landmarks: (N, 5, 2) float32 (x, y) pixels: left eye, right eye, nose, left and right mouth
            corner ("left" = the image's left).
        image_size: (H, W) of the input image.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def face_found(self) -> bool:
        """Return True when at least one face was found."""
        return len(self) > 0


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Return the image scales at which P-Net's 12 px window sees faces from `min_face_size` px up to the image's short side."""
    scale = PNET_WINDOW / float(min_face_size)
    side = min(height, width) * scale
    scales = []
    while side >= PNET_WINDOW:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def regress_boxes(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Return (N, 4) boxes moved by MTCNN's edge offsets (N, 4), given in units of the box width / height."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    return boxes + offsets * wh


def square_boxes(boxes: torch.Tensor) -> torch.Tensor:
    """Return (N, 4) squares of side max(w, h) around the boxes' centres (the next stage's crops are square)."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]).max(dim=1, keepdim=True).values / 2
    return torch.cat([centre - half, centre + half], dim=1)


def crop_boxes(images: torch.Tensor, image_index: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Return (N, C, size, size) crops of `images` (B, C, H, W) at `boxes` (N, 4), zero outside the image.

    Bilinear samples at up to 4 x 4 points per output pixel, averaged, so large boxes shrink
    without aliasing (the original resizes by area). Zero padding outside the image, as MTCNN's
    training crops were padded.
    """
    n = int(boxes.shape[0])
    if n == 0:
        return images.new_zeros((0, images.shape[1], size, size))
    _, _, h, w = images.shape
    side = float((boxes[:, 2:] - boxes[:, :2]).max())
    k = int(min(4, max(1, math.ceil(side / size))))
    big = size * k
    t = (torch.arange(big, device=images.device, dtype=images.dtype) + 0.5) / big  # sample centres in box units
    xs = boxes[:, 0:1] + t[None] * (boxes[:, 2:3] - boxes[:, 0:1])  # (N, big) pixel edge coordinates
    ys = boxes[:, 1:2] + t[None] * (boxes[:, 3:4] - boxes[:, 1:2])
    gx = (xs * (2.0 / w) - 1.0)[:, None, :].expand(n, big, big)  # align_corners=False normalisation
    gy = (ys * (2.0 / h) - 1.0)[:, :, None].expand(n, big, big)
    grid = torch.stack([gx, gy], -1)
    out = images.new_empty((n, images.shape[1], big, big))
    # One grid_sample per image over all its boxes, stacked along the height: no per-box copy of the image.
    for b in torch.unique(image_index).tolist():
        sel = (image_index == b).nonzero().flatten()
        g = grid[sel].reshape(1, -1, big, 2)
        s = F.grid_sample(images[b : b + 1], g, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[sel] = s.reshape(images.shape[1], len(sel), big, big).transpose(0, 1)
    return F.avg_pool2d(out, k) if k > 1 else out


def normalize(pixels: torch.Tensor) -> torch.Tensor:
    """Return MTCNN's input scaling (x - 127.5) / 128 of pixel values in 0..255."""
    return (pixels - 127.5) * 0.0078125


class MTCNNFaceDetector:
    """Return MTCNN face boxes, scores and landmarks from RGB images; see the module docstring."""

    def __init__(self, options: MTCNNOptions | None = None) -> None:
        self.options = options or MTCNNOptions()
        self.device = resolve_device(self.options.device)
        weights = DEFAULT_WEIGHTS if self.options.weights is None else self.options.weights
        self._model: MTCNN | None = MTCNN.from_pretrained(weights).to(self.device)
        self._model.requires_grad_(False)

    @classmethod
    def create_from_options(cls, options: MTCNNOptions) -> MTCNNFaceDetector:
        """Return a detector built from `options`."""
        return cls(options)

    @property
    def model(self) -> MTCNN:
        """Return the three networks; raises once the detector is closed."""
        if self._model is None:
            raise AvatarInputError("this MTCNNFaceDetector was closed: create a new one with MTCNNFaceDetector.create_from_options")
        return self._model

    def close(self) -> None:
        """Release the networks; the detector cannot be used afterwards."""
        self._model = None

    def __enter__(self) -> MTCNNFaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, image: Any) -> MTCNNResult:
        """Return the faces in one RGB image: (H, W, 3) uint8 numpy, or (3, H, W) float torch in [0, 1]."""
        x = check_images(image)
        if x.shape[0] != 1:
            raise ShapeError(f"detect takes one image, got a batch of shape {tuple(x.shape)}: use detect_batch")
        return self.detect_batch(x)[0]

    def detect_batch(self, images: Any) -> list[MTCNNResult]:
        """Return one `MTCNNResult` per image of a batch of same-sized images (any form `check_images` accepts)."""
        model = self.model
        x = images_to_tensor(images, self.device) * 255.0  # (B, 3, H, W) pixel values, on the device
        with torch.inference_mode():
            boxes, scores, img = self._propose(model.pnet, x)
            boxes, scores, img = self._refine(model.rnet, x, boxes, img)
            boxes, scores, img, marks = self._output(model.onet, x, boxes, img)
        h, w = int(x.shape[2]), int(x.shape[3])
        boxes, scores, img, marks = (t.float().cpu().numpy() for t in (boxes, scores, img, marks))
        results = []
        for b in range(int(x.shape[0])):
            sel = np.flatnonzero(img == b)[: self.options.max_faces]  # NMS left them most probable first
            results.append(MTCNNResult(boxes[sel], scores[sel], marks[sel], (h, w)))
        return results

    # -- the three stages -----------------------------------------------------------------------

    def _propose(self, pnet: PNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return squared P-Net boxes (N, 4), scores (N,) and image indices (N,) over the pyramid."""
        o = self.options
        h, w = int(x.shape[2]), int(x.shape[3])
        found_boxes, found_scores, found_img = [], [], []
        for scale in pyramid_scales(h, w, o.min_face_size, o.scale_factor):
            level = F.interpolate(x, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            offsets, logits = pnet(normalize(level))
            prob = torch.softmax(logits, dim=1)[:, 1]  # (B, h', w')
            idx = (prob >= o.thresholds[0]).nonzero()  # (K, 3): image, row, column
            if idx.shape[0] == 0:
                continue
            score = prob[idx[:, 0], idx[:, 1], idx[:, 2]]
            if idx.shape[0] > o.max_proposals:
                top = torch.topk(score, o.max_proposals).indices
                idx, score = idx[top], score[top]
            xy = idx[:, [2, 1]].to(x.dtype) * PNET_STRIDE
            # The window of output cell (r, c) covers level pixels [2c, 2c + 12) x [2r, 2r + 12).
            boxes = torch.cat([xy, xy + PNET_WINDOW], dim=1) / scale
            reg = offsets.permute(0, 2, 3, 1)[idx[:, 0], idx[:, 1], idx[:, 2]]
            keep = batched_nms(boxes, score, idx[:, 0], o.nms_thresholds[0])
            found_boxes.append(torch.cat([boxes[keep], reg[keep]], dim=1))
            found_scores.append(score[keep])
            found_img.append(idx[keep, 0])
        if not found_boxes:
            empty = x.new_zeros((0, 4))
            return empty, x.new_zeros(0), torch.zeros(0, dtype=torch.int64, device=x.device)
        both, score, img = torch.cat(found_boxes), torch.cat(found_scores), torch.cat(found_img)
        keep = batched_nms(both[:, :4], score, img, o.nms_thresholds[1])
        both, score, img = both[keep], score[keep], img[keep]
        return square_boxes(regress_boxes(both[:, :4], both[:, 4:])), score, img

    def _refine(self, rnet: RNet, x: torch.Tensor, boxes: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return R-Net's surviving, regressed, squared boxes, their scores and image indices."""
        o = self.options
        if boxes.shape[0] == 0:
            return boxes, boxes.new_zeros(0), img
        offsets, logits = rnet(normalize(crop_boxes(x, img, boxes, 24)))
        score = torch.softmax(logits, dim=1)[:, 1]
        ok = score > o.thresholds[1]
        boxes, score, img, offsets = boxes[ok], score[ok], img[ok], offsets[ok]
        keep = batched_nms(boxes, score, img, o.nms_thresholds[2])
        return square_boxes(regress_boxes(boxes[keep], offsets[keep])), score[keep], img[keep]

    def _output(self, onet: ONet, x: torch.Tensor, boxes: torch.Tensor, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return O-Net's final boxes, scores, image indices and (N, 5, 2) landmarks."""
        o = self.options
        if boxes.shape[0] == 0:
            return boxes, boxes.new_zeros(0), img, boxes.new_zeros((0, 5, 2))
        offsets, logits, marks = onet(normalize(crop_boxes(x, img, boxes, 48)))
        score = torch.softmax(logits, dim=1)[:, 1]
        ok = score > o.thresholds[2]
        boxes, score, img, offsets, marks = boxes[ok], score[ok], img[ok], offsets[ok], marks[ok]
        k = marks.shape[1] // 2
        # Landmarks are fractions of the box O-Net saw (before its own regression moves the box).
        wh = boxes[:, None, 2:] - boxes[:, None, :2]
        points = boxes[:, None, :2] + torch.stack([marks[:, :k], marks[:, k:]], dim=-1) * wh
        boxes = regress_boxes(boxes, offsets)
        keep = batched_nms(boxes, score, img, o.nms_thresholds[3], mode="min")
        return boxes[keep], score[keep], img[keep], points[keep]
