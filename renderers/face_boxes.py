"""Where the face is in a frame: square pixel boxes around posed landmarks, framed as a face detector frames a face.

The box is square, `scale` x the extent of the 68 landmarks (brows to chin), centred a little above their centre so
the forehead is in: the framing of a Haar/MTCNN detection, which is what recognizers trained on detected faces expect.
A head without landmark indices (a user's own) is framed by all its vertices instead.
"""

from __future__ import annotations

import numpy as np

from avatar.head import BlendshapeHead
from renderers.cameras import Camera


def face_boxes_of_points(points: np.ndarray, camera: Camera, width: int, height: int, scale: float = 1.3) -> np.ndarray:
    """Return (B, 4) float32 square pixel boxes (x0, y0, x1, y1) framing (B, N, 3) posed landmark points as a face
    detector frames a face: `scale` x their extent, centred a little above their centre so the forehead is in."""
    pts = camera.project(points, width, height)
    lo, hi = pts.min(1), pts.max(1)
    size = np.maximum(hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1])
    cx = (lo[:, 0] + hi[:, 0]) / 2
    cy = (lo[:, 1] + hi[:, 1]) / 2 - 0.2 * (hi[:, 1] - lo[:, 1])
    half = size * scale / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], 1).astype(np.float32)


def face_points(head: BlendshapeHead, verts: np.ndarray) -> np.ndarray:
    """Return the (B, N, 3) points a face box frames in (B, V, 3) posed vertices: the 68 landmarks, or every vertex of a
    head without landmarks."""
    return head.landmarks(verts) if head.landmarks68 is not None else verts


def posed_face_points(head: BlendshapeHead, weights: np.ndarray, head_pose: np.ndarray | None) -> np.ndarray:
    """Return `face_points` of (B, 52) weights (and (B, 6) head poses), posing only those points."""
    if head.landmarks68 is None:
        return head.pose(weights, head_pose)
    idx = head.landmarks68
    pts = head.neutral[idx] + np.einsum("bk,kvc->bvc", head.shape_weights(weights), head.shape_deltas[:, idx]).astype(np.float32)
    return pts if head_pose is None else head.apply_head_pose(pts, head_pose)
