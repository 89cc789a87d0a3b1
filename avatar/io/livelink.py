"""Live Link Face CSV: the layout Epic's Live Link Face app records and Unreal's MetaHuman tools read.

Header: `Timecode,BlendShapeCount,` then the 52 ARKit names capitalised in the app's own order
(EyeBlinkLeft ... TongueOut, which follows ARKit's ARFaceAnchor grouping by eye, jaw, mouth, brow,
cheek, nose, tongue), then 9 head and eye rotations (HeadYaw ... RightEyeRoll). BlendShapeCount is 61
(52 + 9). Timecodes are `HH:MM:SS:FF.mmm` (frame number, then the sub-frame fraction) at the frame rate.

Reading accepts any column order and any accepted spelling of the names (normalised by avatar.rig);
missing blendshape columns read as 0; extra columns are ignored. The frame rate is taken from the
caller, else from the number of frames in each whole second of timecodes; a clip under one second
cannot tell its rate and reads at 60 fps (Live Link's recording rate) unless `fps=` is given.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from avatar.errors import FileFormatError
from avatar.io.atomic import atomic_path
from avatar.rig import ARKIT_NAMES, try_normalize_name

LIVE_LINK_ORDER: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft", "EyeWideLeft",
    "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawRight", "JawLeft", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight",
    "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)
ROTATION_COLUMNS: tuple[str, ...] = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                                     "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount", *LIVE_LINK_ORDER, *ROTATION_COLUMNS)
DEFAULT_FPS = 60.0
# Eye rotation (radians) at a full eyeLook* weight: ~25 degrees horizontally, ~20 vertically, the range ARKit reports.
EYE_YAW_RANGE = math.radians(25.0)
EYE_PITCH_RANGE = math.radians(20.0)

assert sorted(n[0].lower() + n[1:] for n in LIVE_LINK_ORDER) == sorted(ARKIT_NAMES)


def timecode(frame: int, fps: float) -> str:
    """Return the Live Link timecode `HH:MM:SS:FF.mmm` of a frame index at `fps`."""
    t = frame / fps
    whole = int(math.floor(t + 1e-9))
    sub = (t - whole) * fps  # frames within the second, with its fraction
    ff = int(math.floor(sub + 1e-6))
    frac = int(round((sub - ff) * 1000)) % 1000
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{ff:02d}.{frac:03d}"


def parse_timecode(text: str) -> tuple[int, float]:
    """Return (whole seconds, frame-with-fraction) of `HH:MM:SS:FF(.mmm)`; raise ValueError when malformed."""
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise ValueError(text)
    h, m, s = (int(p) for p in parts[:3])
    return h * 3600 + m * 60 + s, float(parts[3])


def _eye_angles(w: np.ndarray) -> np.ndarray:
    """Return (T, 6) eye yaw/pitch/roll per eye derived from the eyeLook weights (radians)."""
    def col(n: str) -> np.ndarray:
        return w[:, ARKIT_NAMES.index(n)]

    # Yaw positive towards the subject's left: the left eye looks out, the right eye looks in.
    ly = (col("eyeLookOutLeft") - col("eyeLookInLeft")) * EYE_YAW_RANGE
    ry = (col("eyeLookInRight") - col("eyeLookOutRight")) * EYE_YAW_RANGE
    lp = (col("eyeLookUpLeft") - col("eyeLookDownLeft")) * EYE_PITCH_RANGE
    rp = (col("eyeLookUpRight") - col("eyeLookDownRight")) * EYE_PITCH_RANGE
    z = np.zeros_like(ly)
    return np.stack([ly, lp, z, ry, rp, z], 1)


def write_livelink_csv(seq: object, path: str | os.PathLike) -> Path:
    """Write `seq` (an ExpressionSequence) as Live Link Face CSV (atomically); return the path.

    Values are written with 9 significant digits, so float32 weights read back exactly.
    """
    w = seq.weights  # type: ignore[attr-defined]
    fps = seq.fps  # type: ignore[attr-defined]
    hp = seq.head_pose  # type: ignore[attr-defined]
    cols = [ARKIT_NAMES.index(n[0].lower() + n[1:]) for n in LIVE_LINK_ORDER]
    head = np.zeros((len(w), 3), np.float32) if hp is None else hp[:, [1, 0, 2]]  # yaw, pitch, roll
    eyes = _eye_angles(w)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for t in range(len(w)):
            vals = [*w[t, cols], *head[t], *eyes[t]]
            out.writerow([timecode(t, fps), len(ROTATION_COLUMNS) + len(LIVE_LINK_ORDER), *(f"{float(v):.9g}" for v in vals)])
    return Path(path)


def read_livelink_csv(path: str | os.PathLike, fps: float | None = None) -> object:
    """Return an ExpressionSequence read from a Live Link Face CSV; errors name the file and line."""
    from avatar.sequence import ExpressionSequence

    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"sequence file {str(p)!r} not found")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise FileFormatError(f"cannot read {str(p)!r} as CSV text ({type(e).__name__}): give a Live Link Face .csv") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise FileFormatError(f"{str(p)!r} is empty: expected a header line starting with Timecode,BlendShapeCount")
    header = [c.strip() for c in rows[0]]
    mapping: dict[int, int] = {}
    for j, name in enumerate(header):
        k = try_normalize_name(name)
        if k is not None:
            mapping[j] = ARKIT_NAMES.index(k)
    if not mapping:
        raise FileFormatError(f"{str(p)!r} line 1: no ARKit blendshape columns in the header (expected e.g. JawOpen, EyeBlinkLeft)")
    lower = [h.lower() for h in header]
    tc_col = lower.index("timecode") if "timecode" in lower else None
    rot = {n: lower.index(n.lower()) for n in ("HeadYaw", "HeadPitch", "HeadRoll") if n.lower() in lower}
    weights, head, stamps = [], [], []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise FileFormatError(f"{str(p)!r} line {i}: {len(row)} cells but the header has {len(header)}; fix or remove the line")
        w = np.zeros(len(ARKIT_NAMES), np.float32)
        for j, k in mapping.items():
            try:
                w[k] = float(row[j])
            except ValueError:
                raise FileFormatError(f"{str(p)!r} line {i}: {header[j]} is {row[j]!r}, not a number") from None
        if not np.all(np.isfinite(w)):
            raise FileFormatError(f"{str(p)!r} line {i}: a blendshape value is NaN or infinite")
        weights.append(w)
        try:
            head.append([float(row[rot[n]]) if n in rot else 0.0 for n in ("HeadPitch", "HeadYaw", "HeadRoll")])
        except ValueError:
            raise FileFormatError(f"{str(p)!r} line {i}: a head rotation is not a number") from None
        if tc_col is not None:
            try:
                stamps.append(parse_timecode(row[tc_col]))
            except ValueError:
                raise FileFormatError(f"{str(p)!r} line {i}: timecode {row[tc_col]!r} is not HH:MM:SS:FF.mmm") from None
    if not weights:
        raise FileFormatError(f"{str(p)!r} has a header but no frames")
    if fps is None:
        fps = _infer_fps(stamps) if stamps else DEFAULT_FPS
    hp = np.zeros((len(weights), 6), np.float32)
    hp[:, :3] = np.asarray(head, np.float32)
    return ExpressionSequence(np.stack(weights), fps=fps, head_pose=hp if np.any(hp) else None)


def _infer_fps(stamps: list[tuple[int, float]]) -> float:
    """Return the frame rate implied by timecodes: frames per whole second, or 60 for clips under a second.

    FF counts frames within a second, so a clip shorter than a second cannot tell its rate; Live Link
    records at 60 fps, the fallback. Pass `fps=` to read such clips at another rate.
    """
    from collections import Counter

    per_second = Counter(s for s, _ in stamps)
    if len(per_second) < 2:
        return DEFAULT_FPS
    seconds = sorted(per_second)
    full = [per_second[s] for s in seconds[:-1]]  # the last second may be partial
    return float(max(full))
