"""Writes sequences and reads their fields by file suffix: .npz, .json, .csv (Live Link Face), .glb/.gltf (save only).

- .npz: arrays `weights` (T, 52) float32, `fps`, `names` (column names), and when set `head_pose`
  (T, 6), `labels` (T,) str, `audio` (str); exact round trip.
- .json: a human-readable document (one frame per line)::

      {"format": "emoavatar.sequence", "version": 1, "fps": 30.0, "names": [...52...],
       "head_pose": [[6 floats], ...] | null, "labels": [...] | null, "audio": "..." | null,
       "frames": [[52 floats], ...]}

  Floats are the shortest decimals that read back as the same float32: exact round trip.
  `names` may list any spellings `avatar.rig.normalize_name` accepts, in any order.
- .csv: Live Link Face layout, see `avatar.io.livelink` (labels, audio and head translation are not kept).
- .jsonl: JSON Lines as `emoavatar stream` writes them, one frame per line::

      {"frame": 0, "time": 0.0, "blendshapes": {"browDownLeft": 0.0, ...}, "head_pose": {"pitch": ..., "tz": ...},
       "emotion": "happy"}

  (read only). The frame rate comes from the frames' `time`s (None for a single frame); missing
  blendshapes read as 0, `emotion` becomes the frame's label.

Weights outside 0..1 in any file are clipped to 0..1 with one warning that counts them and names the first
one's place (line or frame, and column); see docs/formats.md.
- .glb/.gltf: an animated head, see `avatar.io.gltf.export_gltf` (save only).

Every file is written through `atomic_path`: a failed save leaves no partial file and keeps an old one.
Readers return the fields of an `ExpressionSequence` (`weights`, `fps`, `head_pose`, `labels`, `audio`),
with `fps` None when the file does not state its rate; `ExpressionSequence.load` builds the object and
applies the one rule for an unstated rate (`avatar.constants.UNSTATED_FPS`), so this module never needs
`avatar.sequence` (which imports it).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.errors import AvatarInputError, FileFormatError, OutputPathError
from avatar.io.atomic import atomic_path
from avatar.rig import ARKIT_NAMES, try_normalize_name

from avatar.io.text import float32_text

if TYPE_CHECKING:
    from avatar.protocols import SequenceLike

JSON_FORMAT = "emoavatar.sequence"
JSON_VERSION = 1
SAVE_SUFFIXES = (".npz", ".json", ".csv", ".glb", ".gltf")
LOAD_SUFFIXES = (".npz", ".json", ".csv", ".jsonl")


def save_sequence(seq: SequenceLike, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write `seq` in the format its suffix names (atomically) and return the path.

    `kwargs` are options of the glTF export (`avatar.io.gltf.export_gltf`); other formats take none.
    Raises OutputPathError for an unknown suffix, listing the supported ones.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_SUFFIXES:
        raise OutputPathError(f"cannot save a sequence as {suffix or '(no suffix)'!r}: use one of {', '.join(SAVE_SUFFIXES)}")
    if suffix in (".glb", ".gltf"):
        from avatar.io.gltf import export_gltf

        return export_gltf(seq, path, **kwargs)
    if kwargs:
        raise AvatarInputError(f"save options {', '.join(sorted(kwargs))} apply to .glb/.gltf only, not {suffix}")
    if suffix == ".csv":
        from avatar.io.livelink import write_livelink_csv

        return write_livelink_csv(seq, path)
    if suffix == ".npz":
        arrays: dict[str, Any] = {"weights": seq.weights, "fps": np.float64(seq.fps), "names": np.array(ARKIT_NAMES)}
        if seq.head_pose is not None:
            arrays["head_pose"] = seq.head_pose
        if seq.labels is not None:
            arrays["labels"] = np.array(seq.labels, dtype=str).reshape(len(seq.labels))
        if seq.audio is not None:
            arrays["audio"] = np.array(seq.audio, dtype=str)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        return Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(_json_text(seq), encoding="utf-8")
    return Path(path)


def _json_text(seq: SequenceLike) -> str:
    """Return the JSON document of `seq`, one frame per line so diffs and eyes can follow it."""
    def rows(a: np.ndarray) -> str:
        return "[" + ",\n  ".join("[" + ",".join(r) + "]" for r in float32_text(a)) + "]"

    head = {"format": JSON_FORMAT, "version": JSON_VERSION, "fps": seq.fps, "names": list(ARKIT_NAMES),
            "labels": seq.labels, "audio": seq.audio}
    text = json.dumps(head)[:-1]
    text += ',\n "head_pose": ' + ("null" if seq.head_pose is None else rows(seq.head_pose))
    text += ',\n "frames": ' + rows(seq.weights) + "}\n"
    return text


def read_sequence_fields(path: str | os.PathLike) -> dict[str, Any]:
    """Return the fields of the sequence stored at `path` (.npz, .json or Live Link Face .csv).

    Keys: weights (T, 52) float32 in ARKit order, fps (None when the file does not state it),
    head_pose, labels, audio. Raises FileFormatError naming the file for a missing, unreadable or
    malformed file, or an unsupported suffix (listing the supported ones).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in LOAD_SUFFIXES:
        hint = " (glTF is export-only)" if suffix in (".glb", ".gltf") else ""
        raise FileFormatError(f"cannot read a sequence from {suffix or '(no suffix)'!r} files{hint}: use one of {', '.join(LOAD_SUFFIXES)}")
    if not p.is_file():
        raise FileFormatError(f"sequence file {str(p)!r} not found")
    if suffix == ".csv":
        from avatar.io.livelink import read_livelink_csv

        fields = read_livelink_csv(p)
    elif suffix == ".jsonl":
        fields = _load_jsonl(p)
    else:
        fields = _load_npz(p) if suffix == ".npz" else _load_json(p)
    rows = fields.pop("row_names", None) or [f"frame {i}" for i in range(len(fields["weights"]))]
    fields["weights"] = clip_weights(fields["weights"], rows, repr(str(p)))
    return fields


WEIGHT_TOLERANCE = 1e-4
"""How far outside 0..1 a weight may stray (float round-off in exporters) before reading it warns."""


def clip_weights(weights: np.ndarray, row_names: list[str], where: str) -> np.ndarray:
    """Return (T, 52) weights clipped to 0..1; values outside (beyond `WEIGHT_TOLERANCE`) warn once, naming the first.

    The warning counts the values, gives the range found and the first one's row (`row_names[i]`, e.g.
    "line 7") and column (its ARKit name), so a user can find the exporter's mistake.
    """
    from avatar.notices import warn

    w = np.asarray(weights, np.float32)
    bad = (w < -WEIGHT_TOLERANCE) | (w > 1.0 + WEIGHT_TOLERANCE)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        count = int(bad.sum())
        warn(f"{where}: {count} weight{'s' * (count != 1)} outside 0..1 clipped (values {float(w.min()):.3g}..{float(w.max()):.3g}; "
             f"first at {row_names[i]}, column {ARKIT_NAMES[j]} = {float(w[i, j]):.4g})", stacklevel=3)
    return np.clip(w, 0.0, 1.0)


def _load_jsonl(p: Path) -> dict[str, Any]:
    """Return the fields of `emoavatar stream`'s JSON Lines (one frame object per line)."""
    weights, poses, labels, times, rows = [], [], [], [], []
    pose_keys = ("pitch", "yaw", "roll", "tx", "ty", "tz")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FileFormatError(f"cannot read {str(p)!r} as text ({type(e).__name__})") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            frame = json.loads(line)
        except json.JSONDecodeError as e:
            raise FileFormatError(f"{str(p)!r} line {n}: not JSON ({e.msg}); expected one frame object per line") from None
        shapes = frame.get("blendshapes") if isinstance(frame, dict) else None
        if not isinstance(shapes, dict):
            raise FileFormatError(f"{str(p)!r} line {n}: no 'blendshapes' object; expected lines as `emoavatar stream` writes")
        w = np.zeros(len(ARKIT_NAMES), np.float32)
        for name, value in shapes.items():
            k = try_normalize_name(name)
            if k is None:
                continue
            try:
                w[ARKIT_NAMES.index(k)] = float(value)
            except (TypeError, ValueError):
                raise FileFormatError(f"{str(p)!r} line {n}: {name} is {value!r}; use a number") from None
        hp = frame.get("head_pose") or {}
        try:
            poses.append([float(hp.get(k, 0.0)) for k in pose_keys])
            times.append(float(frame["time"]) if frame.get("time") is not None else None)
        except (TypeError, ValueError, AttributeError):
            raise FileFormatError(f"{str(p)!r} line {n}: 'head_pose' and 'time' must hold numbers") from None
        weights.append(w)
        labels.append(str(frame.get("emotion") or ""))
        rows.append(f"line {n}")
    if not weights:
        raise FileFormatError(f"{str(p)!r} has no frames: expected one JSON object per line, as `emoavatar stream` writes")
    fps = None
    if len(times) > 1 and None not in times and times[-1] > times[0]:
        fps = round((len(times) - 1) / (times[-1] - times[0]), 3)
    hp_arr = np.asarray(poses, np.float32)
    return {"weights": np.stack(weights), "fps": fps, "head_pose": hp_arr if np.any(hp_arr) else None,
            "labels": labels if any(labels) else None, "audio": None, "row_names": rows}


def _load_npz(p: Path) -> dict[str, Any]:
    try:
        with np.load(p, allow_pickle=False) as d:
            if "weights" not in d.files:
                raise FileFormatError(f"{str(p)!r} has no 'weights' array: write it with ExpressionSequence.save")
            names = [str(n) for n in d["names"]] if "names" in d.files else list(ARKIT_NAMES)
            weights = _reorder(d["weights"], names, p)
            fields = dict(
                fps=float(d["fps"]) if "fps" in d.files else None,
                head_pose=d["head_pose"] if "head_pose" in d.files else None,
                labels=[str(x) for x in d["labels"]] if "labels" in d.files else None,
                audio=str(d["audio"]) if "audio" in d.files else None,
            )
    except FileFormatError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise FileFormatError(f"{str(p)!r} is not an emoavatar NPZ sequence ({type(e).__name__}): write it with ExpressionSequence.save") from None
    return {"weights": weights, **fields}


def _load_json(p: Path) -> dict[str, Any]:
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f" (line {e.lineno}: {e.msg})" if isinstance(e, json.JSONDecodeError) else ""
        raise FileFormatError(f"{str(p)!r} is not valid JSON{where}: write it with ExpressionSequence.save") from None
    if not isinstance(doc, dict) or "frames" not in doc:
        raise FileFormatError(f"{str(p)!r} has no 'frames' list: expected an {JSON_FORMAT} document")
    if doc.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise FileFormatError(f"{str(p)!r} is a {doc.get('format')!r} document, not {JSON_FORMAT!r}")
    version = doc.get("version", JSON_VERSION)
    if not isinstance(version, int) or version > JSON_VERSION:
        raise FileFormatError(f"{str(p)!r} is {JSON_FORMAT} version {version!r}; this emoavatar reads up to "
                              f"version {JSON_VERSION}: upgrade emoavatar")
    names = doc.get("names") or list(ARKIT_NAMES)
    try:
        frames = np.asarray(doc["frames"], np.float32)
        hp = doc.get("head_pose")
        hp = None if hp is None else np.asarray(hp, np.float32)
        fps = None if doc.get("fps") is None else float(doc["fps"])
    except (TypeError, ValueError):
        raise FileFormatError(f"{str(p)!r}: 'frames' and 'head_pose' must be lists of equal-length number "
                              "lists and 'fps' a number") from None
    if frames.size == 0:
        frames = frames.reshape(0, len(names))
    labels, audio = doc.get("labels"), doc.get("audio")
    if labels is not None and not isinstance(labels, list):
        raise FileFormatError(f"{str(p)!r}: 'labels' must be a list of strings or null")
    return {"weights": _reorder(frames, names, p), "fps": fps, "head_pose": hp, "labels": labels, "audio": audio}


def _reorder(weights: np.ndarray, names: list[str], path: Path) -> np.ndarray:
    """Return (T, 52) weights in ARKit order from columns named `names` (any accepted spelling)."""
    w = np.asarray(weights, np.float32)
    if w.ndim != 2 or w.shape[1] != len(names):
        raise FileFormatError(f"{str(path)!r}: weights have shape {tuple(w.shape)} but there are {len(names)} names; "
                              "each frame needs one value per name")
    out = np.zeros((w.shape[0], len(ARKIT_NAMES)), np.float32)
    for j, n in enumerate(names):
        k = try_normalize_name(n)
        if k is not None:
            out[:, ARKIT_NAMES.index(k)] = w[:, j]
    return out
