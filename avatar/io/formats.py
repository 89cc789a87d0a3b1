"""Saves and loads ExpressionSequences by file suffix: .npz, .json, .csv (Live Link Face), .glb/.gltf (save only).

NPZ and JSON round-trip exactly (float32 values written with 9 significant digits in JSON).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import FileFormatError, OutputPathError
from avatar.io.atomic import atomic_path
from avatar.rig import ARKIT_NAMES, try_normalize_name

JSON_FORMAT = "emoavatar.sequence"
SAVE_SUFFIXES = (".npz", ".json", ".csv", ".glb", ".gltf")
LOAD_SUFFIXES = (".npz", ".json", ".csv")


def save_sequence(seq: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write `seq` in the format its suffix names (atomically); return the path."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        with atomic_path(path) as tmp:
            arrays: dict[str, Any] = {"weights": seq.weights, "fps": np.float64(seq.fps), "names": np.array(ARKIT_NAMES)}
            if seq.head_pose is not None:
                arrays["head_pose"] = seq.head_pose
            if seq.labels is not None:
                arrays["labels"] = np.array(seq.labels, dtype=str)
            if seq.audio is not None:
                arrays["audio"] = np.array(seq.audio)
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        return Path(path)
    if suffix == ".json":
        doc = {
            "format": JSON_FORMAT, "version": 1, "fps": seq.fps, "names": list(ARKIT_NAMES),
            "frames": [[float(f"{v:.9g}") for v in row] for row in seq.weights.tolist()],
            "head_pose": None if seq.head_pose is None else [[float(f"{v:.9g}") for v in r] for r in seq.head_pose.tolist()],
            "labels": seq.labels, "audio": seq.audio,
        }
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        return Path(path)
    if suffix == ".csv":
        from avatar.io.livelink import write_livelink_csv

        return write_livelink_csv(seq, path)
    if suffix in (".glb", ".gltf"):
        from avatar.io.gltf import export_gltf

        return export_gltf(seq, path, **kwargs)
    raise OutputPathError(f"cannot save a sequence as {suffix or '(no suffix)'!r}: use one of {', '.join(SAVE_SUFFIXES)}")


def load_sequence(path: str | os.PathLike, fps: float | None = None) -> Any:
    """Return the ExpressionSequence stored at `path` (.npz, .json or Live Link Face .csv)."""
    from avatar.sequence import ExpressionSequence

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in LOAD_SUFFIXES:
        raise FileFormatError(f"cannot read a sequence from {suffix or '(no suffix)'!r} files: use one of {', '.join(LOAD_SUFFIXES)}")
    if not p.is_file():
        raise FileFormatError(f"sequence file {str(p)!r} not found")
    if suffix == ".csv":
        from avatar.io.livelink import read_livelink_csv

        return read_livelink_csv(p, fps=fps)
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as d:
                names = [str(n) for n in d["names"]] if "names" in d.files else list(ARKIT_NAMES)
                weights = _reorder(d["weights"], names, p)
                seq = ExpressionSequence(
                    weights, fps=float(d["fps"]) if "fps" in d.files else 30.0,
                    head_pose=d["head_pose"] if "head_pose" in d.files else None,
                    labels=[str(x) for x in d["labels"]] if "labels" in d.files else None,
                    audio=str(d["audio"]) if "audio" in d.files else None,
                )
        except (OSError, ValueError, KeyError) as e:
            raise FileFormatError(f"{str(p)!r} is not an emoavatar NPZ sequence ({e}): write it with ExpressionSequence.save") from None
    else:
        try:
            doc = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            where = f" (line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
            raise FileFormatError(f"{str(p)!r} is not valid JSON{where}: write it with ExpressionSequence.save") from None
        if not isinstance(doc, dict) or "frames" not in doc:
            raise FileFormatError(f"{str(p)!r} has no 'frames' list: expected an {JSON_FORMAT} document")
        try:
            weights = _reorder(np.asarray(doc["frames"], np.float32), doc.get("names") or list(ARKIT_NAMES), p)
        except ValueError:
            raise FileFormatError(f"{str(p)!r}: 'frames' must be a list of equal-length number lists") from None
        hp = doc.get("head_pose")
        seq = ExpressionSequence(weights, fps=float(doc.get("fps", 30.0)), head_pose=None if hp is None else np.asarray(hp, np.float32),
                                 labels=doc.get("labels"), audio=doc.get("audio"))
    return seq if fps is None else seq.resample(fps)


def _reorder(weights: np.ndarray, names: list[str], path: Path) -> np.ndarray:
    """Return (T, 52) weights in ARKit order from columns named `names` (any accepted spelling)."""
    w = np.atleast_2d(np.asarray(weights, np.float32))
    if w.shape[1] != len(names):
        raise FileFormatError(f"{str(path)!r}: {w.shape[1]} weight columns but {len(names)} names")
    out = np.zeros((w.shape[0], len(ARKIT_NAMES)), np.float32)
    for j, n in enumerate(names):
        k = try_normalize_name(n)
        if k is not None:
            out[:, ARKIT_NAMES.index(k)] = w[:, j]
    return out
