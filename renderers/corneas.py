"""Returns where a head's corneas are, for catch-lights: `gloss_weights` per vertex and `cornea_groups` per eye."""

from __future__ import annotations

import numpy as np

from avatar.appearance import ICT_SCLERA_IRIS, eye_geometry
from avatar.head import BlendshapeHead


def cornea_groups(head: BlendshapeHead) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return per eye (glossy vertex indices, eyeball vertex indices whose mean is the eye's centre), int64.

    The catch-light is lit with the eyeball sphere's normal (position - centre) rather than the mesh's: a
    cornea bulges smoothly over the iris, so its highlight sits inside the iris, while the ICT iris mesh
    curves sharply at the limbus. The centre is re-read from the posed vertices, so gaze and head pose carry it.
    """
    g = gloss_weights(head)
    glossy = np.flatnonzero(g > 0)
    if not len(glossy):
        return []
    if head.is_ict:
        out = []
        for sclera, iris in ICT_SCLERA_IRIS:
            ball = np.arange(sclera[0], iris[1])
            out.append((glossy[(glossy >= iris[0]) & (glossy < iris[1])], ball))
        return out
    x = head.generic_neutral[glossy, 0]
    mid = (x.min() + x.max()) / 2
    return [(side, side) for side in (glossy[x < mid], glossy[x >= mid]) if len(side)]


def gloss_weights(head: BlendshapeHead) -> np.ndarray:
    """Return (V,) float32 cornea gloss in 0..1 (1: catch-lights show there): the front of the ICT iris spheres,
    or the vertices of materials named like a cornea, iris or eye on another head."""
    n = head.num_vertices
    out = np.zeros(n, np.float32)
    if head.is_ict:
        v = head.generic_neutral
        for eye in eye_geometry(v):
            idx = np.arange(eye.iris.start, eye.iris.stop)
            out[idx[eye.axial(v[idx]) > 0]] = 1.0
        return out
    glossy = [i for i, m in enumerate(head.materials) if any(k in m.lower() for k in ("cornea", "iris", "eye"))]
    if glossy:
        out[np.unique(head.faces[np.isin(head.face_material, glossy)])] = 1.0
    return out
