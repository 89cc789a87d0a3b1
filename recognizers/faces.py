"""Face boxes and aligned square face crops: MTCNN or OpenCV Haar detection for photos, known boxes for renders.

    opts = FaceDetectorOptions(output_size=64, margin=0.1)          # backend="auto": MTCNN, Haar where it finds nothing
    with FaceDetector.create_from_options(opts) as detector:
        result = detector.detect(photo)          # photo: (H, W, 3) uint8 RGB
        result.boxes, result.crops               # (N, 4) x0, y0, x1, y1 px; (N, 64, 64, 3) uint8

For our own renders the face position is known: `detector.crop(image, boxes)` (numpy, cv2), or
`crop_faces(images, boxes)` (torch, batched, on the images' device, no host round trip).

Boxes are (x0, y0, x1, y1) in continuous pixel coordinates: x0 is the left edge of pixel column
x0, so a box covering the whole W x H image is (0, 0, W, H). A crop is the square of side
`max(w, h) * (1 + 2 * margin)` around the box centre, rotated so the eyes are level when both
were found (`align_eyes`), else unrotated; outside the image the border pixels are repeated.

Two detectors, chosen by `FaceDetectorOptions.backend`:

- "mtcnn": `recognizers.mtcnn` (three small CNNs, torch, any device). It finds three-quarter and
  many profile views, small and dim faces; its eye landmarks give the roll. Its boxes (eyebrows to
  chin, narrower than tall) are returned as squares of side sqrt(w * h) around the same centre, which
  frames a face like a Haar box does (within ~10 % on skimage's astronaut and on our renders), so a
  crop `margin` means the same with either backend.
- "haar": OpenCV's Haar cascade (frontal face, and the eye cascade for the roll), from the cascade
  files opencv-python-headless 4.x ships in `cv2.data.haarcascades`. Frontal faces only.
- "auto" (default): MTCNN, and Haar on the images where MTCNN finds no face.

Measured on renders (front / three-quarter / profile) and skimage's photos: see the MTCNN section
of recognizers/weights/README.md. cv2 is imported only when a detector is created (crops and the
Haar cascades use it): `pip install emoavatar[recognizers]`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.errors import AvatarInputError, ShapeError
from recognizers.base import check_images, images_to_numpy, is_torch

if TYPE_CHECKING:
    import torch

BACKENDS: tuple[str, ...] = ("auto", "mtcnn", "haar")

INSTALL_HINT = "face detection needs OpenCV: pip install emoavatar[recognizers] (or pip install 'opencv-python-headless<5')"


def import_cv2() -> Any:
    """Return the cv2 module, or raise ImportError with the install hint."""
    try:
        import cv2
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return cv2


@dataclass(frozen=True)
class FaceDetectorOptions:
    """Settings of a `FaceDetector` (MediaPipe Tasks style: options -> create_from_options -> detect).

    Attributes:
        backend: "auto" (MTCNN, then Haar where MTCNN finds nothing), "mtcnn" or "haar".
        device: where MTCNN runs: "auto" (cuda when available), "cpu", "cuda".
        scale_factor, min_neighbors: Haar `detectMultiScale` settings (smaller scale step and
            fewer neighbours find more faces and more false ones).
        min_face_size: smallest face side, pixels (both backends; MTCNN's smallest is 12).
        max_faces: keep at most this many faces, largest first (None keeps all).
        margin: fraction of the box side added on each side of the square crop.
        output_size: side of the square crops, pixels.
        align_eyes: rotate crops so the eyes are level when the eye cascade finds both.
        max_roll_degrees: eye lines steeper than this are taken as false eye hits (no rotation).
        equalize: histogram-equalise the grayscale image before detection (helps dim photos).
        return_crops: also return the crops (False returns boxes and angles only).
        face_cascade, eye_cascade: cascade XML paths; None uses the ones in cv2.data.haarcascades.
    """

    backend: str = "auto"
    device: str = "auto"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_size: int = 32
    max_faces: int | None = None
    margin: float = 0.1
    output_size: int = 64
    align_eyes: bool = True
    max_roll_degrees: float = 30.0
    equalize: bool = False
    return_crops: bool = True
    face_cascade: str | None = None
    eye_cascade: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise AvatarInputError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.min_face_size < 12:
            raise AvatarInputError(f"min_face_size must be at least 12 px, got {self.min_face_size}")
        if not self.scale_factor > 1.0:
            raise AvatarInputError(f"scale_factor must be > 1, got {self.scale_factor}: use e.g. 1.1")
        if self.output_size < 8:
            raise AvatarInputError(f"output_size must be at least 8 px, got {self.output_size}")
        if not 0.0 <= self.margin <= 2.0:
            raise AvatarInputError(f"margin must be in [0, 2] (a fraction of the face box side), got {self.margin}")
        if self.max_faces is not None and self.max_faces < 1:
            raise AvatarInputError(f"max_faces must be None or at least 1, got {self.max_faces}")


@dataclass(frozen=True)
class FaceDetectorResult:
    """The faces found in one image, largest first.

    Attributes:
        boxes: (N, 4) float32 (x0, y0, x1, y1) pixels.
        angles: (N,) float32 roll in degrees that the crops undo (0 where the eyes were not found).
        eyes_found: (N,) bool, True where both eyes were found and the crop was levelled.
        crops: (N, S, S, 3) uint8 RGB aligned crops, or None when options.return_crops is False.
        image_size: (H, W) of the input image.
        scores: (N,) float32 detector confidence (MTCNN's face probability; NaN for Haar), or None.
        landmarks: (N, 5, 2) float32 (x, y) pixels: eyes, nose, mouth corners (MTCNN; NaN for
            Haar), or None.
        detector: which backend found these faces, "mtcnn" or "haar" ("" for known boxes).
    """

    boxes: np.ndarray
    angles: np.ndarray
    eyes_found: np.ndarray
    crops: np.ndarray | None
    image_size: tuple[int, int]
    scores: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    detector: str = ""

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def face_found(self) -> bool:
        """Return True when at least one face was found."""
        return len(self) > 0


def crop_matrices(boxes: Any, size: int, margin: float, angles: Any = None) -> np.ndarray:
    """Return (N, 2, 3) float64 affine maps from crop pixel indices (u, v, 1) to source pixel indices.

    Shared by the cv2 and torch crops so both cut the same square: side `max(w, h) * (1 + 2 margin)`
    around the box centre, the crop's x axis along the eye line (`angles`, degrees).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    a = np.zeros(len(b)) if angles is None else np.radians(np.asarray(angles, dtype=np.float64).reshape(-1))
    centre = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], -1)
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * (1.0 + 2.0 * margin)
    k = side / size  # source pixels per crop pixel
    cos, sin = np.cos(a) * k, np.sin(a) * k
    lin = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # (N, 2, 2)
    # Crop pixel u has its centre at u + 0.5 in edge coordinates; source index = edge coordinate - 0.5.
    offset = np.einsum("nij,j->ni", lin, np.full(2, 0.5 - size / 2.0)) + centre - 0.5
    return np.concatenate([lin, offset[:, :, None]], axis=2)


def check_boxes(boxes: Any, n: int) -> np.ndarray:
    """Return boxes as float64 (n, 4) numpy, from (4,) (one box for all) or (n, 4); raises on bad shapes or empty boxes."""
    b = np.asarray(boxes.detach().cpu() if is_torch(boxes) else boxes, dtype=np.float64)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4 or (b.shape[0] != n and b.shape[0] != 1):
        raise ShapeError(f"boxes must be (4,) or ({n}, 4) as (x0, y0, x1, y1) pixels, got shape {tuple(b.shape)}")
    wh = b[:, 2:] - b[:, :2]
    if not np.all(np.isfinite(b)) or np.any(wh <= 0):
        raise AvatarInputError(f"boxes need x1 > x0 and y1 > y0 with finite values, got {b.tolist()[:2]}: pass (x0, y0, x1, y1)")
    return np.broadcast_to(b, (n, 4)).copy()


def crop_faces(images: torch.Tensor, boxes: Any, size: int = 64, margin: float = 0.1, angles: Any = None) -> torch.Tensor:
    """Return (B, C, size, size) crops of float (B, C, H, W) images on their device, one box per image.

    `boxes` is (4,) (same box for all) or (B, 4) (x0, y0, x1, y1) pixels; `angles` (B,) degrees or
    None. Bilinear sampling at up to 4x the output resolution, then average pooling, so large
    faces shrink without aliasing. Differentiable with respect to `images`.
    """
    import torch
    import torch.nn.functional as F

    if not is_torch(images) or images.ndim != 4:
        raise ShapeError(f"crop_faces takes a float torch tensor (B, C, H, W), got {getattr(images, 'shape', type(images).__name__)}")
    n, _, h, w = (int(s) for s in images.shape)
    b = check_boxes(boxes, n)
    side = float(np.max(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]))) * (1.0 + 2.0 * margin)
    factor = int(min(4, max(1, math.ceil(side / size))))
    big = size * factor
    mats = torch.as_tensor(crop_matrices(b, big, margin, angles), dtype=torch.float32, device=images.device)
    idx = torch.arange(big, dtype=torch.float32, device=images.device)
    vv, uu = torch.meshgrid(idx, idx, indexing="ij")
    base = torch.stack([uu, vv, torch.ones_like(uu)], -1)  # (big, big, 3) as (u, v, 1)
    src = torch.einsum("hwk,nik->nhwi", base, mats)  # (B, big, big, 2) source pixel indices (x, y)
    scale = torch.tensor([2.0 / w, 2.0 / h], device=images.device)
    grid = (src + 0.5) * scale - 1.0  # align_corners=False normalisation
    out = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=False)
    return F.avg_pool2d(out, factor) if factor > 1 else out


class FaceDetector:
    """Return face boxes and aligned crops from RGB photos (MTCNN and/or OpenCV Haar); see the module docstring."""

    def __init__(self, options: FaceDetectorOptions | None = None) -> None:
        self.options = options or FaceDetectorOptions()
        self._cv2 = import_cv2()
        self._closed = False
        o = self.options
        root = Path(self._cv2.data.haarcascades)
        self._face = self._load(o.face_cascade or str(root / "haarcascade_frontalface_default.xml")) if o.backend != "mtcnn" else None
        self._eye = self._load(o.eye_cascade or str(root / "haarcascade_eye.xml")) if o.align_eyes else None
        self._mtcnn: Any = None
        if o.backend != "haar":
            from recognizers.mtcnn import MTCNNFaceDetector, MTCNNOptions

            self._mtcnn = MTCNNFaceDetector.create_from_options(MTCNNOptions(min_face_size=float(o.min_face_size), device=o.device))

    @classmethod
    def create_from_options(cls, options: FaceDetectorOptions) -> FaceDetector:
        """Return a detector built from `options`."""
        return cls(options)

    def _load(self, path: str) -> Any:
        if not Path(path).is_file():
            raise AvatarInputError(f"Haar cascade {path!r} not found: pass an existing XML path, or reinstall opencv-python-headless<5")
        cascade = self._cv2.CascadeClassifier(path)
        if cascade.empty():
            raise AvatarInputError(f"Haar cascade {path!r} could not be loaded: pass an OpenCV cascade XML file")
        return cascade

    def _require_open(self) -> None:
        if self._closed:
            raise AvatarInputError("this FaceDetector was closed: create a new one with FaceDetector.create_from_options")

    def close(self) -> None:
        """Release the cascades and MTCNN's networks; the detector cannot be used afterwards."""
        self._closed = True
        self._face = None
        self._eye = None
        if self._mtcnn is not None:
            self._mtcnn.close()
            self._mtcnn = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- detection ------------------------------------------------------------------------------

    def detect(self, image: Any) -> FaceDetectorResult:
        """Return the faces in one RGB image, largest first: (H, W, 3) uint8 numpy, or (3, H, W) float torch in [0, 1]."""
        self._require_open()
        img = self._single(image)
        if self._mtcnn is not None:
            found = self._detect_mtcnn(img)
            if len(found) or self._face is None:
                return found
        return self._detect_haar(img)

    def _detect_haar(self, img: np.ndarray) -> FaceDetectorResult:
        gray = self._cv2.cvtColor(img, self._cv2.COLOR_RGB2GRAY)
        if self.options.equalize:
            gray = self._cv2.equalizeHist(gray)
        o = self.options
        found = self._face.detectMultiScale(gray, scaleFactor=o.scale_factor, minNeighbors=o.min_neighbors, minSize=(o.min_face_size, o.min_face_size))
        xywh = np.asarray(found, dtype=np.float64).reshape(-1, 4)
        xywh = xywh[np.argsort(-(xywh[:, 2] * xywh[:, 3]), kind="stable")][: o.max_faces]
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        angles, eyes = self._eye_angles(gray, boxes)
        n = len(boxes)
        return replace(self._result(img, boxes, angles, eyes), scores=np.full(n, np.nan, np.float32),
                       landmarks=np.full((n, 5, 2), np.nan, np.float32), detector="haar")

    def _detect_mtcnn(self, img: np.ndarray) -> FaceDetectorResult:
        o = self.options
        r = self._mtcnn.detect(img)
        raw = r.boxes.astype(np.float64)
        # MTCNN boxes run eyebrows to chin; the square of side sqrt(w * h) frames the face as Haar does.
        centre = (raw[:, :2] + raw[:, 2:]) / 2
        half = np.sqrt(np.prod(raw[:, 2:] - raw[:, :2], axis=1))[:, None] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        order = np.argsort(-half[:, 0], kind="stable")[: o.max_faces]
        boxes, scores, marks = boxes[order], r.scores[order], r.landmarks[order]
        angles = np.zeros(len(boxes))
        eyes = np.zeros(len(boxes), dtype=bool)
        if o.align_eyes:
            for i, (box, m) in enumerate(zip(boxes, marks)):
                dx, dy = float(m[1, 0] - m[0, 0]), float(m[1, 1] - m[0, 1])
                angle = math.degrees(math.atan2(dy, dx))
                # Same plausibility rule as the eye cascade: on profiles the eyes nearly coincide.
                if dx >= 0.2 * (box[2] - box[0]) and abs(angle) <= o.max_roll_degrees:
                    angles[i], eyes[i] = angle, True
        return replace(self._result(img, boxes, angles, eyes), scores=scores.astype(np.float32),
                       landmarks=marks.astype(np.float32), detector="mtcnn")

    def detect_batch(self, images: Any) -> list[FaceDetectorResult]:
        """Return one `FaceDetectorResult` per image of a batch (any form `check_images` accepts)."""
        return [self.detect(img) for img in images_to_numpy(images)]

    def crop(self, image: Any, boxes: Any, angles: Any = None) -> FaceDetectorResult:
        """Return crops of one image at known boxes ((4,) or (N, 4) pixels); eyes are levelled if `align_eyes` and `angles` is None."""
        self._require_open()
        img = self._single(image)
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        b = check_boxes(b, len(b))
        if angles is None:
            angles, eyes = self._eye_angles(self._cv2.cvtColor(img, self._cv2.COLOR_RGB2GRAY), b)
        else:
            angles = np.broadcast_to(np.asarray(angles, dtype=np.float64).reshape(-1), (len(b),)).copy()
            eyes = np.zeros(len(b), dtype=bool)
        return self._result(img, b, angles, eyes)

    def _single(self, image: Any) -> np.ndarray:
        x = check_images(image, min_side=self.options.min_face_size)
        if x.shape[0] != 1:
            raise ShapeError(f"detect takes one image, got a batch of shape {tuple(x.shape)}: use detect_batch")
        return images_to_numpy(x)[0]

    def _eye_angles(self, gray: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        angles = np.zeros(len(boxes))
        found = np.zeros(len(boxes), dtype=bool)
        if self._eye is None:
            return angles, found
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            angle = self._eye_angle(gray, int(x0), int(y0), int(x1 - x0), int(y1 - y0))
            if angle is not None:
                angles[i], found[i] = angle, True
        return angles, found

    def _eye_angle(self, gray: np.ndarray, x: int, y: int, w: int, h: int) -> float | None:
        # Eyes sit in the upper ~60% of a Haar face box; searching only there avoids nostril/mouth hits.
        roi = gray[max(y, 0) : max(y, 0) + int(h * 0.6), max(x, 0) : max(x, 0) + w]
        if min(roi.shape) < 16:
            return None
        lo, hi = max(w // 10, 5), max(w // 3, 6)
        eyes = np.asarray(self._eye.detectMultiScale(roi, scaleFactor=1.1, minNeighbors=5, minSize=(lo, lo), maxSize=(hi, hi))).reshape(-1, 4)
        if len(eyes) < 2:
            return None
        centres = eyes[:, :2] + eyes[:, 2:] / 2.0
        area = eyes[:, 2] * eyes[:, 3]
        left, right = centres[:, 0] < w / 2.0, centres[:, 0] >= w / 2.0
        if not left.any() or not right.any():
            return None
        el = centres[left][np.argmax(area[left])]
        er = centres[right][np.argmax(area[right])]
        dx, dy = er[0] - el[0], er[1] - el[1]
        angle = math.degrees(math.atan2(dy, dx))
        if dx < 0.2 * w or abs(angle) > self.options.max_roll_degrees:
            return None
        return angle

    def _result(self, img: np.ndarray, boxes: np.ndarray, angles: np.ndarray, eyes: np.ndarray) -> FaceDetectorResult:
        o = self.options
        crops = None
        if o.return_crops:
            crops = np.stack([self._crop_one(img, b, a) for b, a in zip(boxes, angles)]) if len(boxes) else np.zeros((0, o.output_size, o.output_size, 3), np.uint8)
        return FaceDetectorResult(
            boxes=boxes.astype(np.float32), angles=np.asarray(angles, np.float32), eyes_found=np.asarray(eyes, bool),
            crops=crops, image_size=(int(img.shape[0]), int(img.shape[1])),
        )

    def _crop_one(self, img: np.ndarray, box: np.ndarray, angle: float) -> np.ndarray:
        cv2, o = self._cv2, self.options
        side = max(box[2] - box[0], box[3] - box[1]) * (1.0 + 2.0 * o.margin)
        # Warp at the face's own resolution, then area-average down: warpAffine alone would alias.
        native = int(max(o.output_size, round(side)))
        m = crop_matrices(box, native, o.margin, [angle])[0]
        warped = cv2.warpAffine(img, m, (native, native), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        if native == o.output_size:
            return warped
        return cv2.resize(warped, (o.output_size, o.output_size), interpolation=cv2.INTER_AREA)


@functools.lru_cache(maxsize=4)
def _shared_detector(options: FaceDetectorOptions) -> FaceDetector:
    return FaceDetector(options)


def detect_boxes(images: Any, options: FaceDetectorOptions | None = None) -> np.ndarray:
    """Return (B, 4) float32 boxes (x0, y0, x1, y1) of the largest face per image, NaN rows where none was found.

    A shared detector per `options` is kept (loading the cascades and MTCNN takes ~0.1 s); crops are not computed.
    """
    opts = replace(options or FaceDetectorOptions(), max_faces=1, return_crops=False, align_eyes=False)
    detector = _shared_detector(opts)
    frames = images_to_numpy(images)
    out = np.full((len(frames), 4), np.nan, dtype=np.float32)
    for i, frame in enumerate(frames):
        r = detector.detect(frame)
        if len(r):
            out[i] = r.boxes[0]
    return out
