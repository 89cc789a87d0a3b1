"""Returns `Recognition`s from a face-crop emotion classifier: the shared body of the real-face judges.

FER2013's mini-Xception, face_classification's big-Xception and face-api's FaceExpressionNet all do
the same around their networks: find or take a face box, crop it on the device, run the net over a
handful of classes, and lay those out over the eight `avatar.emotion.EMOTIONS` (NaN, or -inf in log
space, for a class the model lacks). `FaceCropJudge` holds that once; a judge supplies its network,
its class order and `model_input` (its own colour conversion, crop size and normalisation).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from avatar.arrays import is_torch
from avatar.errors import AvatarInputError
from recognizers.base import EMOTIONS, BaseRecognizer, Recognition, images_to_numpy
from recognizers.faces import FaceDetector, FaceDetectorOptions, check_boxes

FER2013_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""FER2013's class order, which the Keras models trained on it (fer's, oarriaga's) output in."""

FER2013_TO_EMOTION: dict[str, str] = {
    "angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happy",
    "sad": "sad", "surprise": "surprise", "neutral": "neutral",
}
"""FER2013's names -> `avatar.emotion.EMOTIONS` names."""

LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights (cv2.COLOR_RGB2GRAY): FER2013's own grey conversion."""


def to_gray(images: torch.Tensor, luma: tuple[float, float, float] = LUMA) -> torch.Tensor:
    """Return (B, 1, H, W) grey of float (B, 3, H, W) RGB images by `luma` weights; 1-channel input is returned as is."""
    if images.shape[1] == 1:
        return images
    w = torch.tensor(luma, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(dim=1, keepdim=True)


def gray_model_input(images: torch.Tensor, size: int = 64, luma: tuple[float, float, float] = LUMA) -> torch.Tensor:
    """Return (B, 1, size, size) input in [-1, 1] for FER2013-style nets from float RGB or grey images in [0, 1].

    Grey by `luma`, an antialiased bilinear resize when the size differs (plain bilinear aliases large
    crops), then (x - 0.5) * 2, the Keras models' scaling of x / 255. Differentiable, on the images' device.
    """
    import torch.nn.functional as F

    gray = to_gray(images, luma)
    if tuple(gray.shape[-2:]) != (size, size):
        gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (gray - 0.5) * 2.0


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Return `x` padded as TensorFlow/Keras 'same' padding does (any extra row/column on the bottom/right)."""
    import torch.nn.functional as F

    pads = []
    for size in (int(x.shape[-1]), int(x.shape[-2])):
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class FaceCropJudge(BaseRecognizer):
    """Return `Recognition`s (8 emotions, NaN where the model has no class) from a face-crop classifier.

    Subclasses set `model_name`, `training_data`, `classes` (the network's outputs in its order, named
    as `EMOTIONS`), `model_class` and `default_weights`, and implement `model_input`.

    Args:
        device: "auto" (cuda when available), "cpu", "cuda", or a torch.device.
        weights: a checkpoint folder written by `model_class.save_pretrained`; None uses the shipped one.
        detect_faces: find the largest face in each image with `recognizers.faces.FaceDetector` first
            (photos; it runs on the host); False treats each image as a face crop.
        detector_options: settings for that detector and for every crop (margin, eye alignment).
        batch_size: images per forward pass (default `default_batch_size`); larger batches are split.

    Calling it with `boxes=` ((4,) or (B, 4) pixels) crops known faces on the device instead, the path
    for our own renders: no detection, no host round trip of the pixels.
    """

    classes: tuple[str, ...] = ()
    model_class: Any = None
    default_weights: Any = None
    default_margin: float = 0.1
    """Crop margin around the face box, as a fraction of its side, the judge's original framing expects."""
    default_batch_size: int = 256

    def __init__(self, device: Any = "auto", weights: str | os.PathLike | None = None, detect_faces: bool = False,
                 detector_options: FaceDetectorOptions | None = None, batch_size: int | None = None) -> None:
        super().__init__(device)
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise AvatarInputError(f"batch_size must be a whole number of at least 1, got {batch_size!r}")
        self.detect_faces = bool(detect_faces)
        self.detector_options = detector_options or FaceDetectorOptions(max_faces=1, margin=self.default_margin)
        self.batch_size = int(batch_size)
        self.model = self.model_class.from_pretrained(self.default_weights if weights is None else weights).to(self.device)
        # A judge and a critic, never trained here: gradients flow to the images only.
        self.model.requires_grad_(False)
        self.image_size = int(self.model.config.image_size)
        self._detector: FaceDetector | None = None
        self.emotion_available = np.array([name in self.classes for name in EMOTIONS])
        # Our column j takes the model's column _source[j]; -1 where the model lacks that class.
        self._source = [self.classes.index(name) if name in self.classes else -1 for name in EMOTIONS]
        self._cols = [j for j, src in enumerate(self._source) if src >= 0]

    # -- what a judge supplies -------------------------------------------------------------------
    def model_input(self, images: torch.Tensor, boxes: Any = None, angles: Any = None) -> torch.Tensor:
        """Return the network's input for float (B, 3, H, W) images in [0, 1], cropped at `boxes` if given."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    def __call__(self, images: Any, boxes: Any = None) -> Recognition:
        """Return the `Recognition` of a batch; `boxes` ((4,) or (B, 4) pixels) crops known faces on the device."""
        x = self.prepare(images)
        if boxes is None and self.detect_faces:
            # Detect on the caller's host array when there is one, rather than downloading x.
            return self._recognize(x, *self._detect(images))
        return self.recognize(x, boxes)

    def logits(self, images: torch.Tensor, boxes: Any = None) -> torch.Tensor:
        """Return differentiable logits (B, len(classes)) in the model's class order of float (B, 3, H, W) images."""
        if not is_torch(images):
            raise AvatarInputError(f"logits takes a float torch tensor (B, 3, H, W) on {self.device}, got {type(images).__name__}: "
                                   "use avatar.frames.images_to_tensor")
        return self.model(self.model_input(images, boxes))

    def log_probs(self, images: torch.Tensor, boxes: Any = None) -> torch.Tensor:
        """Return differentiable (B, 8) log-probabilities over `EMOTIONS` (-inf where the model has no class).

        The `avatar.protocols.Critic` read-out that refinement and guidance optimise against.
        """
        lp = torch.log_softmax(self.logits(images, boxes), dim=-1)
        out = torch.full((lp.shape[0], len(EMOTIONS)), float("-inf"), dtype=lp.dtype, device=lp.device)
        # index_copy keeps the graph: gradients reach the images through the model's real columns.
        cols = torch.tensor(self._cols, device=lp.device)
        src = torch.tensor([self._source[j] for j in self._cols], device=lp.device)
        return out.index_copy(1, cols, lp.index_select(1, src))

    def recognize(self, images: torch.Tensor, boxes: Any = None) -> Recognition:
        """Return the `Recognition` of checked float (B, 3, H, W) images on the device, cropped at `boxes` if given."""
        b = None if boxes is None else check_boxes(boxes, int(images.shape[0]))
        return self._recognize(images, b, None, None)

    def _recognize(self, images: torch.Tensor, boxes: np.ndarray | None, angles: np.ndarray | None,
                   found: np.ndarray | None) -> Recognition:
        n, _, h, w = (int(s) for s in images.shape)
        step = self.batch_size
        chunks = []
        with torch.inference_mode():
            for s in range(0, n, step):
                x = self.model_input(images[s:s + step], None if boxes is None else boxes[s:s + step],
                                     None if angles is None else angles[s:s + step])
                chunks.append(torch.softmax(self.model(x), dim=-1))
        p = torch.cat(chunks)
        probs = torch.full((n, len(EMOTIONS)), float("nan"), device=p.device)
        probs[:, self._cols] = p[:, [self._source[j] for j in self._cols]]
        full = np.array([[0.0, 0.0, w, h]], dtype=np.float32).repeat(n, 0)
        box_out = torch.as_tensor(full if boxes is None else boxes, dtype=torch.float32).to(p.device)
        found_out = None
        if found is not None:
            found_out = torch.as_tensor(found).to(p.device)
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

    def __enter__(self) -> FaceCropJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
