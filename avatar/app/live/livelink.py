"""Returns a Live Link Face sender: one UDP packet per frame to Unreal's Live Link (Live Link Face source, port 11111).

Packets are `avatar.io.livelink_packet.encode_packet`; the frame number is the frame's time of day at the
stream's rate (what the Live Link Face app stamps), so Unreal's timecode-based evaluation lines the face up
with other sources; the subject name is what the Live Link window lists.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import numpy as np

from avatar.app.live.target import Target
from avatar.app.live.udp import UDPSender, _stderr
from avatar.io.livelink_packet import encode_packet, new_device_id

DEFAULT_PORT = 11111
"""Live Link Face's port: Unreal listens on it once a Live Link Face source is added."""

DEFAULT_SUBJECT = "emoavatar"


class LiveLinkSender:
    """Sends frames to one Live Link target: `send(index, weights, head_pose)`, `neutral()`, `close()`.

    Args:
        target: where to send (see `avatar.app.live.target.parse_target`).
        fps: the stream's frame rate, stated in every packet.
        subject: the Live Link subject name.
        device_id: the sender's id (default: a fresh UUID).
    """

    def __init__(self, target: Target, fps: float, subject: str = DEFAULT_SUBJECT, device_id: str | None = None,
                 log: Any = _stderr) -> None:
        self.fps = float(fps)
        self.subject = subject
        self.device_id = device_id or new_device_id()
        now = datetime.datetime.now()
        since_midnight = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
        self.frame0 = int(math.floor(since_midnight * self.fps))
        self.udp = UDPSender(target, "Live Link", log)
        self._last = -1
        encode_packet(np.zeros(52), subject=subject, device_id=self.device_id, frame_number=0, fps=fps)  # bad names fail now

    @property
    def sent(self) -> int:
        """Return the number of packets that left."""
        return self.udp.sent

    def send(self, index: int, weights: np.ndarray, head_pose: np.ndarray | None = None) -> bool:
        """Return True when the packet of frame `index` (weights (52,), head pose (6,) or None) left."""
        self._last = max(self._last, int(index))
        return self.udp.send(encode_packet(weights, head_pose, subject=self.subject, device_id=self.device_id,
                                           frame_number=self.frame0 + int(index), fps=self.fps))

    def neutral(self) -> bool:
        """Return True when a neutral frame (all weights 0, head and eyes straight) left, one frame after the last."""
        return self.send(self._last + 1, np.zeros(52, np.float32), None)

    def close(self) -> None:
        """Close the socket; idempotent."""
        self.udp.close()
