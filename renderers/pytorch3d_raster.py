"""Returns visibility buffers rasterized by pytorch3d (optional backend of the differentiable renderer).

pytorch3d rasterizes on the tensors' device (CUDA kernels on a GPU, no host round trip); it has no
PyPI wheel for Linux, so it is imported lazily and asked for by name (`rasterizer="pytorch3d"`).
Only `pix_to_face` is taken from it: barycentrics and normals stay in `renderers.fragments`, shading
in `renderers.differentiable`, so both backends shade with the same formulas and gradients.
"""

from __future__ import annotations

from typing import Any

from avatar.errors import SetupError

INSTALL_HINT = (
    "pytorch3d is not installed: build it for your torch "
    "(pip install 'git+https://github.com/facebookresearch/pytorch3d.git') or use rasterizer='gl'"
)


def pytorch3d_available() -> bool:
    """Return True when `import pytorch3d` works."""
    try:
        import pytorch3d  # noqa: F401
    except ImportError:
        return False
    return True


def require_pytorch3d() -> Any:
    """Return the `pytorch3d.renderer.mesh.rasterize_meshes` function, or raise SetupError with an install hint."""
    try:
        from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    except ImportError:
        raise SetupError(INSTALL_HINT) from None
    return rasterize_meshes


class Pytorch3DVisibilityRasterizer:
    """Returns (B, H, W) int64 triangle indices (-1: none) from clip-space vertices, rasterized by pytorch3d.

    Args:
        faces: (F, 3) int64 tensor of the triangles to draw, on the rendering device.
        height, width: image size in pixels.
    """

    def __init__(self, faces: Any, height: int, width: int) -> None:
        self._rasterize_meshes = require_pytorch3d()
        self.faces, self.height, self.width = faces, int(height), int(width)

    def __call__(self, vertices: Any, clip: Any) -> Any:
        """Return (B, H, W) int64 triangle indices for (B, V, 3) world and (B, V, 4) clip-space vertices."""
        import torch
        from pytorch3d.structures import Meshes

        h, w = self.height, self.width
        ndc = clip[..., :3] / clip[..., 3:4]
        # pytorch3d's NDC: +X to the left, +Y up, the shorter image side spans [-1, 1]; depth grows away
        # from the camera, so the clip w (distance along the view axis) is the depth it tests.
        sx, sy = max(w / h, 1.0), max(h / w, 1.0)
        screen = torch.stack([-ndc[..., 0] * sx, ndc[..., 1] * sy, clip[..., 3]], -1).detach()
        b = screen.shape[0]
        meshes = Meshes(verts=list(screen), faces=[self.faces] * b)
        pix_to_face, _, _, _ = self._rasterize_meshes(
            meshes, image_size=(h, w), blur_radius=0.0, faces_per_pixel=1, perspective_correct=False, cull_backfaces=False,
        )
        p2f = pix_to_face[..., 0].long()
        # pix_to_face indexes the packed faces of all B meshes; take each mesh's own index back.
        offsets = torch.arange(b, device=p2f.device)[:, None, None] * self.faces.shape[0]
        return torch.where(p2f >= 0, p2f - offsets, p2f)
