"""face-api.js expression recognizer: a torch port of FaceExpressionNet (via @vladmandic/face-api, MIT), 7 classes.

    from recognizers import FaceApiExpressionRecognizer
    rec = FaceApiExpressionRecognizer(device="auto")                       # already cropped faces
    rec(faces).labels                                                      # ['happy', ...]
    FaceApiExpressionRecognizer(detect_faces=True)(photo).emotion_probs    # face detection first
    rec(frames, boxes=(x0, y0, x1, y1))                                    # renders with a known face box
    rec.log_probs(images, boxes=boxes)                                     # (B, 8) differentiable, a Critic

A real-face judge independent of the FER2013 ones: Vincent Muehler's face-api.js FaceExpressionNet,
"trained on a variety of images from publicly available datasets as well as images scraped from the
web" (face-api.js README; the data are not listed), shipped by the npm package @vladmandic/face-api
1.7.15 as `model/face_expression_model.bin` (uint8-quantized TF.js weights, 329 KiB).
scripts/convert_face_api_expression.py dequantizes them and writes recognizers/weights/face_api_expression/.

Network (`FaceExpressionNet`, 323,687 parameters): face-api.js' FaceFeatureExtractor, four dense
blocks at 32, 64, 128, 256 channels, each halving the resolution (112 -> 56 -> 28 -> 14 -> 7): the
first layer is a 3x3/2 convolution (block 0) or a depthwise-separable 3x3/2 convolution, followed
by three depthwise-separable 3x3 convolutions whose inputs are the relu of the sum of all earlier
outputs of the block (DenseNet-style); TF 'same' padding; then a 7x7/2 valid average pool and a
fully connected layer 256 -> 7.

Input, as face-api's `FaceFeatureExtractor.forwardInput`: RGB, padded to a square with black
(centred: the odd pixel goes to the bottom/right) and resized to 112 x 112, then
`(pixel - mean_rgb) / 255` with pixels in 0..255 and mean_rgb = (122.782, 117.001, 104.298).
Output: logits over face-api's FACE_EXPRESSION_LABELS order: neutral, happy, sad, angry, fearful,
disgusted, surprised. There is no contempt: that column of `Recognition.emotion_probs` is NaN (and
-inf in `log_probs`).
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
from avatar.errors import ShapeError
from recognizers.face_judge import FaceCropJudge, tf_same_pad
from recognizers.faces import crop_faces

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "face_api_expression"
"""The shipped checkpoint folder (config.json + diffusion_pytorch_model.safetensors, LICENSE, source.json)."""

FACE_API_CLASSES: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
"""The model's own output order (face-api's FACE_EXPRESSION_LABELS)."""

FACE_API_TO_EMOTION: dict[str, str] = {
    "neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "anger",
    "fearful": "fear", "disgusted": "disgust", "surprised": "surprise",
}

MEAN_RGB: tuple[float, float, float] = (122.782, 117.001, 104.298)
"""Per-channel mean face-api subtracts from 0..255 pixels before dividing by 255."""

JUDGE_NAME = "face-api (face-api.js FaceExpressionNet via @vladmandic/face-api)"


class SeparableConv(nn.Module):
    """Return a depthwise 3x3 (stride 1 or 2, TF 'same' padding) then pointwise 1x1 convolution plus bias.

    tf.separableConv2d followed by the bias add of face-api's `depthwiseSeparableConv`.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.depthwise = nn.Conv2d(cin, cin, 3, stride=stride, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TF 'same' at stride 2 on even sizes pads only the bottom/right; symmetric padding would shift every feature.
        return self.pointwise(self.depthwise(tf_same_pad(x, 3, self.stride)))


class StridedConv(nn.Module):
    """Return a full 3x3 convolution with bias at stride 2, TF 'same' padding (the first layer of the network)."""

    def __init__(self, cin: int, cout: int, stride: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(tf_same_pad(x, 3, self.stride))


class DenseBlock(nn.Module):
    """Return the output of face-api's `denseBlock4`: (B, cout, H/2, W/2) from (B, cin, H, W).

    out1 = relu(conv0(x)) at stride 2; out2 = sep1(out1); out3 = sep2(relu(out1 + out2));
    out4 = sep3(relu(out1 + out2 + out3)); result relu(out1 + out2 + out3 + out4).
    """

    def __init__(self, cin: int, cout: int, first: bool = False) -> None:
        super().__init__()
        self.conv0: nn.Module = StridedConv(cin, cout) if first else SeparableConv(cin, cout, stride=2)
        self.conv1 = SeparableConv(cout, cout)
        self.conv2 = SeparableConv(cout, cout)
        self.conv3 = SeparableConv(cout, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(x))
        out2 = self.conv1(out1)
        out3 = self.conv2(F.relu(out1 + out2))
        out4 = self.conv3(F.relu(out1 + out2 + out3))
        return F.relu(out1 + out2 + out3 + out4)


class FaceExpressionNet(ModelMixin, ConfigMixin):
    """Return face-api expression logits (B, num_classes) from normalised RGB faces (B, 3, 112, 112).

    face-api.js' FaceFeatureExtractor (four dense blocks of depthwise-separable convolutions) and
    its fully connected classifier. The input is already normalised by `preprocess`
    ((pixel - mean_rgb) / 255); softmax is left to the caller (losses want logits). A diffusers
    model: `save_pretrained(folder)` / `FaceExpressionNet.from_pretrained(folder)`.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 7,
        block_channels: tuple[int, ...] = (32, 64, 128, 256),
        image_size: int = 112,
        pool_size: int = 7,
        pool_stride: int = 2,
        mean_rgb: tuple[float, float, float] = MEAN_RGB,
    ) -> None:
        super().__init__()
        self.image_size = image_size
        self.mean_rgb = tuple(float(m) for m in mean_rgb)
        chans = [in_channels, *block_channels]
        self.dense = nn.ModuleList(DenseBlock(a, b, first=i == 0) for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])))
        self.fc = nn.Linear(chans[-1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the (B, 256) bottleneck features (FaceFeatureExtractor's output, flattened) of normalised input."""
        for block in self.dense:
            x = block(x)
        x = F.avg_pool2d(x, self.config.pool_size, stride=self.config.pool_stride)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> FaceExpressionNet:
        """Return the model in a checkpoint folder (or a Hub id when online), in eval mode; strict: any missing tensor raises."""
        return load_strict(super().from_pretrained, pretrained_model_name_or_path, **kwargs)


def pad_to_square(images: torch.Tensor) -> torch.Tensor:
    """Return (B, C, S, S) images, S = max(H, W), padded with zeros (black) as face-api's centred `padToSquare` does.

    face-api appends round(d / 2) rows/columns after the image and the rest (d // 2) before it.
    """
    h, w = int(images.shape[-2]), int(images.shape[-1])
    d = abs(h - w)
    if d == 0:
        return images
    after, before = (d + 1) // 2, d // 2  # JS Math.round rounds .5 up
    pads = [before, after, 0, 0] if h > w else [0, 0, before, after]
    return F.pad(images, pads, value=0.0)


def preprocess(images: torch.Tensor, size: int = 112, mean_rgb: tuple[float, float, float] = MEAN_RGB) -> torch.Tensor:
    """Return model input (B, 3, size, size) from float RGB (B, 3, H, W) in [0, 1]: face-api's normalisation.

    Black padding to a square (centred), an antialiased bilinear resize when the size differs
    (face-api's tensor path uses tf.image.resizeBilinear without antialiasing, which aliases large
    crops; at 112 x 112 no resize happens and the two agree exactly), then (255 x - mean_rgb) / 255.
    Differentiable, on the images' device.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ShapeError(f"face-api expression input must be RGB (B, 3, H, W), got {tuple(images.shape)}")
    x = pad_to_square(images)
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(mean_rgb, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) / 255.0
    return x - mean


class FaceApiExpressionRecognizer(FaceCropJudge):
    """Return `Recognition`s (8 emotions, contempt unavailable) from faces or photos with face-api.js' FaceExpressionNet.

    Args:
        device: "auto" (cuda when available), "cpu", "cuda", or a torch.device.
        weights: a checkpoint folder written by `FaceExpressionNet.save_pretrained`; None uses the
            shipped recognizers/weights/face_api_expression/.
        detect_faces: find the largest face in each image with `recognizers.faces.FaceDetector`
            first (for photos; it runs on the host); False treats each image as a face crop,
            padded to a square and resized to 112 x 112 as face-api does.
        detector_options: settings for that detector and for every crop (eye alignment, margin);
            the default margin is 0, face-api's own framing: it reads the detector's box as it is.
        batch_size: images per forward pass; larger batches are split, which bounds memory.

    Calling it with `boxes=` ((4,) or (B, 4) pixels, numpy/list) crops known faces on the device
    instead, the path for our own renders: no detection, no host round trip of the pixels.
    `log_probs(images, boxes=None)` is the differentiable read-out (`avatar.protocols.Critic`).
    """

    model_name = JUDGE_NAME
    model_class = FaceExpressionNet
    default_weights = DEFAULT_WEIGHTS
    default_margin = 0.0  # face-api crops exactly the detector's box (extractFaces / extractFaceTensors add no margin)
    default_batch_size = 128
    classes = tuple(FACE_API_TO_EMOTION[c] for c in FACE_API_CLASSES)
    training_data = ("face-api.js: \"a variety of images from publicly available datasets as well as images scraped from the web\" "
                     "(real faces; datasets not named), 112x112 colour, 7 emotions")

    def model_input(self, images: torch.Tensor, boxes: Any = None, angles: Any = None) -> torch.Tensor:
        """Return normalised model input (B, 3, 112, 112) of float (B, 3, H, W) images, cropped at `boxes` if given."""
        if boxes is not None:
            images = crop_faces(images, boxes, self.image_size, self.detector_options.margin, angles)
        return preprocess(images, self.image_size, self.model.mean_rgb)
