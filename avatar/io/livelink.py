"""Live Link Face CSV: the layout Epic's Live Link Face app records and Unreal's MetaHuman tools read.

Layout (checked against public Live Link Face importers and test fixtures copied from real captures,
e.g. Blender add-ons and Unreal conversion scripts on GitHub, which all carry the same header):
`Timecode,BlendShapeCount,` then the 52 ARKit names capitalised in the app's own order
(`LIVE_LINK_ORDER`: eyes left then right, jaw, mouth, brows, cheeks, nose, tongue; note the app's
JawRight-before-JawLeft and MouthRight-before-MouthLeft), then 9 rotations `ROTATION_COLUMNS`
(HeadYaw, HeadPitch, HeadRoll, then yaw/pitch/roll of each eye). BlendShapeCount is 61 (52 + 9).

Timecode `HH:MM:SS:FF.mmm`: whole seconds, then the frame within the second at the timecode rate,
with its fraction (sub-frame) in thousandths. We write timecodes at the sequence's own fps, so FF
counts the sequence's frames and the fraction is .000 for whole-number rates. A take shorter than a
second starts its timecodes so that its last frame is the first of second 1 (as a capture started at
any time of day would): the wrap from the last FF of second 0 to FF 0 is what states the rate, so a
clip of any length from 2 frames up (3 at rates such as 29.97) reads back at its own fps; a single row
cannot state a rate.

Reading rules (`read_livelink_csv`):
- columns in any order, names in any spelling `avatar.rig.normalize_name` accepts; other columns
  are ignored; a missing blendshape column reads as 0 with a `UserWarning` naming it (a partial
  header is more often a typo than intent); two columns naming one shape are an error;
- HeadPitch/HeadYaw/HeadRoll (radians, as recorded) become `head_pose[:, :3]`; translation is 0,
  and `head_pose` stays None when every rotation is 0. Eye rotations are ignored: the eyeLook*
  weights carry the gaze;
- the file's frame rate comes from its timecodes (`infer_fps`): the timecode rate from where FF
  wraps to the next second, and the rows per timecode frame. A clip that never crosses a second,
  or has no Timecode column, cannot tell its rate (two rows across a second with whole-number FF are
  taken as one timecode frame apart, the common case and what we write): its `fps` field is None, and
  `ExpressionSequence.load` applies the rule every format shares (the `fps` asked for, else
  `avatar.constants.UNSTATED_FPS` with a warning). Rows are taken as consecutive frames (a take
  with dropped frames plays slightly fast over the gap);
- malformed input raises `FileFormatError` naming the file and the line.

Writing: values are written as the shortest decimal that reads back as the same float32, so a
sequence round-trips exactly; head translation and labels have no column and are not written.
Eye yaw/pitch are derived from the eyeLook* weights (`avatar.constants.EYE_LOOK_DEG` at weight 1;
yaw positive towards the subject's left, pitch positive up), roll 0.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.constants import EYE_LOOK_DEG
from avatar.errors import AvatarInputError, FileFormatError
from avatar.io.atomic import atomic_path
from avatar.io.text import float32_text
from avatar.rig import ARKIT_NAMES, try_normalize_name

if TYPE_CHECKING:
    from avatar.protocols import SequenceLike

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
BLENDSHAPE_COUNT = len(LIVE_LINK_ORDER) + len(ROTATION_COLUMNS)
# Eye rotation (radians) at a full eyeLook* weight, the same angle the speech path's gaze uses.
EYE_YAW_RANGE = EYE_PITCH_RANGE = math.radians(EYE_LOOK_DEG)
# Rates a timecode or a capture commonly runs at; estimates this close to one are taken as it.
STANDARD_RATES: tuple[float, ...] = (23.976, 24.0, 25.0, 29.97, 30.0, 47.952, 48.0, 50.0, 59.94, 60.0,
                                     90.0, 100.0, 119.88, 120.0, 240.0)

_ARKIT_COLUMN = [ARKIT_NAMES.index(n[0].lower() + n[1:]) for n in LIVE_LINK_ORDER]
assert sorted(_ARKIT_COLUMN) == list(range(len(ARKIT_NAMES)))
_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;](\d+(?:\.\d*)?)\s*$")


# ----------------------------------------------------------------- timecodes
def timecode(frame: int, fps: float) -> str:
    """Return the Live Link timecode `HH:MM:SS:FF.mmm` of frame index `frame` at `fps`."""
    if float(fps).is_integer():  # exact integer arithmetic: no float drift over long takes
        whole, ff = divmod(int(frame), int(fps))
        milli = 0
    else:
        t = frame / fps
        whole = int(math.floor(t + 1e-9))
        # Round the sub-frame to thousandths first, so .9996 carries into FF instead of printing .1000.
        ff, milli = divmod(int(round(max(t - whole, 0.0) * fps * 1000)), 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{ff:02d}.{milli:03d}"


def parse_timecode(text: str) -> tuple[int, float]:
    """Return (whole seconds, frame within the second with its fraction) of `HH:MM:SS:FF(.mmm)`.

    Raises ValueError when `text` is not a timecode (";" before FF, drop-frame style, is accepted).
    """
    m = _TIMECODE.match(text)
    if not m:
        raise ValueError(text)
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return h * 3600 + mi * 60 + s, float(m.group(4))


def _snap_rate(estimate: float, tolerance: float) -> float:
    """Return the standard or whole-number rate within `tolerance` (relative) of `estimate`, else it rounded."""
    for rate in (*STANDARD_RATES, float(round(estimate))):
        if rate > 0 and abs(estimate - rate) <= tolerance * rate:
            return rate
    return round(estimate, 3)


def infer_fps(stamps: list[tuple[int, float]]) -> float | None:
    """Return the frame rate of rows stamped (whole second, FF with fraction), or None when they cannot tell.

    FF counts frames of the timecode's own rate, which need not be the capture rate (Live Link Face
    captures at 60 fps and may stamp at 30 with .5 sub-frames). Where FF wraps into the next second,
    last FF + one row's step - first FF is the timecode rate; the capture rate is that over the step.
    """
    if len(stamps) < 2:
        return None
    sec = np.array([s for s, _ in stamps], np.int64)
    ff = np.array([f for _, f in stamps], np.float64)
    dsec, dff = np.diff(sec), np.diff(ff)
    inside = (dsec == 0) & (dff > 0)
    wraps = np.nonzero(dsec == 1)[0]
    if not len(wraps):
        return None
    if not inside.any():
        # Only a wrap: the rows' step is unknown. With whole-number FF take one timecode frame (what
        # the writer does for the shortest takes); sub-frames could mean any step, so say nothing.
        if not np.all(ff == np.round(ff)):
            return None
        tc_rate = float(np.median(ff[wraps] + 1.0 - ff[wraps + 1]))
        return _snap_rate(tc_rate, 2e-4) if tc_rate > 0 else None
    steps = dff[inside]
    typical = np.median(steps)
    regular = steps[steps < 1.5 * typical]  # a dropped row doubles one step; leave those out
    step = float(regular.mean())
    tc_rate = float(np.median(ff[wraps] + step - ff[wraps + 1]))
    if not tc_rate > 0:
        return None
    tc_rate = _snap_rate(tc_rate, 2e-4)
    return _snap_rate(tc_rate / step, 2e-4)


# -------------------------------------------------------------------- writing
def _eye_angles(w: np.ndarray) -> np.ndarray:
    """Return (T, 6) eye yaw/pitch/roll for the left then the right eye (radians) from eyeLook* weights."""
    def col(n: str) -> np.ndarray:
        return w[:, ARKIT_NAMES.index(n)].astype(np.float64)

    # Yaw positive towards the subject's left: the left eye looks out, the right eye looks in.
    ly = (col("eyeLookOutLeft") - col("eyeLookInLeft")) * EYE_YAW_RANGE
    ry = (col("eyeLookInRight") - col("eyeLookOutRight")) * EYE_YAW_RANGE
    lp = (col("eyeLookUpLeft") - col("eyeLookDownLeft")) * EYE_PITCH_RANGE
    rp = (col("eyeLookUpRight") - col("eyeLookDownRight")) * EYE_PITCH_RANGE
    z = np.zeros_like(ly)
    return np.stack([ly, lp, z, ry, rp, z], 1).astype(np.float32)


def write_livelink_csv(seq: SequenceLike, path: str | os.PathLike) -> Path:
    """Write `seq` as a Live Link Face CSV (atomically) and return the path.

    Raises AvatarInputError for an empty sequence: a take with no rows cannot be read back.
    """
    w = seq.weights
    if not len(w):
        raise AvatarInputError("cannot write an empty sequence as Live Link Face CSV: it has no frames; use .npz or .json")
    head = np.zeros((len(w), 3), np.float32) if seq.head_pose is None else seq.head_pose[:, [1, 0, 2]]  # yaw, pitch, roll
    values = float32_text(np.concatenate([w[:, _ARKIT_COLUMN], head, _eye_angles(w)], 1))
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(HEADER)
    count = str(BLENDSHAPE_COUNT)
    # A take that would never reach second 1 could not state its rate; end it on the first frame of
    # second 1 instead (frame indices are shifted, the rows stay consecutive frames).
    per_second = math.ceil(float(seq.fps) - 1e-9)
    start = per_second - (len(w) - 1) if 1 < len(w) <= per_second else 0
    for t, row in enumerate(values):
        out.writerow([timecode(start + t, seq.fps), count, *row])
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    return Path(path)


# -------------------------------------------------------------------- reading
def _header_columns(header: list[str], where: str) -> dict[int, int]:
    """Return {CSV column: ARKit column} for the header's blendshape names; raise on none or duplicates."""
    mapping: dict[int, int] = {}
    seen: dict[int, str] = {}
    for j, name in enumerate(header):
        k = try_normalize_name(name)
        if k is None:
            continue
        col = ARKIT_NAMES.index(k)
        if col in seen:
            raise FileFormatError(f"{where} line 1: columns {seen[col]!r} and {name!r} both name {k}; keep one")
        seen[col] = name
        mapping[j] = col
    if not mapping:
        raise FileFormatError(f"{where} line 1: no ARKit blendshape columns in the header (expected e.g. "
                              "Timecode,BlendShapeCount,EyeBlinkLeft,...; is the header line missing?)")
    return mapping


def _numbers(rows: list[list[str]], lines: list[int], cols: list[int], header: list[str], where: str) -> np.ndarray:
    """Return the (N, len(cols)) float64 values of `cols`; a bad cell raises naming its line and column."""
    try:
        out = np.array([[row[j] for j in cols] for row in rows], dtype=np.float64).reshape(len(rows), len(cols))
    except ValueError:
        out = None
    if out is not None and np.all(np.isfinite(out)):
        return out
    for row, line in zip(rows, lines):  # slow path, only to say where the problem is
        for j in cols:
            try:
                v = float(row[j])
            except ValueError:
                raise FileFormatError(f"{where} line {line}: {header[j]} is {row[j]!r}, not a number") from None
            if not math.isfinite(v):
                raise FileFormatError(f"{where} line {line}: {header[j]} is {row[j]!r}; use a finite number")
    raise AssertionError("unreachable")


def read_livelink_csv(path: str | os.PathLike) -> dict[str, Any]:
    """Return the sequence fields in a Live Link Face CSV (rules in the module docstring).

    Keys as `avatar.io.formats.read_sequence_fields`: weights, fps (None when the timecodes cannot
    tell it), head_pose, labels, audio; and row_names, where each frame is in the file ("line 7"). Raises FileFormatError naming the file and line for a
    missing, empty or malformed file.
    """
    p = Path(path)
    where = repr(str(p))
    if not p.is_file():
        raise FileFormatError(f"sequence file {where} not found")
    try:
        text = p.read_text(encoding="utf-8-sig")  # -sig: Excel saves CSVs with a byte-order mark
    except (OSError, UnicodeDecodeError) as e:
        raise FileFormatError(f"cannot read {where} as CSV text ({type(e).__name__}): give a Live Link Face .csv") from None
    reader = csv.reader(io.StringIO(text))
    try:
        raw = [(reader.line_num, row) for row in reader]
    except csv.Error as e:
        raise FileFormatError(f"{where} line {reader.line_num}: {e}") from None

    def trim(row: list[str]) -> list[str]:  # tolerate a trailing comma (some exporters add one)
        while row and not row[-1].strip():
            row = row[:-1]
        return row

    raw = [(line, trim(row)) for line, row in raw]
    raw = [(line, row) for line, row in raw if row]
    if not raw:
        raise FileFormatError(f"{where} is empty: expected a header line starting with Timecode,BlendShapeCount")
    header_line, header = raw[0]
    header = [c.strip() for c in header]
    mapping = _header_columns(header, where)
    lower = [h.lower() for h in header]
    tc_col = lower.index("timecode") if "timecode" in lower else None
    rot_cols = [lower.index(n.lower()) if n.lower() in lower else None for n in ("HeadPitch", "HeadYaw", "HeadRoll")]
    rows, lines = [], []
    for line, row in raw[1:]:
        if len(row) != len(header):
            raise FileFormatError(f"{where} line {line}: {len(row)} cells but the header has {len(header)}; fix or remove the line")
        rows.append(row)
        lines.append(line)
    if not rows:
        raise FileFormatError(f"{where} has a header but no frames")
    missing = [ARKIT_NAMES[k] for k in range(len(ARKIT_NAMES)) if k not in mapping.values()]
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        warnings.warn(f"{where}: {len(missing)} ARKit columns missing ({shown}); they read as 0", UserWarning, stacklevel=3)
    csv_cols = list(mapping)
    values = _numbers(rows, lines, csv_cols, header, where)
    weights = np.zeros((len(rows), len(ARKIT_NAMES)), np.float32)
    weights[:, [mapping[j] for j in csv_cols]] = values
    head_pose = None
    present = [c for c in rot_cols if c is not None]
    if present:
        rot = _numbers(rows, lines, present, header, where)
        hp = np.zeros((len(rows), 6), np.float32)
        for i, c in enumerate(rot_cols):
            if c is not None:
                hp[:, i] = rot[:, present.index(c)]
        head_pose = hp if np.any(hp) else None
    file_fps = None
    if tc_col is not None:
        stamps = []
        for row, line in zip(rows, lines):
            try:
                stamps.append(parse_timecode(row[tc_col]))
            except ValueError:
                raise FileFormatError(f"{where} line {line}: timecode {row[tc_col]!r} is not HH:MM:SS:FF.mmm") from None
        file_fps = infer_fps(stamps)
    return {"weights": weights, "fps": file_fps, "head_pose": head_pose, "labels": None, "audio": None,
            "row_names": [f"line {n}" for n in lines]}
