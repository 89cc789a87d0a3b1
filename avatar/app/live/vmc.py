"""Returns a VMC protocol sender: ARKit weights as perfect-sync blendshape clips and the head bone, over OSC (python-osc).

Per frame one OSC bundle (one datagram, so a receiver never applies half a frame):
`/VMC/Ext/OK 1`, `/VMC/Ext/T <seconds>`, `/VMC/Ext/Bone/Pos "Head" px py pz qx qy qz qw`, then
`/VMC/Ext/Blend/Val <name> <value>` for each of the 52 ARKit shapes, then one `/VMC/Ext/Blend/Apply`.
Names are the perfect-sync clip names (`VMC_NAMES`: the ARKit names with a capital first letter,
"JawOpen", as VRM models made for perfect sync name their BlendShapeClips). The head rotation is the
head pose converted to Unity's left-handed axes the way glTF importers convert (x mirrored).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avatar.app.live.target import Target
from avatar.app.live.udp import UDPSender, _stderr
from avatar.rig import ARKIT_NAMES

DEFAULT_PORT = 39539
"""The VMC protocol's usual receiving port (VSeeFace, Warudo, VNyan, VMagicMirror's VMC receivers)."""

VMC_NAMES: tuple[str, ...] = tuple(n[0].upper() + n[1:] for n in ARKIT_NAMES)
"""The perfect-sync BlendShapeClip names, in `ARKIT_NAMES` order."""


def _require_osc() -> Any:
    try:
        from pythonosc import osc_bundle_builder, osc_message_builder
    except ImportError:
        raise ImportError('--vmc needs python-osc: pip install "emoavatar[live]"') from None
    return osc_bundle_builder, osc_message_builder


def head_rotation_unity(head_pose: np.ndarray | None) -> np.ndarray:
    """Return the (4,) xyzw quaternion of the head pose in Unity's left-handed axes (identity for None)."""
    if head_pose is None:
        return np.array([0.0, 0.0, 0.0, 1.0])
    from avatar.io.gltf import head_pose_quaternions

    q = head_pose_quaternions(np.asarray(head_pose, np.float32).reshape(1, 6))[0].astype(np.float64)
    return np.array([q[0], -q[1], -q[2], q[3]])  # mirror x: right-handed glTF -> left-handed Unity


def frame_bundle(weights: np.ndarray, head_pose: np.ndarray | None, time_s: float) -> bytes:
    """Return one frame's VMC messages as the bytes of one OSC bundle (see the module docstring)."""
    bundle_builder, message_builder = _require_osc()

    def message(address: str, *args: Any) -> Any:
        m = message_builder.OscMessageBuilder(address=address)
        for a in args:
            m.add_arg(a)
        return m.build()

    w = np.clip(np.asarray(weights, np.float32).reshape(-1), 0.0, 1.0)
    b = bundle_builder.OscBundleBuilder(bundle_builder.IMMEDIATELY)
    b.add_content(message("/VMC/Ext/OK", 1))
    b.add_content(message("/VMC/Ext/T", float(time_s)))
    q = head_rotation_unity(head_pose)
    b.add_content(message("/VMC/Ext/Bone/Pos", "Head", 0.0, 0.0, 0.0, *(float(v) for v in q)))
    for name, value in zip(VMC_NAMES, w):
        b.add_content(message("/VMC/Ext/Blend/Val", name, float(value)))
    b.add_content(message("/VMC/Ext/Blend/Apply"))
    return b.build().dgram


class VMCSender:
    """Sends frames to one VMC receiver: `send(index, weights, head_pose)`, `neutral()`, `close()`."""

    def __init__(self, target: Target, fps: float, log: Any = _stderr) -> None:
        _require_osc()
        self.fps = float(fps)
        self.udp = UDPSender(target, "VMC", log)
        self._last = -1

    @property
    def sent(self) -> int:
        """Return the number of bundles that left."""
        return self.udp.sent

    def send(self, index: int, weights: np.ndarray, head_pose: np.ndarray | None = None) -> bool:
        """Return True when the bundle of frame `index` left."""
        self._last = max(self._last, int(index))
        return self.udp.send(frame_bundle(weights, head_pose, int(index) / self.fps))

    def neutral(self) -> bool:
        """Return True when a neutral frame (all clips 0, head straight) left."""
        return self.send(self._last + 1, np.zeros(len(ARKIT_NAMES), np.float32), None)

    def close(self) -> None:
        """Close the socket; idempotent."""
        self.udp.close()
