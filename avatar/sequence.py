"""ExpressionSequence: named ARKit weights over time, the currency between generators and renderers."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.constants import DEFAULT_FPS, UNSTATED_FPS
from avatar.errors import AvatarInputError, FileFormatError, ShapeError
from avatar.rig import ARKIT_NAMES, index_of
from avatar.validation import check_fps

if TYPE_CHECKING:
    import torch

HEAD_POSE_NAMES: tuple[str, ...] = ("pitch", "yaw", "roll", "tx", "ty", "tz")
"""Columns of `head_pose`: rotations in radians (x = pitch, y = yaw, z = roll), translation in cm."""


@dataclass(eq=False)
class ExpressionSequence:
    """A (T, 52) float32 array of ARKit weights in [0, 1] at `fps`, with optional head pose and labels.

    Attributes:
        weights: (T, 52) float32, columns named by `names` (ARKit order).
        fps: frames per second (> 0).
        head_pose: optional (T, 6) float32, see `HEAD_POSE_NAMES`.
        labels: optional per-frame strings (e.g. the commanded emotion), length T.
        audio: optional path of the audio this sequence was made from (for muxing).
        names: the column names; always ARKit 52 in this order.
    """

    weights: np.ndarray
    fps: float = DEFAULT_FPS
    head_pose: np.ndarray | None = None
    labels: list[str] | None = None
    audio: str | None = None
    names: tuple[str, ...] = field(default=ARKIT_NAMES)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float32)
        if w.ndim == 1 and w.shape[0] == len(ARKIT_NAMES):
            w = w[None]
        if w.ndim != 2 or w.shape[1] != len(ARKIT_NAMES):
            raise ShapeError(f"weights must have shape (T, 52), got {tuple(w.shape)}")
        if not np.all(np.isfinite(w)):
            raise AvatarInputError("weights contain NaN or infinite values: clean the input before building a sequence")
        self.weights = np.clip(w, 0.0, 1.0)
        if tuple(self.names) != ARKIT_NAMES:
            raise ShapeError("ExpressionSequence columns must be ARKit 52 in Apple's order (see avatar.rig)")
        self.names = ARKIT_NAMES
        self.fps = check_fps(self.fps)
        if self.head_pose is not None:
            hp = np.asarray(self.head_pose, dtype=np.float32)
            if hp.shape != (len(w), 6):
                raise ShapeError(f"head_pose must have shape ({len(w)}, 6), got {tuple(hp.shape)}")
            self.head_pose = hp
        if self.labels is not None:
            self.labels = [str(x) for x in self.labels]
            if len(self.labels) != len(w):
                raise ShapeError(f"labels must have length {len(w)}, got {len(self.labels)}")
        if self.audio is not None:
            self.audio = os.fspath(self.audio)

    # ----------------------------------------------------------------- basics
    def __repr__(self) -> str:
        """Return a one-line summary (frames, fps, duration, the most active shapes, head pose, labels, audio), no arrays."""
        t = len(self)
        parts = [f"{t} frame{'s' * (t != 1)} at {self.fps:g} fps ({self.duration:.2f} s)"]
        if t:
            peak = self.weights.max(axis=0)
            top = [k for k in np.argsort(-peak)[:3] if peak[k] > 0.01]
            parts.append("most active: " + (", ".join(f"{ARKIT_NAMES[k]} {peak[k]:.2f}" for k in top) if top else "none (neutral)"))
        if self.head_pose is not None:
            parts.append("head pose")
        if self.labels is not None:
            seen: list[str] = []
            for lab in self.labels:
                if lab not in seen:
                    seen.append(lab)
            parts.append("labels " + ", ".join(seen[:4]) + (", ..." if len(seen) > 4 else ""))
        if self.audio is not None:
            parts.append(f"audio {os.path.basename(self.audio)!r}")
        return f"ExpressionSequence({'; '.join(parts)})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # The generated dataclass __eq__ compares arrays with `==` and raises on their truth value.
        if not isinstance(other, ExpressionSequence):
            return NotImplemented
        return (self.fps == other.fps and self.labels == other.labels and self.audio == other.audio
                and np.array_equal(self.weights, other.weights)
                and (self.head_pose is None) == (other.head_pose is None)
                and (self.head_pose is None or np.array_equal(self.head_pose, other.head_pose)))

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass default

    def __len__(self) -> int:
        return int(self.weights.shape[0])

    @property
    def duration(self) -> float:
        """Return the length in seconds (T / fps)."""
        return len(self) / self.fps

    @property
    def times(self) -> np.ndarray:
        """Return the (T,) float64 time of each frame in seconds."""
        return np.arange(len(self), dtype=np.float64) / self.fps

    def column(self, name: str) -> np.ndarray:
        """Return the (T,) weights of one blendshape, by any accepted spelling of its name."""
        return self.weights[:, index_of(name)]

    @classmethod
    def from_pose(cls, weights: np.ndarray, frames: int = 1, fps: float = DEFAULT_FPS, label: str | None = None) -> ExpressionSequence:
        """Return a sequence that holds one (52,) pose for `frames` frames."""
        w = np.asarray(weights, dtype=np.float32).reshape(1, -1)
        return cls(np.repeat(w, frames, axis=0), fps=fps, labels=[label] * frames if label else None)

    @classmethod
    def from_dict(cls, frames: list[dict[str, float]], fps: float = DEFAULT_FPS) -> ExpressionSequence:
        """Return a sequence from per-frame {name: weight} dicts; names in any accepted spelling."""
        w = np.zeros((len(frames), len(ARKIT_NAMES)), np.float32)
        for t, d in enumerate(frames):
            for k, v in d.items():
                w[t, index_of(k)] = v
        return cls(w, fps=fps)

    # ------------------------------------------------------------ editing ops
    def slice(self, start: float = 0.0, end: float | None = None) -> ExpressionSequence:
        """Return the frames between `start` and `end` seconds (end exclusive)."""
        i0 = max(0, int(round(start * self.fps)))
        i1 = len(self) if end is None else min(len(self), int(round(end * self.fps)))
        return self[i0:max(i0, i1)]  # a negative or early end gives no frames, not Python's count-from-the-end

    def __getitem__(self, idx: slice) -> ExpressionSequence:
        if not isinstance(idx, slice):
            raise TypeError("index an ExpressionSequence with a slice of frames, e.g. seq[10:20]")
        step = abs(int(idx.step or 1))  # a zero step falls through to numpy's own error
        return replace(
            self,
            fps=self.fps / step,  # every n-th frame keeps the duration: the rate drops n-fold
            weights=self.weights[idx].copy(),
            head_pose=None if self.head_pose is None else self.head_pose[idx].copy(),
            labels=None if self.labels is None else self.labels[idx],
        )

    def resample(self, fps: float) -> ExpressionSequence:
        """Return the sequence linearly resampled to `fps`, keeping its duration; labels by nearest frame."""
        fps = check_fps(fps)
        if len(self) == 0 or fps == self.fps:
            return replace(self, fps=fps, weights=self.weights.copy())
        n_new = max(1, int(round(self.duration * fps)))
        t_new = np.arange(n_new) / fps
        t_old = self.times
        w = np.stack([np.interp(t_new, t_old, self.weights[:, k]) for k in range(self.weights.shape[1])], 1)
        hp = None
        if self.head_pose is not None:
            hp = np.stack([np.interp(t_new, t_old, self.head_pose[:, k]) for k in range(6)], 1)
        labels = None
        if self.labels is not None:
            idx = np.clip(np.round(t_new * self.fps).astype(int), 0, len(self) - 1)
            labels = [self.labels[i] for i in idx]
        return replace(self, weights=w, fps=fps, head_pose=hp, labels=labels)

    @staticmethod
    def concatenate(seqs: list[ExpressionSequence]) -> ExpressionSequence:
        """Return the sequences joined in time; all are resampled to the first one's fps."""
        if not seqs:
            raise AvatarInputError("concatenate needs at least one sequence")
        fps = seqs[0].fps
        seqs = [s if s.fps == fps else s.resample(fps) for s in seqs]
        any_pose = any(s.head_pose is not None for s in seqs)
        any_lab = any(s.labels is not None for s in seqs)
        return ExpressionSequence(
            np.concatenate([s.weights for s in seqs]),
            fps=fps,
            head_pose=np.concatenate([s.head_pose if s.head_pose is not None else np.zeros((len(s), 6), np.float32) for s in seqs]) if any_pose else None,
            labels=sum((s.labels if s.labels is not None else [""] * len(s) for s in seqs), []) if any_lab else None,
            audio=seqs[0].audio if len(seqs) == 1 else None,
        )

    def __add__(self, other: ExpressionSequence) -> ExpressionSequence:
        return ExpressionSequence.concatenate([self, other])

    def to_torch(self, device: Any = "cpu") -> torch.Tensor:
        """Return the weights as a (T, 52) float32 torch tensor on `device` ("cpu", "cuda", "auto")."""
        import torch

        from avatar.device import resolve_device

        return torch.from_numpy(self.weights).to(resolve_device(device))

    # ------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike, **kwargs: Any) -> None:
        """Write the sequence; the format follows the suffix (.npz, .json, .csv, .glb/.gltf).

        `kwargs` are options of the glTF export (`avatar.io.gltf.export_gltf`); other formats take none.
        """
        from avatar.io.formats import save_sequence

        save_sequence(self, path, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike, fps: float | None = None) -> ExpressionSequence:
        """Return the sequence read from `path` (.npz, .json, Live Link Face .csv, or `emoavatar stream`'s .jsonl).

        Weights outside 0..1 are clipped with one warning naming the first one's line (or frame) and column.

        With `fps` the result runs at `fps` (resampled from the file's rate). A file that does not
        state its rate (any format) is read at `fps` when given, else at `UNSTATED_FPS` with a warning.
        Raises FileFormatError naming the file for anything it cannot read.
        """
        from avatar.io.formats import read_sequence_fields

        fields = read_sequence_fields(path)
        if fps is not None:
            fps = check_fps(fps)
        if fields["fps"] is None:
            if fps is None:
                warnings.warn(f"{str(path)!r} does not state its frame rate; reading at {UNSTATED_FPS:g} fps, "
                              "pass fps= to choose", UserWarning, stacklevel=2)
            fields["fps"] = UNSTATED_FPS if fps is None else fps
        try:
            seq = cls(**fields)
        except AvatarInputError as e:  # name the file, keep one line
            raise FileFormatError(f"{str(path)!r}: {e}") from None
        return seq if fps is None or fps == seq.fps else seq.resample(fps)
