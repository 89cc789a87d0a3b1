"""Typing protocols for the objects that cross the layers: sequences, recognizers, critics, scorers.

The middle packages never import each other, so a generator that needs a recognizer in the loop
(portrait guidance, refinement, the speech model's emotion loss) types its argument with these and
the facade (`avatar.app`) passes the default one (`recognizers.FER2013Recognizer`,
`recognizers.EmotionScorer`, or a user's own object with the same shape). The file writers in
`avatar.io` take a `SequenceLike`, so they need not import `avatar.sequence`. Nothing here imports
torch or any other package, so `import avatar` stays instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SequenceLike(Protocol):
    """What the sequence writers read: (T, 52) float32 `weights` in ARKit order at `fps`, see `ExpressionSequence`."""

    weights: Any
    fps: float
    head_pose: Any
    labels: list[str] | None
    audio: str | None

    def __len__(self) -> int: ...


@runtime_checkable
class RecognitionLike(Protocol):
    """What a recognizer returns: batch-first arrays (numpy or torch), see `recognizers.Recognition`.

    `emotion_probs` is (B, 8) over `avatar.emotion.EMOTIONS`, NaN in classes the model lacks;
    `emotion_available` is (8,) bool. `aus`, `arkit`, `valence`, `arousal`, `boxes` may be None.
    """

    emotion_probs: Any
    emotion_available: Any
    aus: Any
    arkit: Any
    valence: Any
    arousal: Any
    boxes: Any

    @property
    def labels(self) -> list[str]: ...


@runtime_checkable
class Recognizer(Protocol):
    """Something that maps a batch of images to a `RecognitionLike`.

    Images are uint8 (B, H, W, 3) / (H, W, 3) numpy, or float (B, 3, H, W) torch in [0, 1] on any device.
    """

    def __call__(self, images: Any) -> RecognitionLike: ...


@runtime_checkable
class Critic(Protocol):
    """Differentiable emotion read-out that refinement and portrait guidance optimise against.

    `log_probs(images, boxes=None)` takes float (B, 3, H, W) torch images in [0, 1] on the critic's device
    and returns (B, 8) emotion log-probabilities over `avatar.emotion.EMOTIONS` that carry gradients back to
    the images (classes the model lacks are -inf). `boxes` ((4,) or (B, 4) pixels (x0, y0, x1, y1)) are
    known face boxes to crop at, e.g. from the renderer; None reads each image as a face crop.
    Judges that score are separate from critics that steer.
    """

    device: Any

    def log_probs(self, images: Any, boxes: Any = None) -> Any: ...


@runtime_checkable
class ArkitCritic(Protocol):
    """Differentiable expression read-back that portrait guidance uses for AU adherence.

    `arkit(images)` takes float (B, 3, H, W) torch face crops in [0, 1] on the critic's device and returns
    (B, 52) ARKit weights in [0, 1] (the AUs' pose on the rig, `avatar.facs`) that carry gradients back to the images.
    """

    device: Any

    def arkit(self, images: Any) -> Any: ...


@runtime_checkable
class ScoreLike(Protocol):
    """What a scorer's `compute()` returns: at least a sample count, an accuracy and a dict form."""

    n: int
    accuracy: float

    def to_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class Scorer(Protocol):
    """Accumulates recognitions against the commanded emotion over batches, then reports a score."""

    def update(
        self,
        recognition_or_probs: Any,
        expected_labels: str | Sequence[str] | Any,
        commanded_aus: Any = None,
        commanded_va: Any = None,
    ) -> None: ...

    def compute(self) -> ScoreLike: ...

    def reset(self) -> None: ...


# Type aliases of the public signatures (the facade, the session): what each option accepts, named once.
RGB = tuple[float, float, float]
"""An sRGB colour, each channel in 0..1."""
