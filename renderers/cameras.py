"""Cameras: frozen look-at pinhole cameras with presets; matrices for OpenGL and pixel projection."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avatar.views import PRESET_YAWS, view_yaw  # noqa: F401 - PRESET_YAWS: the named views, for callers

# Framing of the ICT head (cm, +Y up, +Z towards the viewer): the point the cameras orbit and how far back they stand;
# every view then pans sideways to the middle of the face as that view sees it (the outline, seen from above, of the
# neutral's 68 landmarks: jaw corners, cheeks, nose tip) and up to the height of a detector-style face box between the
# neutral and a wide-open jaw, so a profile or a surprised face is framed on the face with a margin, not on the skull.
_TARGET = (0.0, 0.5, 2.0)
_DISTANCE = 62.0
_FACE_HEIGHT = 2.3
_FACE_OUTLINE_XZ = ((-7.4, 3.7), (7.4, 3.7), (-5.8, 7.9), (5.8, 7.9), (-4.9, 9.0), (4.9, 9.0), (0.0, 13.1))


@dataclass(frozen=True)
class Camera:
    """A pinhole camera looking from `eye` at `target`; `fov_y` in degrees, `near`/`far` in scene units."""

    eye: tuple[float, float, float] = (0.0, 0.5, 2.0 + _DISTANCE)
    target: tuple[float, float, float] = _TARGET
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    fov_y: float = 26.0
    near: float = 5.0
    far: float = 400.0

    @classmethod
    def preset(cls, name: str = "front", yaw: float | None = None, pitch: float = 0.0, distance: float = _DISTANCE,
               fov_y: float = 26.0) -> Camera:
        """Return a camera orbiting the head: "front", "three-quarter" (35 deg), "profile" (90 deg), or a yaw.

        Positive yaw moves the camera towards the subject's left (+X), showing their left cheek.
        """
        if yaw is None:
            yaw = view_yaw(name)  # one rule for views everywhere: avatar.views
        y, p = math.radians(yaw), math.radians(pitch)
        back = np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])  # target -> eye, unit
        right = np.array([math.cos(y), 0.0, -math.sin(y)])
        # Orbit the head, then pan (eye and target together: the view direction and the lights are unchanged) so the
        # middle of the face as this view sees it is on the optical axis, and the whole face stays in frame.
        seen = [px * right[0] + pz * right[2] for px, pz in _FACE_OUTLINE_XZ]
        target = np.asarray(_TARGET, np.float64)
        target = target + ((min(seen) + max(seen)) / 2 - target @ right) * right + np.array([0.0, _FACE_HEIGHT - target[1], 0.0])
        eye = target + distance * back
        return cls(eye=tuple(float(v) for v in eye), target=tuple(float(v) for v in target), fov_y=fov_y)

    def view_matrix(self) -> np.ndarray:
        """Return the (4, 4) float32 world-to-camera matrix (OpenGL convention, camera looks down -Z)."""
        eye, tgt, up = (np.asarray(a, np.float64) for a in (self.eye, self.target, self.up))
        f = tgt - eye
        f /= np.linalg.norm(f)
        s = np.cross(f, up)
        if np.linalg.norm(s) < 1e-8:  # looking straight along `up`: pick another up
            s = np.cross(f, np.array([0.0, 0.0, -1.0]))
        s /= np.linalg.norm(s)
        u = np.cross(s, f)
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = s, u, -f
        m[:3, 3] = -m[:3, :3] @ eye
        return m.astype(np.float32)

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """Return the (4, 4) float32 perspective projection for width/height `aspect`."""
        f = 1.0 / math.tan(math.radians(self.fov_y) / 2)
        n, fa = self.near, self.far
        m = np.zeros((4, 4))
        m[0, 0], m[1, 1] = f / aspect, f
        m[2, 2], m[2, 3] = (fa + n) / (n - fa), 2 * fa * n / (n - fa)
        m[3, 2] = -1.0
        return m.astype(np.float32)

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """Return (..., 2) pixel coordinates (x right, y down) of (..., 3) world points."""
        p = np.asarray(points, np.float64)
        h = np.concatenate([p, np.ones(p.shape[:-1] + (1,))], -1)
        clip = h @ (self.projection_matrix(width / height).astype(np.float64) @ self.view_matrix().astype(np.float64)).T
        ndc = clip[..., :2] / clip[..., 3:4]
        return np.stack([(ndc[..., 0] + 1) * 0.5 * width, (1 - ndc[..., 1]) * 0.5 * height], -1)


def resolve_camera(camera: Camera | str | float | None) -> Camera:
    """Return a Camera from a Camera, a view (preset name, yaw in degrees, "yaw=N"; `avatar.views`) or None (front)."""
    if camera is None:
        return Camera.preset("front")
    if isinstance(camera, Camera):
        return camera
    return Camera.preset(yaw=view_yaw(camera))
