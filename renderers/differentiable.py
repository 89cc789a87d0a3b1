"""Returns differentiable torch renders of a blendshape head: (B, 52) weights -> (B, 3, H, W) images in [0, 1].

Same cameras (`renderers.cameras.Camera`), lights (`renderers.lighting.Lighting`), appearance
(`avatar.appearance.paint_head` through `renderers.options.renderer_albedo`, `renderers.drawn_faces`), settings (`renderers.options.RendererOptions`) and exposure
(`renderers.options.renderer_exposure`) as `renderers.gl.GLRenderer`, so the two agree to within quantisation
(see docs/differentiable_renderer.md).

The split nvdiffrast uses: a rasterizer says which triangle covers each pixel (GL by default,
pytorch3d when it imports); everything after that is torch: perspective-correct barycentrics
recomputed from the projected vertices, smooth normals recomputed from the posed vertices, and the
GL fragment shader's formulas. Gradients therefore reach blendshape weights, identity coefficients
and head pose through every covered pixel. Coverage itself is a step function; `renderers.edge_antialias`
gives silhouette and occlusion edges their gradient (`antialias_edges`, default "gradient").

Composable parts (pytorch3d style): `DifferentiableHead` (pose), `project`, a rasterizer returning
`pix_to_face`, `barycentric_fragments` -> `Fragments`, `vertex_normals_torch`, `interpolate`, `HeadShader`;
and `DifferentiableRenderer`, the thin `nn.Module` that chains them. The plain tensor functions and
`Fragments` live in `renderers.fragments` (still importable from here); the modules live here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from avatar.errors import AvatarInputError, ShapeError
from renderers.corneas import cornea_groups, gloss_weights
from renderers.drawn_faces import drawn_faces
from renderers.wrinkles import WrinkleField, wrinkle_field
from avatar.head import BlendshapeHead, default_head
from renderers.cameras import Camera, resolve_camera
from renderers.cavity import cavity_field, cavity_matrix_torch, cavity_shade_torch
from renderers.edge_antialias import EDGE_MODES, edge_antialias, face_adjacency
from renderers.fragments import (Fragments, VisibilityRasterizer, barycentric_fragments, interpolate, pixel_centres, project,
                                 vertex_normals_torch)
from renderers.options import renderer_albedo, renderer_exposure
from renderers.lighting import Lighting, key_gain, light_colours, light_directions, light_specular
from renderers.options import RendererOptions
from renderers.shading import (GAMMA, SHADOW_BIAS, SHADOW_MIN_COS, SHADOW_NORMAL_OFFSET_CM, SHADOW_SLOPE_BIAS, SkinInputs,
                                cornea_normals_torch, highlight_white, shade_torch, wrinkle_amplitude_torch)
from renderers.shadows import light_matrix, shadow_box, shadow_depth_torch, shadow_step, shadow_test_torch
from renderers.skin import skin_attributes

# The tensor functions and Fragments moved to renderers.fragments; they stay importable from here.
__all__ = [
    "SLIVER_PX", "DifferentiableHead", "DifferentiableRenderer", "Fragments", "HeadShader", "VisibilityRasterizer", "WrinkleBuffers",
    "barycentric_fragments", "interpolate", "pixel_centres", "project", "psnr", "vertex_normals_torch",
]


# Triangles thinner than this (pixels, at the rasterized size) pass no barycentric gradient when the edge
# pass is on (`barycentric_fragments`): their pixels' motion is a visibility change, which the edge pass models.
SLIVER_PX = 0.1


# ------------------------------------------------------------------ modules
class DifferentiableHead(nn.Module):
    """Returns posed vertices (B, V, 3) from ARKit weights, identity PCA coefficients and head pose, all differentiable.

    neutral = generic_neutral + coeffs @ identity_basis (or the head's own neutral when no coefficients
    are given); vertices = blend(neutral, deltas, weights), then rotated about the head's pivot by
    R = Ry(yaw) Rx(pitch) Rz(roll) and translated (`avatar.rotations`). Head arrays are buffers: `.to()` moves them.
    """

    def __init__(self, head: BlendshapeHead) -> None:
        super().__init__()
        self.register_buffer("neutral", torch.from_numpy(head.neutral.copy()))
        self.register_buffer("generic_neutral", torch.from_numpy(np.asarray(head.generic_neutral, np.float32).copy()))
        self.register_buffer("deltas", torch.from_numpy(head.deltas.copy()))
        # Combination shapes (`BlendshapeHead.combos`): each moves by the smallest of its ARKit weights.
        c = len(head.combos)
        self.register_buffer("combo_deltas", torch.from_numpy(
            np.asarray(head.combo_deltas if c else np.zeros((0,) + head.neutral.shape), np.float32).copy()))
        self.combos = [list(k) for k in head.combos]
        basis = head.identity_basis if head.identity_basis is not None else np.zeros((0,) + head.neutral.shape, np.float32)
        self.register_buffer("identity_basis", torch.from_numpy(np.asarray(basis, np.float32).copy()))
        self.register_buffer("pivot", torch.from_numpy(np.asarray(head.pivot, np.float32).copy()))
        self.head_name = head.name

    def forward(self, weights: torch.Tensor, identity: torch.Tensor | None = None,
                head_pose: torch.Tensor | None = None) -> torch.Tensor:
        """Return (B, V, 3) vertices for (B, 52) or (52,) weights, optional (B, M') / (M',) identity coefficients
        (M' <= M modes, the rest zero) and (B, 6) / (6,) head pose."""
        from avatar.rotations import apply_head_pose_torch

        k = self.deltas.shape[0]
        if weights.ndim not in (1, 2) or weights.shape[-1] != k:
            raise ShapeError(f"weights must have shape ({k},) or (B, {k}), got {tuple(weights.shape)}")
        w = weights.reshape(-1, k).to(self.deltas.dtype)
        neutral = self.rest(identity)
        verts = neutral + (w @ self.deltas.reshape(k, -1)).reshape(w.shape[0], -1, 3)
        if self.combos:
            cw = torch.cat([w[:, k].amin(-1, keepdim=True) for k in self.combos], -1)
            verts = verts + (cw @ self.combo_deltas.reshape(cw.shape[1], -1)).reshape(w.shape[0], -1, 3)
        if head_pose is not None:
            verts = apply_head_pose_torch(verts, head_pose.to(verts.dtype), self.pivot)
        return verts

    def rest(self, identity: torch.Tensor | None = None) -> torch.Tensor:
        """Return the (1, V, 3) neutral, or (B, V, 3) neutrals of (B, M') / (M',) identity coefficients: the mesh
        expressions are measured against (wrinkles read the posed edges' strain against it)."""
        if identity is None:
            return self.neutral[None]
        m = self.identity_basis.shape[0]
        if m == 0:
            raise AvatarInputError(f"head {self.head_name!r} has no identity modes; pass identity=None")
        coeffs = identity.reshape(-1, identity.shape[-1]).to(self.deltas.dtype)
        if identity.ndim not in (1, 2) or coeffs.shape[-1] > m:
            raise ShapeError(f"identity coefficients must have shape (M,) or (B, M) with M <= {m}, got {tuple(identity.shape)}")
        basis = self.identity_basis[: coeffs.shape[-1]].reshape(coeffs.shape[-1], -1)
        return self.generic_neutral + (coeffs @ basis).reshape(coeffs.shape[0], -1, 3)


class WrinkleBuffers(nn.Module):
    """Holds a head's `renderers.wrinkles.WrinkleField` as buffers (they follow `.to()`); see `renderers.shading`.

    edges (E, 2), incidence_vertex / incidence_edge (I,) int64; incidence_weight (I,), depth (V,), phase (V,) float.
    """

    def __init__(self, wf: WrinkleField) -> None:
        super().__init__()
        for name in ("edges", "incidence_vertex", "incidence_edge"):
            self.register_buffer(name, torch.from_numpy(np.asarray(getattr(wf, name), np.int64)))
        for name in ("incidence_weight", "depth", "phase"):
            self.register_buffer(name, torch.from_numpy(np.asarray(getattr(wf, name), np.float32)))


class AttachmentBuffers(nn.Module):
    """Holds a head's `renderers.attachments.Attachments` as buffers and poses them: A = B brow + R rigid vertices.

    albedo_linear (A, 3), strand (A, 2), hairness (A, 1), faces (Fa, 3) int64 into the A vertices (brows first).
    """

    def __init__(self, att: Any) -> None:
        from renderers.attachments import BROW_HAIRNESS

        super().__init__()
        f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
        self.register_buffer("rest", f32(att.rest))
        self.register_buffer("rest_normals", f32(att.normals))
        self.register_buffer("rest_tangents", f32(np.concatenate([att.brow_tangent, att.tangents])))
        self.register_buffer("brow_base", torch.from_numpy(att.brow_base.astype(np.int64)))
        self.register_buffer("brow_lift", f32(att.brow_lift[:, None]))
        albedo = np.concatenate([att.brow_albedo, att.albedo]).astype(np.float64) ** GAMMA  # GL linearises per vertex
        self.register_buffer("albedo_linear", f32(albedo))
        self.register_buffer("strand", f32(np.concatenate([att.brow_strand, att.strand])))
        self.register_buffer("hairness", f32(np.concatenate([np.full(att.num_brow, BROW_HAIRNESS), att.hairness])[:, None]))
        faces = np.concatenate([att.brow_faces.astype(np.int64), att.faces.astype(np.int64) + att.num_brow])
        self.register_buffer("faces", torch.from_numpy(faces))
        self.register_buffer("anchors", torch.from_numpy(att.anchors.astype(np.int64)))
        self.register_buffer("anchor_rest", torch.from_numpy(att.anchor_rest.astype(np.float32)))

    @property
    def num_vertices(self) -> int:
        """Return A, the brow and rigid vertices together."""
        return int(self.brow_base.shape[0] + self.rest.shape[0])

    def forward(self, vertices: torch.Tensor, normals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return posed ((B, A, 3) positions, unit normals, strand directions) for (B, V, 3) posed head vertices and their
        unit normals: hair and clothing by the skull's rigid motion (`rigid_fit_torch` of the anchors), brows lifted
        off their base vertices along the normal; as `renderers.gl_attachments` draws them."""
        from renderers.attachments import rigid_fit_torch

        r, t = rigid_fit_torch(self.anchor_rest.to(vertices.dtype), vertices.index_select(1, self.anchors))
        rt = r.transpose(1, 2)
        brow_n = normals.index_select(1, self.brow_base)
        brow_p = vertices.index_select(1, self.brow_base) + self.brow_lift.to(vertices.dtype) * brow_n
        rigid_p = self.rest.to(vertices.dtype) @ rt + t[:, None]
        rigid_n = self.rest_normals.to(vertices.dtype) @ rt
        tangents = self.rest_tangents.to(vertices.dtype) @ rt
        return torch.cat([brow_p, rigid_p], 1), torch.cat([brow_n, rigid_n], 1), tangents


class HeadShader(nn.Module):
    """Returns linear-to-sRGB shaded colours (N, 3) with `renderers.shading`'s formulas (the GL fragment shader's):
    expression lines, wrapped diffuse key and fill, rim, Blinn specular on the key plus the corneas'
    catch-light, a soft tone curve, then sRGB.

    Lights and eye are buffers set from a `Lighting` and a `Camera` (light directions turn with the
    camera's yaw, as in GLRenderer).
    """

    def __init__(self, lighting: Lighting, camera: Camera, exposure: float = 1.0) -> None:
        super().__init__()
        self.lighting, self.exposure = lighting, exposure
        for name in ("key_dir", "fill_dir", "rim_dir", "key_rgb", "fill_rgb", "rim_rgb", "ambient", "eye"):
            self.register_buffer(name, torch.zeros(3))
        self.set_lights(lighting, camera, exposure)

    def set_lights(self, lighting: Lighting, camera: Camera, exposure: float | None = None) -> None:
        """Shade the following frames with `lighting` seen from `camera`, its lights times `exposure` (None: as before)."""
        self.lighting = lighting
        self.exposure = self.exposure if exposure is None else exposure
        values = dict(light_directions(lighting, camera), eye=tuple(camera.eye))
        values.update(light_colours(lighting, self.exposure))
        for name, value in values.items():
            buf = getattr(self, name)
            buf.copy_(torch.as_tensor(value, dtype=buf.dtype))

    def forward(self, normals: torch.Tensor, world: torch.Tensor, albedo_linear: torch.Tensor,
                wrinkle: torch.Tensor | None = None, gloss: torch.Tensor | None = None,
                eye_normal: torch.Tensor | None = None, occlusion: torch.Tensor | None = None,
                skin: SkinInputs | None = None, white: torch.Tensor | None = None) -> torch.Tensor:
        """Return (N, 3) sRGB colours in [0, 1] from interpolated (N, 3) normals, world positions and linear albedo,
        optional (N, 2) wrinkle (line coordinate, amplitude), (N, 1) cornea gloss, (N, 3) cornea normals, (N, 1)
        cavity occlusion, the skin terms' inputs and (N, 1) the shoulder's linear white (`shading.highlight_white`)."""
        return shade_torch(normals, world, albedo_linear, eye=self.eye, key_dir=self.key_dir, fill_dir=self.fill_dir,
                           rim_dir=self.rim_dir, key_rgb=self.key_rgb, fill_rgb=self.fill_rgb, rim_rgb=self.rim_rgb,
                           ambient=self.ambient, specular=light_specular(self.lighting, self.exposure), wrinkle=wrinkle, gloss=gloss,
                           eye_normal=eye_normal, occlusion=occlusion, skin=skin, white=white)

    def strands(self, px: torch.Tensor) -> torch.Tensor:
        """Return (N, 3) sRGB colours of hair, brow and cloth fragments from their (N, 15) interpolated attributes
        (normal, world, tangent, linear albedo, strand u v, hairness): `renderers.strand_shading.shade_strands_torch`."""
        from renderers.strand_shading import shade_strands_torch

        return shade_strands_torch(px[:, 0:3], px[:, 3:6], px[:, 6:9], px[:, 9:12], px[:, 12:14], px[:, 14:15], eye=self.eye,
                                   key_dir=self.key_dir, fill_dir=self.fill_dir, rim_dir=self.rim_dir, key_rgb=self.key_rgb,
                                   fill_rgb=self.fill_rgb, rim_rgb=self.rim_rgb, ambient=self.ambient,
                                   spec_scale=1.0 / max(key_gain(self.lighting, self.exposure), 1e-6))


class DifferentiableRenderer(nn.Module):
    """Renders (B, C, H, W) float images in [0, 1] of a head, differentiable in weights, identity and head pose.

    Build once (like GLRenderer: it holds a GL context for the visibility pass), call many times,
    `close()` (or use `with`). Takes the same `RendererOptions` as GLRenderer: size, camera,
    background (None: C = 4, RGBA with coverage alpha), appearance, lighting and `samples`: GL's MSAA
    sample count becomes supersampling with round(sqrt(samples)) x that many samples per side
    (4 -> 2x2), box-filtered, so `samples=0` matches GL without anti-aliasing pixel for pixel.

    Args:
        head: the head (default: the shipped ICT-FaceKit head).
        options: shared renderer settings.
        device: "cpu", "cuda", "cuda:N" or "auto".
        rasterizer: "gl" (moderngl visibility buffer, default), "pytorch3d" (needs pytorch3d), or "auto"
            (pytorch3d on CUDA when it imports, else GL).
        dtype: float dtype of vertices and images (torch.float64 for gradient checks).
        chunk: images shaded at once (default 1 on CPU, where one image's per-pixel arrays stay in cache and
            a batch of 8 at once ran 3-6x slower per image; 64 on CUDA). Results do not depend on it.
        antialias_edges: gradients at silhouette and occlusion edges (`renderers.edge_antialias`): "gradient"
            (default: the image is unchanged, edges that move change the gradient as if anti-aliased),
            "blend" (the edges are anti-aliased in the image too) or "off" (coverage carries no gradient).
    """

    def __init__(self, head: BlendshapeHead | None = None, options: RendererOptions | None = None, device: Any = "cpu",
                 rasterizer: str = "gl", dtype: torch.dtype = torch.float32, chunk: int | None = None,
                 antialias_edges: str = "gradient") -> None:
        from avatar.device import resolve_device
        from avatar.validation import check_size

        super().__init__()
        self.options = opts = options or RendererOptions()
        check_size(opts.width, opts.height)
        self.head = head if head is not None else default_head()
        self.camera = resolve_camera(opts.camera)
        self.supersample = max(1, round(math.sqrt(opts.samples))) if opts.samples else 1
        dev = resolve_device(device)
        if chunk is not None and int(chunk) < 1:
            raise AvatarInputError(f"chunk must be a positive number of images, got {chunk!r}")
        self.chunk = int(chunk) if chunk is not None else (64 if dev.type == "cuda" else 1)
        if antialias_edges not in EDGE_MODES:
            raise AvatarInputError(f"antialias_edges must be one of {EDGE_MODES}, got {antialias_edges!r}")
        self.antialias_edges = antialias_edges
        faces = drawn_faces(self.head)
        albedo = renderer_albedo(self.head, opts).astype(np.float64) ** GAMMA  # GL linearises per vertex
        # Hair, clothing and raised brows (`renderers.attachments`): rasterized with the head, shaded by strand_shading.
        from renderers.attachments import build_attachments

        att = build_attachments(self.head, opts.appearance, faces)
        self.attachments = AttachmentBuffers(att) if att is not None and (len(att.faces) or len(att.brow_faces)) else None
        all_faces = faces if self.attachments is None else np.concatenate(
            [faces, self.attachments.faces.numpy() + self.head.num_vertices])
        self.pose_head = DifferentiableHead(self.head)
        self.shader = HeadShader(opts.lighting, self.camera, renderer_exposure(opts))
        self.register_buffer("faces", torch.from_numpy(faces.astype(np.int64)))
        self.register_buffer("all_faces", torch.from_numpy(all_faces.astype(np.int64)))
        self.register_buffer("edge_adjacency", torch.from_numpy(face_adjacency(all_faces)))
        self.register_buffer("albedo_linear", torch.from_numpy(albedo.astype(np.float32)))
        # The highlight shoulder of the mouth and the sclera (renderers.shading.highlight_white): one part per face, read per face.
        white = highlight_white(self.head)[faces[:, 0]]
        self.register_buffer("face_white", torch.from_numpy(white[:, None]) if white.any() else None)
        # Expression appearance (Appearance.wrinkles / catch_lights): None when switched off, so a plain
        # render interpolates only what it shades.
        self.wrinkles = WrinkleBuffers(wrinkle_field(self.head)) if opts.appearance.wrinkles else None
        gloss = gloss_weights(self.head) if opts.appearance.catch_lights else None
        self.register_buffer("gloss", None if gloss is None or not gloss.any() else torch.from_numpy(gloss[:, None]))
        self._corneas = cornea_groups(self.head) if self.gloss is not None else []
        cavity = cavity_field(self.head, opts.appearance) if opts.appearance.cavity else None
        self._cavity_settings = cavity.settings() if cavity is not None else None
        self.register_buffer("cavity_matrix", None if cavity is None else cavity_matrix_torch(cavity))
        self.register_buffer("cavity_skin", None if cavity is None else torch.from_numpy(cavity.skin))
        # The teeth in the mouth's shade, following the posed lips each frame (renderers.teeth, as GL's vertex shader).
        from renderers.teeth import teeth_shade

        ts = teeth_shade(self.head, opts.appearance)
        for name, value in (("attribute", None if ts is None else ts.attribute[ts.teeth]),
                            ("index", None if ts is None else ts.teeth), ("lips", None if ts is None else ts.lips),
                            ("anchors", None if ts is None else ts.anchors), ("anchor_rest", None if ts is None else ts.anchor_rest)):
            self.register_buffer(f"teeth_{name}", None if value is None else torch.from_numpy(np.ascontiguousarray(value)))
        # Skin (renderers.skin): rest positions for the pores' noise, the regional material, the baked occlusion.
        app = opts.appearance
        rest, material, ao = skin_attributes(self.head, app, faces)
        self._skin_terms = bool(app.skin_detail or app.skin_regions or app.subsurface or app.ambient_occlusion or app.shadows)
        self.register_buffer("skin_rest", torch.from_numpy(np.ascontiguousarray(rest, np.float32)) if self._skin_terms else None)
        self.register_buffer("skin_material", torch.from_numpy(material) if self._skin_terms else None)
        self.register_buffer("skin_ao", torch.from_numpy(ao[:, None]) if app.ambient_occlusion else None)
        self.register_buffer("light_proj", torch.zeros(4, 4))
        self._shadow_box = shadow_box(self.head) if app.shadows else None
        for i, (glossy, ball) in enumerate(self._corneas):
            self.register_buffer(f"cornea{i}_glossy", torch.from_numpy(glossy.astype(np.int64)))
            self.register_buffer(f"cornea{i}_ball", torch.from_numpy(ball.astype(np.int64)))
        self.register_buffer("view_proj", torch.zeros(4, 4))
        self.register_buffer("background", torch.tensor(opts.background if opts.background is not None else (0.0, 0.0, 0.0)))
        self._set_view_proj()
        self.to(device=dev, dtype=dtype)
        self.rasterizer_name = _choose_rasterizer(rasterizer, dev)
        h, w = opts.height * self.supersample, opts.width * self.supersample
        size = int(opts.shadow_map_size)
        if app.shadows and not 16 <= size <= 8192:
            raise AvatarInputError(f"shadow_map_size must be 16..8192 texels, got {size}")
        self._shadow_gl = None
        self._shadow_raster: Any = None
        if self.rasterizer_name == "gl":
            from renderers.visibility import GLVisibilityRasterizer

            extra = 0 if self.attachments is None else self.attachments.num_vertices
            self._gl = GLVisibilityRasterizer(all_faces, self.head.num_vertices + extra, w, h, self.camera, backend=opts.backend)
            self.rasterizer: VisibilityRasterizer = self._rasterize_gl
            if app.shadows:  # the key light's shadow map: the same visibility pass, from the light's box
                self._shadow_gl = GLVisibilityRasterizer(faces, self.head.num_vertices, size, size, self.camera, backend=opts.backend)
        else:
            from renderers.pytorch3d_raster import Pytorch3DVisibilityRasterizer

            self._gl = None
            self.rasterizer = Pytorch3DVisibilityRasterizer(self.all_faces, h, w)
            if app.shadows:
                self._shadow_raster = Pytorch3DVisibilityRasterizer(self.faces, size, size)
        self._set_light_proj()

    @classmethod
    def create_from_options(cls, options: RendererOptions, head: BlendshapeHead | None = None, device: Any = "cpu",
                            rasterizer: str = "gl") -> DifferentiableRenderer:
        """Return a renderer built from `options` (MediaPipe Tasks style)."""
        return cls(head, options, device=device, rasterizer=rasterizer)

    def _set_view_proj(self) -> None:
        aspect = self.options.width / self.options.height
        vp = self.camera.projection_matrix(aspect).astype(np.float64) @ self.camera.view_matrix().astype(np.float64)
        self.view_proj.copy_(torch.from_numpy(vp))

    def _set_light_proj(self) -> None:
        """Aim the shadow map at the key light as this camera turns it (renderers.shadows)."""
        if self._shadow_box is None:
            return
        centre, radius = self._shadow_box
        matrix = light_matrix(light_directions(self.options.lighting, self.camera)["key_dir"], centre, radius)
        self.light_proj.copy_(torch.from_numpy(matrix))
        if self._shadow_gl is not None:
            self._shadow_gl.set_view_proj(matrix)

    def _shadow_maps(self, vertices: torch.Tensor) -> torch.Tensor:
        """Return (B, S, S) key-light depth maps in 0..1 (rows top first) of (B, V, 3) vertices, without gradient."""
        clip = project(vertices.detach(), self.light_proj)  # orthographic: w = 1
        if self._shadow_gl is not None:
            ids = self._shadow_gl.rasterize(vertices.detach().to("cpu", torch.float32).numpy())
            pix_to_face = torch.from_numpy(ids).to(vertices.device, torch.int64)
        else:  # pytorch3d tests clip w as the depth: give it a positive one that grows away from the light
            w = clip[..., 2:3] + 2.0
            pix_to_face = self._shadow_raster(vertices, torch.cat([clip[..., :3] * w, w], -1))
        return shadow_depth_torch(pix_to_face, clip, self.faces)

    def _rasterize_gl(self, vertices: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
        # The one host round trip of the GL path: vertices down, triangle ids up.
        ids = self._gl.rasterize(vertices.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(ids).to(vertices.device, torch.int64)

    def set_camera(self, camera: Camera | str) -> None:
        """Point the renderer at another camera (preset name or Camera) for the following frames."""
        self.camera = resolve_camera(camera)
        self._set_view_proj()
        self.shader.set_lights(self.shader.lighting, self.camera)
        if self._gl is not None:
            self._gl.set_camera(self.camera)
        self._set_light_proj()

    # ------------------------------------------------------------- parts
    def rasterize(self, vertices: torch.Tensor, pix_to_face: torch.Tensor | None = None) -> Fragments:
        """Return Fragments (at the supersampled size) for (B, V, 3) world vertices.

        A given (B, H, W) `pix_to_face` (e.g. from an earlier call) is reused instead of rasterizing again:
        coverage stays fixed and only the barycentrics follow the vertices, which makes the image a
        smooth function of them (finite-difference checks, small-step fitting).
        """
        if vertices.ndim != 3 or vertices.shape[1:] != (self.head.num_vertices, 3):
            raise ShapeError(f"vertices must have shape (B, {self.head.num_vertices}, 3), got {tuple(vertices.shape)}")
        vertices = self._with_attachments(vertices)
        clip = project(vertices, self.view_proj)
        if pix_to_face is None:
            pix_to_face = self.rasterizer(vertices, clip)
        elif pix_to_face.shape != (vertices.shape[0], self.options.height * self.supersample, self.options.width * self.supersample):
            raise ShapeError(f"pix_to_face must have shape (B, H, W) at the supersampled size, got {tuple(pix_to_face.shape)}")
        return barycentric_fragments(clip, self.all_faces, pix_to_face, SLIVER_PX if self.antialias_edges != "off" else 0.0)

    def _with_attachments(self, vertices: torch.Tensor) -> torch.Tensor:
        """Return (B, V + A, 3): the head's posed vertices followed by its attachments' (just the head's without any)."""
        if self.attachments is None:
            return vertices
        return torch.cat([vertices, self.attachments(vertices, vertex_normals_torch(vertices, self.faces))[0]], 1)

    def shade(self, vertices: torch.Tensor, fragments: Fragments, rest: torch.Tensor | None = None) -> torch.Tensor:
        """Return (B, C, H, W) images in [0, 1] at the output size from (B, V, 3) vertices and their Fragments.

        rest: the (1 or B, V, 3) neutral the wrinkles measure compression against (default: the head's own).
        """
        normals = vertex_normals_torch(vertices, self.faces)
        everything = fragments
        if self.attachments is not None:  # the head's pixels are shaded as before; the attachments' below
            n_head = self.faces.shape[0]
            fragments = Fragments(torch.where(everything.pix_to_face < n_head, everything.pix_to_face, -1), everything.bary)
        mask = fragments.mask
        # One gather for every attribute instead of one each: indexing dominates the CPU time.
        albedo = self.albedo_linear.expand_as(vertices)
        occlusion = None
        if self.cavity_matrix is not None:  # GL darkens the sRGB albedo before linearising it: the factor ** GAMMA here
            occlusion = cavity_shade_torch(self.cavity_matrix, self.cavity_skin, vertices, normals, self._cavity_settings)
        if self.teeth_index is not None:  # the teeth's shade multiplies the cavity factor, as in GL's vertex shader
            from renderers.teeth import shade_unlift, teeth_factors_torch

            teeth = teeth_factors_torch(self, vertices, shade_unlift(self.shader.exposure))
            occlusion = teeth if occlusion is None else occlusion * teeth
        if occlusion is not None:
            occlusion = occlusion[..., None] ** GAMMA
            albedo = albedo * occlusion
        parts = [normals, vertices, albedo]
        if self.wrinkles is not None:
            amp = wrinkle_amplitude_torch(self.wrinkles, vertices, self.pose_head.neutral[None] if rest is None else rest)
            parts.append(torch.stack([self.wrinkles.phase.expand_as(amp), amp], -1))
        if self.gloss is not None:
            groups = [(getattr(self, f"cornea{i}_glossy"), getattr(self, f"cornea{i}_ball")) for i in range(len(self._corneas))]
            parts += [self.gloss.expand(vertices.shape[0], -1, -1), cornea_normals_torch(groups, vertices)]
        if occlusion is not None:
            parts.append(occlusion)
        skin_at = sum(p.shape[-1] for p in parts)
        if self._skin_terms:
            b = vertices.shape[0]
            parts += [self.skin_rest.expand(b, -1, -1), self.skin_material.expand(b, -1, -1)]
            if self.skin_ao is not None:
                parts.append(self.skin_ao.expand(b, -1, -1))
        px = interpolate(torch.cat(parts, -1), self.faces, fragments)
        wrinkle = px[:, 9:11] if self.wrinkles is not None else None
        end = skin_at - (1 if occlusion is not None else 0)
        gloss, eye_normal = (px[:, end - 4:end - 3], px[:, end - 3:end]) if self.gloss is not None else (None, None)
        colour = self.shader(px[:, :3], px[:, 3:6], px[:, 6:9], wrinkle, gloss, eye_normal,
                             px[:, end:skin_at] if occlusion is not None else None,
                             self._skin_inputs(vertices, fragments, px, skin_at) if self._skin_terms else None,
                             self.face_white[fragments.pix_to_face[mask]] if self.face_white is not None else None)
        b, h, w = mask.shape
        img = self.background.expand(b, h, w, 3).clone() if self.options.background is not None else vertices.new_zeros((b, h, w, 3))
        img = img.index_put(mask.nonzero(as_tuple=True), colour)
        all_vertices = vertices
        if self.attachments is not None:
            n_head = self.faces.shape[0]
            own = Fragments(torch.where(everything.pix_to_face >= n_head, everything.pix_to_face - n_head, -1), everything.bary)
            pos, nrm, tan = self.attachments(vertices, normals)
            all_vertices = torch.cat([vertices, pos], 1)
            att = self.attachments
            b = vertices.shape[0]
            parts = [nrm, pos, tan, att.albedo_linear.expand(b, -1, -1).to(pos.dtype), att.strand.expand(b, -1, -1).to(pos.dtype),
                     att.hairness.expand(b, -1, -1).to(pos.dtype)]
            px = interpolate(torch.cat(parts, -1), att.faces, own)
            img = img.index_put(own.mask.nonzero(as_tuple=True), self.shader.strands(px))
            mask = everything.mask
        if self.options.background is None:
            img = torch.cat([img, mask[..., None].to(img.dtype)], -1)
        # Before the box filter: edges are found at the rasterized resolution. "gradient" changes no value, so
        # it is skipped when nothing will be differentiated (inference costs what it did).
        if self.antialias_edges == "blend" or (self.antialias_edges == "gradient" and img.requires_grad):
            img = edge_antialias(img, everything.pix_to_face, project(all_vertices, self.view_proj), self.all_faces,
                                 self.edge_adjacency, self.antialias_edges)
        img = img.permute(0, 3, 1, 2)
        if self.supersample > 1:
            img = nn.functional.avg_pool2d(img, self.supersample)
        return img

    def _skin_inputs(self, vertices: torch.Tensor, fragments: Fragments, px: torch.Tensor, at: int) -> SkinInputs:
        """Return the skin terms' per-fragment inputs: columns `at`.. of the interpolated `px` (rest, material, ao)
        and the shadow test of this batch's key-light maps."""
        app = self.options.appearance
        shadow = None
        if self._shadow_box is not None:
            depth = self._shadow_maps(vertices)
            batch = fragments.mask.nonzero(as_tuple=True)[0]
            world = px[:, 3:6].detach()
            step = shadow_step(app.shadow_softness_cm, self._shadow_box[1])
            proj = self.light_proj

            def shadow(n_geo: torch.Tensor, n_l: torch.Tensor) -> torch.Tensor:
                """The fragment shader's filtered lit fraction, offset along the normal, slope-biased."""
                lc = (world + n_geo.detach() * SHADOW_NORMAL_OFFSET_CM) @ proj[:3, :3].T + proj[:3, 3]
                s = lc * 0.5 + 0.5
                c = n_l.detach().clamp(SHADOW_MIN_COS, 1.0)[:, 0]
                z = s[:, 2] - (SHADOW_BIAS + SHADOW_SLOPE_BIAS * step * (1 - c * c).sqrt() / c)
                return shadow_test_torch(depth, batch, torch.stack([s[:, 0], s[:, 1], z], -1), step, 1.0)

        return SkinInputs(rest=px[:, at:at + 3], material=px[:, at + 3:at + 7],
                          detail_strength=float(app.skin_detail_strength) if app.skin_detail else None,
                          regions=bool(app.skin_regions), subsurface=bool(app.subsurface),
                          ao=px[:, at + 7:at + 8] if self.skin_ao is not None else None,
                          shadow=shadow, shadow_strength=float(app.shadow_strength))

    def render_vertices(self, vertices: torch.Tensor, rest: torch.Tensor | None = None) -> torch.Tensor:
        """Return (B, C, H, W) images in [0, 1] of (B, V, 3) or (V, 3) world vertices.

        rest: optional (1 or B, V, 3) neutral(s) the vertices' expression is measured against for wrinkles
        (default: the head's own neutral).
        """
        verts = vertices if vertices.ndim == 3 else vertices[None]
        verts = verts.to(self.view_proj.dtype)
        if rest is not None:
            rest = (rest if rest.ndim == 3 else rest[None]).to(verts.dtype)
        if len(verts) <= self.chunk:
            return self.shade(verts, self.rasterize(verts), rest)
        starts = range(0, len(verts), self.chunk)
        rests = [None if rest is None else rest if len(rest) == 1 else rest[i:i + self.chunk] for i in starts]
        return torch.cat([self.shade(verts[i:i + self.chunk], self.rasterize(verts[i:i + self.chunk]), r)
                          for i, r in zip(starts, rests)])

    def forward(self, weights: torch.Tensor, identity: torch.Tensor | None = None,
                head_pose: torch.Tensor | None = None) -> torch.Tensor:
        """Return (B, C, H, W) images in [0, 1] on the renderer's device (C = 3, or 4 with a transparent background).

        Args:
            weights: (B, 52) or (52,) ARKit weights.
            identity: optional (B, M') or (M',) identity PCA coefficients (in standard deviations); None
                keeps the head's own neutral.
            head_pose: optional (B, 6) or (6,) (pitch, yaw, roll radians; tx, ty, tz cm).
        """
        dev, dt = self.view_proj.device, self.view_proj.dtype
        weights = torch.as_tensor(weights, device=dev, dtype=dt)
        identity = None if identity is None else torch.as_tensor(identity, device=dev, dtype=dt)
        head_pose = None if head_pose is None else torch.as_tensor(head_pose, device=dev, dtype=dt)
        verts = self.pose_head(weights, identity, head_pose)
        rest = None if identity is None or self.wrinkles is None else self.pose_head.rest(identity)
        return self.render_vertices(verts, rest)

    def close(self) -> None:
        """Release the GL contexts of the visibility and shadow passes (nothing to release with pytorch3d)."""
        if self._gl is not None:
            self._gl.close()
            self._gl = None
        if self._shadow_gl is not None:
            self._shadow_gl.close()
            self._shadow_gl = None

    def __enter__(self) -> DifferentiableRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _choose_rasterizer(name: str, device: torch.device) -> str:
    """Return "gl" or "pytorch3d" for a user's choice, raising with an install hint when pytorch3d is asked for but missing."""
    if name not in ("gl", "pytorch3d", "auto"):
        raise AvatarInputError(f"unknown rasterizer {name!r}: use 'gl', 'pytorch3d' or 'auto'")
    if name == "gl":
        return "gl"
    from renderers.pytorch3d_raster import pytorch3d_available, require_pytorch3d

    if name == "pytorch3d":
        require_pytorch3d()
        return "pytorch3d"
    return "pytorch3d" if device.type == "cuda" and pytorch3d_available() else "gl"


def psnr(a: Any, b: Any, peak: float = 1.0) -> float:
    """Return the peak signal-to-noise ratio in dB between two images or batches of the same shape (inf if equal)."""
    x = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, np.float64)
    y = np.asarray(b.detach().cpu() if hasattr(b, "detach") else b, np.float64)
    if x.shape != y.shape:
        raise ShapeError(f"psnr needs images of one shape, got {x.shape} and {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)
