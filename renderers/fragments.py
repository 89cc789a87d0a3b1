"""Returns what lies between a rasterizer and the shader, in torch: clip-space vertices, per-pixel
barycentrics (`Fragments`), smooth vertex normals and attributes interpolated at the covered pixels.

The plain tensor half of `renderers.differentiable` (its `DifferentiableRenderer` chains these): a
rasterizer (`VisibilityRasterizer`) only says which triangle covers each pixel; everything here is
differentiable in the vertices, so gradients reach them through every covered pixel. Every name here
is still importable from `renderers.differentiable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


@dataclass(frozen=True)
class Fragments:
    """Which triangle covers each pixel and where in it; the rasterizer's output.

    pix_to_face: (B, H, W) int64 index into the renderer's drawn faces, -1 where no triangle (background).
    bary: (B, H, W, 3) perspective-correct barycentric weights of the covering triangle's corners at the
        pixel centre (the weights GL interpolates vertex attributes with), same dtype/device as the
        vertices, 0 on the background; differentiable in the vertices.
    """

    pix_to_face: torch.Tensor
    bary: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """Return (B, H, W) bool: which pixels a triangle covers."""
        return self.pix_to_face >= 0


class VisibilityRasterizer(Protocol):
    """Anything that returns which triangle covers each pixel, given world-space and clip-space vertices."""

    def __call__(self, vertices: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
        """Return (B, H, W) int64 triangle indices (-1: none) on the vertices' device for (B, V, 3) world and (B, V, 4) clip vertices."""
        ...


# ------------------------------------------------------------------ plain tensor functions
def project(vertices: torch.Tensor, view_proj: torch.Tensor) -> torch.Tensor:
    """Return (B, V, 4) clip-space positions of (B, V, 3) world vertices under a (4, 4) projection @ view matrix."""
    return vertices @ view_proj[:, :3].T + view_proj[:, 3]


def vertex_normals_torch(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Return (B, V, 3) unit vertex normals, area-weighted from the (F, 3) int64 triangles, for (B, V, 3) vertices.

    The torch twin of `avatar.blend.vertex_normals` (what GLRenderer shades with); differentiable.
    Vertices no drawn triangle touches get a zero normal.
    """
    v0, v1, v2 = (vertices[:, faces[:, i]] for i in range(3))
    face_n = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)  # length = 2 x area: the area weighting
    out = torch.zeros_like(vertices)
    idx = faces.reshape(-1)
    out = out.index_add(1, idx, face_n.repeat_interleave(3, dim=1))
    return out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def pixel_centres(height: int, width: int, dtype: torch.dtype, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (H, W) NDC x and y of pixel centres, row 0 at the top (GL's window coordinates flipped)."""
    x = (torch.arange(width, dtype=dtype, device=device) + 0.5) * (2.0 / width) - 1.0
    y = 1.0 - (torch.arange(height, dtype=dtype, device=device) + 0.5) * (2.0 / height)
    return x.expand(height, width), y[:, None].expand(height, width)


def barycentric_fragments(clip: torch.Tensor, faces: torch.Tensor, pix_to_face: torch.Tensor,
                          sliver_px: float = 0.0) -> Fragments:
    """Return Fragments with perspective-correct barycentrics recomputed in torch for every covered pixel.

    Args:
        clip: (B, V, 4) clip-space vertices (see `project`); gradients flow from `bary` to them.
        faces: (F, 3) int64 triangles that `pix_to_face` indexes.
        pix_to_face: (B, H, W) int64, -1 on the background.
        sliver_px: pixels covered by a triangle thinner than this on screen (its smallest altitude, in
            pixels) keep their barycentrics but pass no gradient through them. A nearly edge-on sliver (the
            lips' inner rim: 0.02 px wide) has barycentrics that change ~50x faster than the vertices move,
            so one such pixel outweighed a whole mouth's gradient; its coverage is a visibility question.
    """
    b, h, w = pix_to_face.shape
    mask = pix_to_face >= 0
    bi, yi, xi = mask.nonzero(as_tuple=True)
    tri = faces[pix_to_face[bi, yi, xi]]  # (N, 3) vertex indices
    corners = _gather_corners(clip, bi, tri)  # (N, 3, 4)
    wc = corners[..., 3]
    ndc = corners[..., :2] / wc[..., None]
    px, py = pixel_centres(h, w, clip.dtype, clip.device)
    p = torch.stack([px[yi, xi], py[yi, xi]], -1)  # (N, 2)

    def cross2(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return a[..., 0] * c[..., 1] - a[..., 1] * c[..., 0]

    d = ndc - p[:, None]  # corners relative to the pixel centre
    # Screen-space barycentrics: signed areas of the sub-triangles opposite each corner.
    lam = torch.stack([cross2(d[:, 1], d[:, 2]), cross2(d[:, 2], d[:, 0]), cross2(d[:, 0], d[:, 1])], -1)
    # Perspective correction (what GL does to varyings): weight by 1/w, renormalise. The total also
    # cancels the screen area, so nearly edge-on triangles need no separate guard.
    persp = lam / wc
    total = persp.sum(-1, keepdim=True)
    total = torch.where(total.abs() < 1e-20, torch.full_like(total, 1e-20), total)
    bary_px = persp / total
    if sliver_px > 0:
        scale = torch.tensor([0.5 * w, 0.5 * h], dtype=clip.dtype, device=clip.device)
        corners_px = (ndc * scale).detach()
        area2 = cross2(corners_px[:, 1] - corners_px[:, 0], corners_px[:, 2] - corners_px[:, 0]).abs()
        longest = (corners_px.roll(-1, 1) - corners_px).norm(dim=-1).amax(-1)
        thin = area2 < sliver_px * longest  # 2 x area / longest edge = the smallest altitude
        bary_px = torch.where(thin[:, None], bary_px.detach(), bary_px)
    bary = clip.new_zeros((b, h, w, 3)).index_put((bi, yi, xi), bary_px)
    return Fragments(pix_to_face=pix_to_face, bary=bary)


def _gather_corners(per_vertex: torch.Tensor, batch_index: torch.Tensor, tri: torch.Tensor) -> torch.Tensor:
    """Return (N, 3, C) rows of (B, V, C) `per_vertex` for (N,) batch indices and (N, 3) vertex indices."""
    b, v, c = per_vertex.shape
    flat = (batch_index[:, None] * v + tri).reshape(-1)
    # index_select's backward is an index_add; advanced indexing's is a sorting index_put, ~2x slower on CPU.
    return per_vertex.reshape(b * v, c).index_select(0, flat).reshape(-1, 3, c)


def interpolate(attributes: torch.Tensor, faces: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """Return (N, C) attributes at the N covered pixels (in `fragments.mask.nonzero()` order) from (B, V, C) or (V, C) per-vertex ones."""
    bi, yi, xi = fragments.mask.nonzero(as_tuple=True)
    tri = faces[fragments.pix_to_face[bi, yi, xi]]
    corner = _gather_corners(attributes, bi, tri) if attributes.ndim == 3 else attributes[tri]  # (N, 3, C)
    return (fragments.bary[bi, yi, xi][..., None] * corner).sum(1)
