"""Returns which of a head's triangles a renderer draws, and which of them from both sides (back-face culling).

Both renderers draw `drawn_faces(head)`; `two_sided_faces` says which of those the GL renderer must not cull.
"""

from __future__ import annotations

import numpy as np

from avatar.appearance import HIDDEN_MATERIALS, IRIS_RADIUS, eye_geometry
from avatar.head import ICT_PARTS, BlendshapeHead


def drawn_faces(head: BlendshapeHead) -> np.ndarray:
    """Return the (F', 3) triangles that are drawn: overlay materials and the corneas removed."""
    hidden = [i for i, m in enumerate(head.materials) if m in HIDDEN_MATERIALS]
    keep = ~np.isin(head.face_material, hidden)
    if head.is_ict:
        v = head.generic_neutral
        for eye in eye_geometry(v):
            # ICT's sclera sphere also covers the cornea (meant to be transparent); cut that cap away
            # so the iris sphere inside shows through.
            idx = np.arange(eye.sclera.start, eye.sclera.stop)
            cap = np.zeros(len(v), bool)
            cap[idx[(eye.axial(v[idx]) > 0) & (eye.radial(v[idx]) < IRIS_RADIUS * 1.05)]] = True
            keep &= ~cap[head.faces].all(axis=1)
        a, b = ICT_PARTS["eyelashes"]
        lash = np.arange(a, b)
        eye_y = np.array([e.centre[1] for e in eye_geometry(v)]).mean()
        lower = np.zeros(len(v), bool)
        lower[lash[v[lash, 1] < eye_y]] = True
        keep &= ~lower[head.faces].any(axis=1)
        # The cards are ~0.95 cm long, meant to fade out in an alpha texture; drawn opaque, their outer half read as a
        # black wedge, and at three-quarter the far eye's lashes poked out past the cheek's outline. Triangles lying
        # wholly beyond LASH_LENGTH_CM of the face's skin (the card's tip half) are not drawn.
        face = v[slice(*ICT_PARTS["face"])]
        # Per block of lash vertices, only skin within LASH_LENGTH_CM of the block's bounding box can be within it
        # of one of them, so the rest is left out of the distances (a vertex whose nearest skin is left out is
        # farther than that either way): the same tips for far fewer distances (this runs at every renderer's set-up).
        from_skin = np.full(len(v), np.inf)
        for start in range(a, b, 64):
            block = v[start:min(start + 64, b)]
            margin = 2 * LASH_LENGTH_CM
            near = face[np.all((face > block.min(0) - margin) & (face < block.max(0) + margin), axis=1)]
            if len(near):
                from_skin[start:start + len(block)] = np.sqrt(((block[:, None, :] - near[None]) ** 2).sum(-1).min(1))
        tip = np.zeros(len(v), bool)
        tip[lash[from_skin[lash] > LASH_LENGTH_CM]] = True
        keep &= ~(tip[head.faces].all(axis=1))
    return head.faces[keep]


LASH_LENGTH_CM = 0.45
"""How far from the skin an eyelash card is drawn (its triangles wholly beyond are not): the root half of ICT's cards."""


def two_sided_faces(head: BlendshapeHead, faces: np.ndarray) -> np.ndarray:
    """Return (F,) bool: which of `faces` (drawn triangles of `head`) must be drawn from both sides.

    On the ICT layout: the eyelash cards, seen from either side, and the eyeballs, whose sclera is seen from
    inside through the cut-away cornea cap at grazing angles. Every other part is a consistently wound surface
    whose back faces are hidden behind its front faces (but for a few silhouette fringe samples where the mesh
    folds: under 6 in 10^6 samples), so a renderer may cull them (tests/test_speed_paths.py checks the images
    across views, head poses and expressions). Any other head: every triangle, since its winding is unknown.
    """
    if not head.is_ict:
        return np.ones(len(faces), bool)
    both = np.zeros(head.num_vertices, bool)
    for part in ("eyeball_left", "eyeball_right", "eyelashes"):
        a, b = ICT_PARTS[part]
        both[a:b] = True
    return both[np.asarray(faces)].any(axis=1)
