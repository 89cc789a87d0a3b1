"""Live Link Face UDP packets: the bytes Epic's Live Link Face app sends to Unreal's Live Link, built and read back.

Layout (version 6; Unreal's `AppleARKitFaceSupport` reads it with a network-byte-order serializer, so
every number is big-endian; checked against the engine's published listener code and against the
PyLiveLinkFace package, which decodes these bytes in our tests):

    uint8    packet version (6)
    int32    length of the device id, then its UTF-8 bytes (no terminator)
    int32    length of the subject name, then its UTF-8 bytes
    int32    frame number     \\
    float32  sub-frame         |  FQualifiedFrameTime: the frame's time at the stated rate
    int32    rate numerator    |
    int32    rate denominator /
    uint8    value count (61)
    float32  x 61: the 52 ARKit weights in `PACKET_ORDER` (Unreal's EARFaceBlendShape order), then head
             yaw, pitch, roll and the left then the right eye's yaw, pitch, roll, in radians

`PACKET_ORDER` differs from the CSV's column order (`avatar.io.livelink.LIVE_LINK_ORDER`) in two pairs:
the packet has JawLeft before JawRight and MouthLeft before MouthRight, as the engine's enum does.

PyLiveLinkFace reads the first 4 bytes as a little-endian version and the next 37 as a "$"-prefixed id:
those are the same bytes as version 6 + a 36-character id's length (0x24 is "$"), so a device id of 36
characters (a UUID, the default) is what both Unreal and that decoder read; other lengths Unreal reads too.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from avatar.errors import AvatarInputError, FileFormatError, ShapeError
from avatar.io.livelink import LIVE_LINK_ORDER, ROTATION_COLUMNS
from avatar.rig import ARKIT_NAMES

PACKET_VERSION = 6
"""The version byte Unreal's Live Link Face source accepts (FQualifiedFrameTime timing)."""

# Unreal's packet lists the shapes in its enum's order (ELiveLinkAppleARKitFaceBlendShape), which differs from the
# app's CSV header (avatar.io.livelink.LIVE_LINK_ORDER) only in two pairs: JawLeft before JawRight, MouthLeft before
# MouthRight. The rotations follow in the CSV's order.
_ENUM_SWAPS = {"JawRight": "JawLeft", "JawLeft": "JawRight", "MouthRight": "MouthLeft", "MouthLeft": "MouthRight"}
PACKET_ORDER: tuple[str, ...] = tuple(_ENUM_SWAPS.get(n, n) for n in LIVE_LINK_ORDER)
ROTATIONS: tuple[str, ...] = ROTATION_COLUMNS
VALUE_COUNT = len(PACKET_ORDER) + len(ROTATIONS)  # 61
MAX_NAME_BYTES = 255
"""Longest subject name or device id, in UTF-8 bytes (the engine sizes its receive buffer for 256 characters each)."""

_ARKIT_COLUMN = np.array([ARKIT_NAMES.index(n[0].lower() + n[1:]) for n in PACKET_ORDER])
assert sorted(_ARKIT_COLUMN.tolist()) == list(range(len(ARKIT_NAMES)))
_TIME = struct.Struct(">ifiiB")


@dataclass(frozen=True)
class LiveLinkPacket:
    """One decoded Live Link Face packet.

    Attributes:
        device_id, subject: the sender's device id and the Live Link subject name.
        frame_number, sub_frame: the frame's time at `rate`.
        rate: frames per second as (numerator, denominator).
        weights: (52,) float32 ARKit weights in `avatar.rig.ARKIT_NAMES` order.
        rotations: (9,) float32 head yaw, pitch, roll, left eye yaw, pitch, roll, right eye yaw, pitch, roll (radians).
    """

    device_id: str
    subject: str
    frame_number: int
    sub_frame: float
    rate: tuple[int, int]
    weights: np.ndarray
    rotations: np.ndarray


def new_device_id() -> str:
    """Return a fresh 36-character device id (a UUID), the form the Live Link Face app and PyLiveLinkFace use."""
    return str(uuid.uuid4())


def frame_rate(fps: float) -> tuple[int, int]:
    """Return `fps` as the packet's (numerator, denominator): 30 -> (30, 1), 29.97 -> (30000, 1001)."""
    if not float(fps) > 0:
        raise AvatarInputError(f"frame rate must be positive, got {fps!r}")
    for n in (24, 30, 48, 60, 120):  # NTSC rates are n * 1000/1001, however the caller rounded them
        if abs(float(fps) - n * 1000 / 1001) < 0.005:
            return n * 1000, 1001
    f = Fraction(float(fps)).limit_denominator(1001)
    if f <= 0:
        raise AvatarInputError(f"frame rate must be positive, got {fps!r}")
    return f.numerator, f.denominator


def _name_bytes(text: str, what: str) -> bytes:
    raw = str(text).encode("utf-8")
    if not raw or len(raw) > MAX_NAME_BYTES:
        raise AvatarInputError(f"the Live Link {what} must be 1 to {MAX_NAME_BYTES} bytes of UTF-8, got {len(raw)}: "
                               f"use a shorter {what}")
    return raw


def eye_rotations(weights: np.ndarray) -> np.ndarray:
    """Return (6,) left then right eye yaw, pitch, roll (radians) from (52,) ARKit weights' eyeLook* columns."""
    from avatar.io.livelink import _eye_angles

    return _eye_angles(np.asarray(weights, np.float32).reshape(1, -1))[0]


def encode_packet(weights: np.ndarray, head_pose: np.ndarray | None = None, *, subject: str, device_id: str,
                  frame_number: int, fps: float, sub_frame: float = 0.0) -> bytes:
    """Return the Live Link Face packet (bytes) of one frame.

    Args:
        weights: (52,) ARKit weights in `ARKIT_NAMES` order, clipped to [0, 1].
        head_pose: (6,) pitch, yaw, roll (radians), tx, ty, tz, as `ExpressionSequence.head_pose` rows, or None
            (head still). The eyes' rotations come from the eyeLook* weights.
        subject: the Live Link subject name Unreal lists the source under.
        device_id: the sender's id (36 characters for PyLiveLinkFace; see the module docstring).
        frame_number, fps, sub_frame: the frame's time, `frame_number / fps` seconds plus `sub_frame` frames.

    Raises ShapeError for weights that are not 52 values or a head pose that is not 6, AvatarInputError
    for non-finite values or an empty or over-long name.
    """
    w = np.asarray(weights, np.float32).reshape(-1)
    if w.shape != (len(ARKIT_NAMES),):
        raise ShapeError(f"a Live Link packet takes 52 ARKit weights, got shape {np.shape(weights)}")
    pose = np.zeros(6, np.float32) if head_pose is None else np.asarray(head_pose, np.float32).reshape(-1)
    if pose.shape != (6,):
        raise ShapeError(f"head_pose must be 6 values (pitch, yaw, roll, tx, ty, tz), got shape {np.shape(head_pose)}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(pose))):
        raise AvatarInputError("a Live Link frame has NaN or infinite values: check the animation that produced it")
    w = np.clip(w, 0.0, 1.0)
    values = np.concatenate([w[_ARKIT_COLUMN], pose[[1, 0, 2]], eye_rotations(w)]).astype(">f4")
    dev, name = _name_bytes(device_id, "device id"), _name_bytes(subject, "subject name")
    num, den = frame_rate(fps)
    return b"".join([
        struct.pack(">Bi", PACKET_VERSION, len(dev)), dev, struct.pack(">i", len(name)), name,
        _TIME.pack(int(frame_number), float(sub_frame), num, den, VALUE_COUNT), values.tobytes(),
    ])


def decode_packet(data: bytes) -> LiveLinkPacket:
    """Return the fields of a Live Link Face packet; raise FileFormatError naming what is wrong with the bytes."""
    buf = bytes(data)
    try:
        version, n_dev = struct.unpack_from(">Bi", buf, 0)
        if version != PACKET_VERSION:
            raise FileFormatError(f"Live Link packet version {version}, expected {PACKET_VERSION}")
        at = 5
        dev = buf[at : at + n_dev].decode("utf-8")
        at += n_dev
        (n_name,) = struct.unpack_from(">i", buf, at)
        at += 4
        subject = buf[at : at + n_name].decode("utf-8")
        at += n_name
        frame, sub, num, den, count = _TIME.unpack_from(buf, at)
        at += _TIME.size
        if count != VALUE_COUNT or len(buf) != at + 4 * count:
            raise FileFormatError(f"Live Link packet holds {count} values in {len(buf) - at} bytes, expected {VALUE_COUNT} in {4 * VALUE_COUNT}")
        values = np.frombuffer(buf, ">f4", count, at).astype(np.float32)
    except (struct.error, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, FileFormatError):
            raise
        raise FileFormatError(f"not a Live Link Face packet ({len(buf)} bytes): {e}") from None
    weights = np.zeros(len(ARKIT_NAMES), np.float32)
    weights[_ARKIT_COLUMN] = values[: len(PACKET_ORDER)]
    return LiveLinkPacket(dev, subject, int(frame), float(sub), (int(num), int(den)), weights, values[len(PACKET_ORDER):])
