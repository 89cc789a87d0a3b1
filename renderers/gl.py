"""Offscreen OpenGL head renderer (moderngl over EGL): ARKit weights or vertices in, uint8 frames out.

One GL context and one set of buffers are made once and reused for every frame. On a CPU-only
machine EGL runs on Mesa's llvmpipe; on a GPU machine the same code runs on the NVIDIA driver.

`GLRenderer` and what it returns (`RenderResult`) live here; its settings in `renderers.options` and
`renderers.lighting` (with the auto-exposure rule both renderers use), its GL contexts in `renderers.gl_context`,
its face boxes in `renderers.face_boxes`, what it draws in `renderers.drawn_faces`, `renderers.wrinkles` and
`renderers.corneas`. Import each name from its own module: this one holds only the renderer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError, SetupError, ShapeError
from avatar.head import ICT_PARTS, BlendshapeHead, default_head
from avatar.sequence import ExpressionSequence
from avatar.validation import check_size
from avatar.appearance import Appearance
from renderers.cameras import Camera, resolve_camera
from renderers.corneas import cornea_groups, gloss_weights
from renderers.drawn_faces import drawn_faces, two_sided_faces
from renderers.face_boxes import face_boxes_of_points, face_points, posed_face_points
from renderers.gl_context import create_context, is_software_rasterizer, make_current, release_context
from renderers.lighting import Lighting, key_gain, light_colours, light_directions, light_specular
from renderers.options import ANTIALIAS_MODES, RendererOptions, renderer_albedo, renderer_exposure
from renderers.posing import held_frames
from renderers.shading import linear_albedo
from renderers.wrinkles import WrinkleField, wrinkle_field

__all__ = ["GLRenderer", "RenderResult"]


@dataclass(frozen=True)
class RenderResult:
    """Frames and where the face is in them.

    images: (T, H, W, 3) uint8, or (T, H, W, 4) with a transparent background.
    face_boxes: (T, 4) float32 pixel boxes (x0, y0, x1, y1) around the face landmarks.
    """

    images: np.ndarray
    face_boxes: np.ndarray


class GLRenderer:
    """Renders a BlendshapeHead offscreen; create once, render many frames, then `close()` (or use `with`)."""

    def __init__(self, head: BlendshapeHead | None = None, options: RendererOptions | None = None) -> None:

        self.options = opts = options or RendererOptions()
        check_size(opts.width, opts.height)
        if opts.antialias not in ANTIALIAS_MODES:
            raise AvatarInputError(f"antialias must be one of {', '.join(ANTIALIAS_MODES)}, got {opts.antialias!r}")
        self.head = head if head is not None else default_head()
        self.camera = resolve_camera(opts.camera)
        self.ctx = create_context(opts.backend)
        self._faces = drawn_faces(self.head)
        self._albedo = renderer_albedo(self.head, opts)
        self._set_expression_appearance(opts.appearance)
        self._gl_attachments: Any = None
        self._build_pipeline()

    @classmethod
    def create_from_options(cls, options: RendererOptions, head: BlendshapeHead | None = None) -> GLRenderer:
        """Return a renderer built from `options` (MediaPipe Tasks style)."""
        return cls(head, options)

    # ---------------------------------------------------------------- set-up
    def _set_expression_appearance(self, appearance: Appearance, wrinkles: WrinkleField | None = None) -> None:
        """Set the wrinkle field (or None when switched off), the static (V, 2) line coordinate / amplitude
        attribute and the (V,) cornea gloss from `appearance`'s switches; `wrinkles` reuses a field."""
        n = self.head.num_vertices
        self._appearance = appearance
        self._wrinkles = (wrinkles or wrinkle_field(self.head)) if appearance.wrinkles else None
        self._wrinkle_attr = np.zeros((n, 2), np.float32)  # (u, a); a is rewritten each frame when wrinkles are on
        if self._wrinkles is not None:
            self._wrinkle_attr[:, 0] = self._wrinkles.phase
        self._gloss = gloss_weights(self.head) if appearance.catch_lights else np.zeros(n, np.float32)
        self._corneas = cornea_groups(self.head) if appearance.catch_lights else []
        self._eye_normal = np.zeros((n, 3), np.float32)  # rewritten each frame when catch-lights are on
        # The cavity field is topology only, so another identity of the same head (set_head) keeps it.
        keep = getattr(self, "_cavity", None)
        settings = (appearance.cavity_strength, int(appearance.cavity_iterations), appearance.cavity_depth_cm)
        if not appearance.cavity:
            self._cavity = None
        elif keep is None or keep.num_vertices != n or keep.settings() != settings:
            from renderers.cavity import cavity_field

            self._cavity = cavity_field(self.head, appearance)
        from renderers.skin import skin_attributes

        # Static per identity: the noise's rest coordinates, the skin's material (switched-off parts neutral) and the
        # ambient occlusion baked on this identity's neutral (renderers.skin).
        self._rest, self._skin_attr, self._ao = skin_attributes(self.head, appearance, self._faces)
        from renderers.teeth import TEETH_ATTRIBUTE_WIDTH, teeth_shade

        # The teeth's static factors (lingual shade, depth share); the light through the posed lips' opening is a per-frame uniform.
        self._teeth = teeth_shade(self.head, appearance)
        self._teeth_attr = self._teeth.attribute if self._teeth is not None else np.zeros((n, TEETH_ATTRIBUTE_WIDTH), np.float32)
        self._poser_cache: Any = None  # made on first numpy pose, from the fields above
        self._staging: dict[str, Any] = {}  # laid-out per-frame arrays (`_laid_out`); their parts follow the fields above

    def _build_pipeline(self) -> None:
        from renderers.shaders import RESOLVE_VERTEX_SHADER, resolve_fragment_shader

        ctx, opts = self.ctx, self.options
        # One draw a frame: the triangles that may be culled first, then each two-sided one (the ICT lashes and
        # eyeballs) followed by a copy with the opposite winding, all drawn with back faces culled, so exactly one of
        # the pair is rasterised whichever side the camera sees (the shading flips normals by the view, not by the
        # winding). A draw costs llvmpipe per-draw vertex work, which at preview sizes is most of a frame.
        # The order only matters for exactly equal depths; normals are still summed in `_faces`' order.
        if opts.backface_culling is None:
            two_sided = two_sided_faces(self.head, self._faces)
        else:
            two_sided = np.full(len(self._faces), not opts.backface_culling)
        self._culled = int(len(two_sided) - two_sided.sum())
        part = self._face_parts()
        both, both_part = self._faces[two_sided], part[two_sided]
        if self._culled and len(both):
            both = np.stack([both, both[:, [0, 2, 1]]], 1).reshape(-1, 3)
            both_part = np.repeat(both_part, 2)
        drawn = np.concatenate([self._faces[~two_sided], both])
        self._draw_vertices = 3 * len(drawn)
        want_gpu = opts.gpu_pose if opts.gpu_pose is not None else not self.software_rasterizer
        # On a CPU rasterizer the vertex buffers are laid out per vsplit segment (renderers.draw_order): each vertex
        # is shaded about once a frame instead of 2.7 times. Compute-shader posing writes the head's own layout.
        self._source: np.ndarray | None = None
        if not want_gpu and self.software_rasterizer:
            from renderers.draw_order import cache_friendly_layout

            drawn, self._source = cache_friendly_layout(drawn, self.head.generic_neutral,
                                                        np.concatenate([part[~two_sided], both_part]), self._culled)
        n = self.head.num_vertices if self._source is None else len(self._source)
        self.vbo_pos = ctx.buffer(reserve=n * 12, dynamic=True)
        self.vbo_nrm = ctx.buffer(reserve=n * 12, dynamic=True)
        self.vbo_alb = ctx.buffer(self._laid_out(linear_albedo(self._albedo)))  # the vertex shader reads linear albedo
        self.vbo_wrk = ctx.buffer(self._laid_out(self._wrinkle_attr), dynamic=True)
        self.vbo_gls = ctx.buffer(self._laid_out(self._gloss.astype("f4")))
        self.vbo_eye = ctx.buffer(self._laid_out(self._eye_normal), dynamic=True)
        self.vbo_cav = ctx.buffer(np.ones(n, np.float32).tobytes(), dynamic=True)  # 1: no cavity shading
        self.vbo_rest = ctx.buffer(self._laid_out(np.asarray(self._rest, np.float32)))
        self.vbo_skin = ctx.buffer(self._laid_out(self._skin_attr))
        self.vbo_ao = ctx.buffer(self._laid_out(self._ao))
        self.vbo_teeth = ctx.buffer(self._laid_out(self._teeth_attr))
        from renderers.shading import highlight_white

        self.vbo_white = ctx.buffer(self._laid_out(highlight_white(self.head)))  # the mouth's and the sclera's shoulder; static
        self.ibo = ctx.buffer(drawn.astype("i4").tobytes())
        self._program_for: tuple[bool, ...] | None = None
        self._shadow: Any = None
        self._build_program()
        size = (opts.width, opts.height)
        wanted = max(0, int(opts.samples or 0))
        mode = opts.antialias
        if mode == "auto":
            mode = "supersample" if self.software_rasterizer else "msaa"
        self.antialias = mode if wanted > 1 else "none"
        # Supersampling: k x k ordered samples per pixel, the differentiable renderer's pattern (4 -> 2x2).
        self.supersample = max(1, round(wanted ** 0.5)) if self.antialias == "supersample" else 1
        samples = min(wanted, ctx.max_samples) if self.antialias == "msaa" else 0
        scene = (opts.width * self.supersample, opts.height * self.supersample)
        if self.supersample > 1:
            self._scene_tex = ctx.texture(scene, 4)
            self.fbo_ms = ctx.framebuffer(color_attachments=[self._scene_tex], depth_attachment=ctx.depth_renderbuffer(scene))
        else:
            self.fbo_ms = ctx.framebuffer(
                color_attachments=[ctx.renderbuffer(scene, 4, samples=samples)],
                depth_attachment=ctx.depth_renderbuffer(scene, samples=samples),
            )
        self.fbo = ctx.simple_framebuffer(size, components=4) if (samples or self.supersample > 1) else self.fbo_ms
        if self.supersample > 1:
            self._resolve = ctx.program(vertex_shader=RESOLVE_VERTEX_SHADER,
                                        fragment_shader=resolve_fragment_shader(self.supersample))
            self._resolve["u_height"].value = opts.height
            self._resolve["u_scene"].value = 0
            self._resolve_vao = ctx.vertex_array(self._resolve, [])
        self._comps = 4 if opts.background is None else 3
        # Two pixel buffers: frame t is read into one while frame t - 1 is unpacked from the other.
        self._pbos = [ctx.buffer(reserve=opts.width * opts.height * self._comps) for _ in range(2)]
        self._gpu = None
        if want_gpu:
            if ctx.version_code < 430:
                raise SetupError(f"gpu_pose needs OpenGL 4.3 compute shaders; this context is {ctx.version_code}: pass gpu_pose=False")
            from renderers.gl_pose import GPUPose

            self._gpu = GPUPose(ctx, self.head, self._faces, self._wrinkles, self._corneas,
                                outputs=(self.vbo_pos, self.vbo_nrm, self.vbo_wrk, self.vbo_eye))
        self._gpu_cavity: Any = None
        self._sync_gpu_cavity()
        self._sync_attachments()
        self._set_uniforms()

    def _face_parts(self) -> np.ndarray:
        """Return (F,) int: the part of the head each drawn triangle belongs to (ICT: its part's vertex range, by its
        lowest vertex; other heads: one part), so the draw keeps the parts in the head's order."""
        if not self.head.is_ict:
            return np.zeros(len(self._faces), np.int64)
        starts = np.array(sorted(a for a, _ in ICT_PARTS.values()))
        return np.searchsorted(starts, self._faces.min(1), side="right")

    def _laid_out(self, values: np.ndarray, name: str | None = None) -> np.ndarray:
        """Return (V, ...) float32 per-vertex `values` in the vertex buffers' layout (`_source`): themselves, or
        gathered into the staging array `name` (reused frame after frame) or a new array."""
        values = np.ascontiguousarray(values, np.float32)
        if self._source is None:
            return values
        if name is None:
            return values[self._source]
        out = self._staging.get(name)
        if out is None or out.shape[1:] != values.shape[1:]:
            out = self._staging[name] = np.empty((len(self._source), *values.shape[1:]), np.float32)
        return np.take(values, self._source, axis=0, out=out)

    def _laid_out_part(self, values: np.ndarray, name: str) -> np.ndarray:
        """Return `_laid_out(values)` for the per-frame attribute `name` ("wrk", "eye", "cav"), which changes on a part
        of the head only (wrinkle regions, corneas, skin) and is constant elsewhere: only that part's slots are
        gathered into an array laid out once per appearance."""
        if self._source is None:
            return np.ascontiguousarray(values, np.float32)
        cached = self._staging.get(name)
        if cached is None:
            n = self.head.num_vertices
            if name == "wrk":  # the line coordinate is static, the amplitude is 0 outside the regions
                moving, rest = np.flatnonzero(self._wrinkles.depth), self._wrinkle_attr * np.array([1, 0], np.float32)
            elif name == "eye":  # zero off the corneas
                moving, rest = np.concatenate([g for g, _ in self._corneas]), np.zeros((n, 3), np.float32)
            else:  # cavity factors: 1 off the skin
                moving, rest = self._cavity.skin, np.ones(n, np.float32)
            slots = np.flatnonzero(np.isin(self._source, moving))
            self._staging[name] = cached = (slots, self._source[slots], self._laid_out(rest))
        slots, src, out = cached
        out[slots] = np.asarray(values, np.float32)[src]
        return out

    def _sync_attachments(self) -> None:
        """(Re)build the hair, clothing and raised-brow draws for this head and appearance (`renderers.gl_attachments`)."""
        from renderers.attachments import build_attachments

        if self._gl_attachments is not None:
            self._gl_attachments.release()
            self._gl_attachments = None
        attachments = build_attachments(self.head, self._appearance, self._faces)
        if attachments is not None:
            from renderers.gl_attachments import GLAttachments

            self._gl_attachments = GLAttachments(self.ctx, attachments, self.vbo_pos, self.vbo_nrm, self._vertex_slots(),
                                                 fast_gamma=self.software_rasterizer,
                                                 segment_layout=self._source is not None)

    def _vertex_slots(self) -> np.ndarray:
        """Return (V,) int: a slot of each head vertex in the vertex buffers (their layout, `_source`; -1: not there)."""
        n = self.head.num_vertices
        if self._source is None:
            return np.arange(n)
        slots = np.full(n, -1, np.int64)
        slots[self._source[::-1]] = np.arange(len(self._source))[::-1]  # the first slot of each vertex
        return slots

    def _sync_gpu_cavity(self) -> None:
        """Build (or drop) the compute-shader cavity pass to match the appearance, on the GPU-pose path."""
        field = self._cavity if self._gpu is not None else None
        current = self._gpu_cavity.field if self._gpu_cavity is not None else None
        if field is current:
            return
        if self._gpu_cavity is not None:
            self._gpu_cavity.release()
            self._gpu_cavity = None
        self.vbo_cav.write(np.ones(self.vbo_cav.size // 4, np.float32).tobytes())
        if field is not None:
            from renderers.cavity import GPUCavity

            self._gpu_cavity = GPUCavity(self.ctx, field)

    def _build_program(self) -> None:
        """(Re)compile the head's shaders for the appearance's switches, when they changed, and bind the vertex buffers."""
        from renderers.shaders import VERTEX_SHADER
        from renderers.shading import fragment_shader

        app = self._appearance
        flags = (bool(app.wrinkles), bool(app.catch_lights), bool(app.skin_detail), bool(app.skin_regions),
                 bool(app.subsurface), bool(app.ambient_occlusion), bool(app.shadows))
        if flags == self._program_for:
            return
        if self._program_for is not None:
            self.vao.release()
            self.prog.release()
        # On a CPU rasterizer the output gamma comes from two short polynomials instead of pow() (renderers.shading.
        # gamma_encode_glsl: within 0.006 of a level, ~7% less draw CPU at 512 px); a GPU's pow is one instruction.
        self.prog = self.ctx.program(vertex_shader=VERTEX_SHADER,
                                     fragment_shader=fragment_shader(*flags, fast_gamma=self.software_rasterizer))
        self._sync_shadow_pass(app.shadows)
        # A switched-off term's inputs are not in the program (fragment_shader leaves them out).
        self.vao = self.ctx.vertex_array(
            self.prog,
            [(self.vbo_pos, "3f", "in_position"), (self.vbo_nrm, "3f", "in_normal"), (self.vbo_alb, "3f", "in_albedo"),
             (self.vbo_wrk, "2f", "in_wrinkle"), (self.vbo_gls, "1f", "in_gloss"), (self.vbo_eye, "3f", "in_eye_normal"),
             (self.vbo_cav, "1f", "in_cavity"), (self.vbo_rest, "3f", "in_rest"), (self.vbo_skin, "4f", "in_skin"),
             (self.vbo_ao, "1f", "in_ao"), (self.vbo_teeth, "3f 3f", "in_teeth", "in_teeth_offset"),
             (self.vbo_white, "1f", "in_white")],
            index_buffer=self.ibo, skip_errors=True,
        )
        self._write_model(self.prog, getattr(self, "_model", None))
        if self._program_for is not None:
            self._set_uniforms()
        self._program_for = flags

    def _sync_shadow_pass(self, on: bool) -> None:
        """Build (or drop) the key light's depth-only pass and its shadow map (`renderers.shadows`)."""
        if bool(on) == (self._shadow is not None):
            return
        if self._shadow is not None:
            for obj in self._shadow.values():
                obj.release()
            self._shadow = None
            return
        from renderers.shaders import SHADOW_FRAGMENT_SHADER, SHADOW_VERTEX_SHADER

        ctx, size = self.ctx, int(self.options.shadow_map_size)
        if not 16 <= size <= 8192:
            raise AvatarInputError(f"shadow_map_size must be 16..8192 texels, got {size}")
        prog = ctx.program(vertex_shader=SHADOW_VERTEX_SHADER, fragment_shader=SHADOW_FRAGMENT_SHADER)
        tex = ctx.depth_texture((size, size))
        tex.compare_func = "<="  # sampler2DShadow: 1 where the fragment is no deeper than the map
        tex.repeat_x = tex.repeat_y = False
        import moderngl

        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)  # bilinear 2 x 2 compare per tap
        self._shadow = {"prog": prog, "tex": tex, "fbo": ctx.framebuffer(depth_attachment=tex),
                        "vao": ctx.vertex_array(prog, [(self.vbo_pos, "3f", "in_position")], index_buffer=self.ibo)}
        self._write_model(prog, getattr(self, "_model", None))

    @property
    def software_rasterizer(self) -> bool:
        """Return True when GL draws on the CPU (llvmpipe and kin), where per-fragment work is the cost."""
        return is_software_rasterizer(self.ctx)

    @property
    def gpu_pose(self) -> bool:
        """Return True when frames are posed by compute shaders on the GL device (see RendererOptions.gpu_pose)."""
        return self._gpu is not None

    def _use(self) -> None:
        """Make this renderer's GL context current (cheap when it already is)."""
        make_current(self.ctx)

    def _set_uniforms(self) -> None:
        self._use()
        light, cam = self.options.lighting, self.camera
        p = self.prog
        p["u_view"].write(cam.view_matrix().T.copy().tobytes())
        p["u_proj"].write(cam.projection_matrix(self.options.width / self.options.height).T.copy().tobytes())
        p["u_eye"].value = tuple(float(x) for x in cam.eye)
        for name, direction in light_directions(light, cam).items():
            p[f"u_{name}"].value = direction
        exposure = renderer_exposure(self.options, self._appearance)
        for name, value in light_colours(light, exposure).items():
            p[f"u_{name}"].value = value
        p["u_specular"].value = light_specular(light, exposure)
        unlift = p.get("u_teeth_unlift", None)
        if unlift is not None:  # a shaded tooth's share of the lift withheld (renderers.teeth.shade_unlift); 1 unlifted
            from renderers.teeth import shade_unlift

            unlift.value = shade_unlift(exposure)
        app = self._appearance
        if app.skin_detail:
            p["u_detail"].value = float(app.skin_detail_strength)
        if self._shadow is not None:
            from renderers.shadows import light_matrix, shadow_box, shadow_step

            centre, radius = shadow_box(self.head)
            matrix = light_matrix(light_directions(light, cam)["key_dir"], centre, radius).astype(np.float32)
            self._shadow["prog"]["u_light"].write(matrix.T.copy().tobytes())
            p["u_light"].write(matrix.T.copy().tobytes())
            p["u_shadow_map"].value = 1
            step = shadow_step(app.shadow_softness_cm, radius)
            p["u_shadow_step"].value = (step, step)
            p["u_shadow_strength"].value = float(app.shadow_strength)
        if getattr(self, "_gl_attachments", None) is not None:
            lights = dict(light_directions(light, cam))
            lights.update(light_colours(light, exposure))
            lights["spec_scale"] = 1.0 / max(key_gain(light, exposure), 1e-6)
            self._gl_attachments.set_uniforms(cam.view_matrix(), cam.projection_matrix(self.options.width / self.options.height),
                                              tuple(float(x) for x in cam.eye), lights)

    def set_camera(self, camera: Camera | str) -> None:
        """Point the renderer at another camera (preset name or Camera) for the following frames."""
        self.camera = resolve_camera(camera)
        self._set_uniforms()

    def set_lighting(self, lighting: Lighting) -> None:
        """Use other lights for the following frames."""
        from dataclasses import replace

        self.options = replace(self.options, lighting=lighting)
        self._set_uniforms()

    def set_head(self, head: BlendshapeHead, appearance: Appearance | None = None) -> None:
        """Swap in another head with the same topology (e.g. another identity), optionally repainted."""
        if head.num_vertices != self.head.num_vertices or head.faces.shape != self.head.faces.shape:
            raise ShapeError("set_head needs a head with the same topology; create a new GLRenderer instead")
        old, self.head = self.head, head
        # Another identity of the same mesh wrinkles in the same places: keep the field (its strain is read
        # against the new head's own neutral each frame).
        same_layout = old.generic_neutral is head.generic_neutral or np.array_equal(old.generic_neutral, head.generic_neutral)
        same_layout = same_layout and (old.landmarks68 is None) == (head.landmarks68 is None)
        self._use()
        if appearance is not None:
            self._albedo = renderer_albedo(head, self.options, appearance)
            self.vbo_alb.write(self._laid_out(linear_albedo(self._albedo)))
        self._set_expression_appearance(appearance or self._appearance, self._wrinkles if same_layout else None)
        self.vbo_wrk.write(self._laid_out(self._wrinkle_attr))
        self.vbo_gls.write(self._laid_out(self._gloss))
        self.vbo_rest.write(self._laid_out(np.asarray(self._rest, np.float32)))
        self.vbo_skin.write(self._laid_out(self._skin_attr))
        self.vbo_ao.write(self._laid_out(self._ao))
        self.vbo_teeth.write(self._laid_out(self._teeth_attr))
        if self._cavity is None:
            self.vbo_cav.write(np.ones(self.vbo_cav.size // 4, np.float32).tobytes())
        self._build_program()  # a switch turned on needs its term back in the fragment shader
        self._set_uniforms()  # another skin tone is exposed for (auto_exposure)
        if self._gpu is not None:
            same_tables = (self._wrinkles is None) == (self._gpu.wrinkles is None) and bool(self._corneas) == bool(self._gpu.corneas)
            if same_layout and same_tables:
                self._gpu.set_head(head)
            else:  # another wrinkle layout: rebuild the tables
                from renderers.gl_pose import GPUPose

                self._gpu.release()
                self._gpu = GPUPose(self.ctx, head, self._faces, self._wrinkles, self._corneas,
                                    outputs=(self.vbo_pos, self.vbo_nrm, self.vbo_wrk, self.vbo_eye))
        self._sync_gpu_cavity()
        self._sync_attachments()  # hair is fitted to this head's scalp
        self._set_uniforms()

    # ------------------------------------------------------------- rendering
    @property
    def _poser(self) -> Any:
        """Return the numpy FramePoser of this head and appearance (built on first use)."""
        if self._poser_cache is None or self._poser_cache.head is not self.head:
            from renderers.posing import FramePoser

            self._poser_cache = FramePoser(self.head, self._faces, self._wrinkles, self._corneas, self._cavity)
        return self._poser_cache

    def _vertex_attributes(self, verts: np.ndarray, weights: np.ndarray | None = None,
                           head_pose: np.ndarray | None = None) -> tuple[Any, ...]:
        """Return what the shaders read for (V, 3) float32 vertices: (positions, normals, wrinkle amplitude (V,) or an
        empty array, cornea normals or an empty array, cavity factors (V,) or an empty array, the (4, 4) float32 model
        matrix or None).

        With the (K,) `weights`, `verts` are the head posed by those weights alone (`FramePoser.pose(weights)`) and the
        (6,) `head_pose` becomes the model matrix, which the vertex shader applies to positions, normals and cornea
        normals: a rigid motion, so the normals turn with it and the wrinkle and cavity terms (edge lengths, smoothing
        offsets along the normals) do not change; the cavity factors come from the poser's per-shape tables. Without
        weights, `verts` are any posed vertices (model None: the identity; the cavity from smoothing the posed skin).
        numpy only (no GL), so a worker thread may call it; the arrays are the poser's ring buffers
        (`renderers.posing.RING`)."""
        poser = self._poser
        if weights is not None:
            from renderers.attachments import pose_transform

            return (*poser.attributes(verts, weights), pose_transform(self.head, head_pose))
        from renderers.cavity import cavity_shade

        verts, normals, wrinkle, eyes, cavity = poser.attributes(verts, np.zeros(len(self.head.deltas), np.float32))
        if self._cavity is not None:
            cavity = cavity_shade(self._cavity, verts, normals)
        return verts, normals, wrinkle, eyes, cavity, None

    def _write_model(self, program: Any, model: np.ndarray | None) -> None:
        """Set `program`'s u_model to the (4, 4) `model` (None: the identity)."""
        m = np.eye(4, dtype=np.float32) if model is None else model
        program["u_model"].write(np.ascontiguousarray(m.T, np.float32).tobytes())  # column-major for GLSL

    def _write_attributes(self, attributes: tuple[Any, ...]) -> None:
        """Write `_vertex_attributes`' arrays into the vertex buffers and its model matrix into the programs (GL: this
        renderer's thread)."""
        verts, normals, wrinkle, eyes, cavity, model = attributes
        # The arrays themselves (buffer protocol), not `tobytes()` copies of them (or, laid out per draw segment,
        # gathered into staging arrays that are reused).
        self.vbo_pos.write(self._laid_out(verts, "pos"))
        self._model = model
        self._write_model(self.prog, model)
        if self._teeth is not None:
            self._write_mouth(verts, model)
        if self._shadow is not None:
            self._write_model(self._shadow["prog"], model)
        if self._gl_attachments is not None:
            if model is None:  # posed vertices of any origin: the skull's motion fitted to them, the brows as they are
                self._gl_attachments.set_model_from_vertices(verts)
                self._gl_attachments.set_head_model(None)
            else:  # no expression moves the skull: its motion is the head pose's, which the brows' vertices await
                self._gl_attachments.set_model(model)
                self._gl_attachments.set_head_model(model)
        self.vbo_nrm.write(self._laid_out(normals, "nrm"))
        if self._wrinkles is not None:
            self._wrinkle_attr[:, 1] = wrinkle
            self.vbo_wrk.write(self._laid_out_part(self._wrinkle_attr, "wrk"))
        if self._corneas:
            self.vbo_eye.write(self._laid_out_part(eyes, "eye"))
        if self._cavity is not None:
            self.vbo_cav.write(self._laid_out_part(cavity, "cav"))

    def _write_mouth(self, verts: np.ndarray, model: np.ndarray | None) -> None:
        """Set the teeth shade's per-frame uniforms (`renderers.teeth.mouth_frame`) from (V, 3) vertices posed by the
        expression and the rigid `model` to world (None: `verts` are world positions; the skull's motion is fitted)."""
        from renderers.teeth import model_of_vertices, mouth_frame

        shade = self._teeth
        if model is None:
            model = model_of_vertices(shade, verts)
            lips = (verts[shade.lips] - model[:3, 3]) @ model[:3, :3]
        else:
            lips = verts[shade.lips]
        self._write_mouth_frame(*mouth_frame(lips, model))

    def _write_mouth_frame(self, mouth: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> None:
        p = self.prog
        p["u_mouth"].write(np.ascontiguousarray(mouth.T, np.float32).tobytes())  # column-major for GLSL
        p["u_lip_upper"].write(np.ascontiguousarray(upper, np.float32).tobytes())
        p["u_lip_lower"].write(np.ascontiguousarray(lower, np.float32).tobytes())

    def _run_gpu(self, weights: np.ndarray, head_pose: np.ndarray | None) -> None:
        """Pose one frame in compute shaders into the vertex buffers, cavity factors included."""
        self._gpu.run(weights, head_pose)
        if self._teeth is not None:  # the ten inner-lip vertices, blended on the host: the mouth's frame this frame
            from renderers.attachments import pose_transform
            from renderers.teeth import mouth_frame

            idx = self._teeth.lips
            lips = self.head.neutral[idx] + np.einsum("k,kvc->vc", self.head.shape_weights(np.asarray(weights, np.float32)),
                                                      self.head.shape_deltas[:, idx])
            self._write_mouth_frame(*mouth_frame(lips, pose_transform(self.head, head_pose)))
        if self._gl_attachments is not None:  # no expression moves the skull: its motion is the head pose's
            from renderers.attachments import pose_transform

            self._gl_attachments.set_model(pose_transform(self.head, head_pose))
        if self._gpu_cavity is not None:
            self._gpu_cavity.run(self.vbo_pos, self.vbo_nrm, self.vbo_cav)

    def _upload_vertices(self, verts: np.ndarray) -> None:
        """Write (V, 3) float32 posed vertices and what the shaders derive from them (numpy path)."""
        self._write_attributes(self._vertex_attributes(verts))

    def _draw(self) -> Any:
        """Draw the head from the vertex buffers; return the framebuffer that holds the finished frame."""
        import moderngl

        ctx, opts = self.ctx, self.options
        if self._shadow is not None:
            # The key light's depth map first (culled like the head: the faces towards the light are the nearest).
            self._shadow["fbo"].use()
            self._shadow["fbo"].clear(depth=1.0)
            ctx.enable(moderngl.DEPTH_TEST)
            if self._culled:
                ctx.cull_face = "back"
                ctx.enable(moderngl.CULL_FACE)
            self._shadow["vao"].render(moderngl.TRIANGLES, vertices=self._draw_vertices)
            ctx.disable(moderngl.CULL_FACE)
            self._shadow["tex"].use(1)
        self.fbo_ms.use()
        bg = opts.background
        if bg is None:
            self.fbo_ms.clear(0.0, 0.0, 0.0, 0.0)
        else:
            self.fbo_ms.clear(*bg, 1.0)
        ctx.enable(moderngl.DEPTH_TEST)
        if self._gl_attachments is not None:  # on a CPU rasterizer, the hair and clothing facing the camera first
            self._gl_attachments.draw_front()
        if self._culled:
            ctx.cull_face = "back"
            ctx.enable(moderngl.CULL_FACE)
        self.vao.render(moderngl.TRIANGLES, vertices=self._draw_vertices)
        ctx.disable(moderngl.CULL_FACE)
        if self._gl_attachments is not None:  # hair, clothing, raised brows (renderers.gl_attachments)
            self._gl_attachments.draw()
        if self.supersample > 1:
            self.fbo.use()
            ctx.disable(moderngl.DEPTH_TEST)
            self._scene_tex.use(0)
            self._resolve_vao.render(moderngl.TRIANGLES, vertices=3)
        elif self.fbo is not self.fbo_ms:
            ctx.copy_framebuffer(self.fbo, self.fbo_ms)
        return self.fbo

    def _unpack(self, raw: bytes) -> np.ndarray:
        """Return the (H, W, C) uint8 frame of a read-back, rows top first."""
        opts = self.options
        img = np.frombuffer(raw, np.uint8).reshape(opts.height, opts.width, self._comps)
        # The resolve pass already wrote rows top first; otherwise GL's origin is bottom-left.
        return img.copy() if self.supersample > 1 else img[::-1].copy()

    def render_vertices(self, vertices: np.ndarray) -> np.ndarray:
        """Return one frame, (H, W, 3) uint8 (or (H, W, 4) when the background is transparent), of (V, 3) vertices."""
        verts = np.ascontiguousarray(vertices, dtype=np.float32)
        if verts.shape != (self.head.num_vertices, 3):
            raise ShapeError(f"vertices must have shape ({self.head.num_vertices}, 3), got {tuple(verts.shape)}")
        self._use()
        self._upload_vertices(verts)
        return self._unpack(self._draw().read(components=self._comps, alignment=1))

    def render(self, weights: Any, head_pose: Any = None) -> np.ndarray:
        """Return frames for ARKit weights: (52,) -> (H, W, 3); (T, 52) -> (T, H, W, 3) uint8."""
        w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, np.float32)
        if w.shape[-1] != 52 or w.ndim not in (1, 2):
            raise ShapeError(f"weights must have shape (52,) or (T, 52), got {tuple(w.shape)}")
        if w.ndim == 1:
            hp = None if head_pose is None else np.asarray(head_pose, np.float64).reshape(6)
            self._use()
            if self._gpu is None:
                self._write_attributes(self._vertex_attributes(self._poser.pose(w), w, hp))
            else:
                self._run_gpu(w, hp)
            return self._unpack(self._draw().read(components=self._comps, alignment=1))
        return np.stack(list(self.iter_frames(w, head_pose)))

    def iter_frames(self, weights: np.ndarray, head_pose: np.ndarray | None = None, chunk: int = 32) -> Iterator[np.ndarray]:
        """Yield one (H, W, C) uint8 frame per row of (T, 52) weights, posing in batches of `chunk` for speed."""
        for img, _ in self._frames_and_boxes(weights, head_pose, chunk):
            yield img

    def _frames_and_boxes(self, weights: np.ndarray, head_pose: np.ndarray | None = None,
                          chunk: int = 32) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (frame, (4,) face box) per row of weights; a row equal to the one before is not drawn again.

        A held pose (an emotion clip, a hold between keyframes, a still face in a pause) repeats its frame: what a
        frame shows is a function of its weights and head pose alone, so the repeat is the earlier frame, bit for bit,
        copied (the consumer may keep or change each frame it gets).
        """
        w = np.atleast_2d(np.asarray(weights, np.float32))
        hp_all = None if head_pose is None else np.asarray(head_pose, np.float64).reshape(len(w), 6)
        repeat = held_frames(w, hp_all)
        if not repeat.any():
            yield from self._drawn_frames_and_boxes(w, hp_all, chunk)
            return
        keep = ~repeat
        drawn = self._drawn_frames_and_boxes(w[keep], None if hp_all is None else hp_all[keep], chunk)
        try:
            kept: tuple[np.ndarray, np.ndarray] | None = None  # our own copy of a frame the next ones repeat
            for t, again in enumerate(repeat):
                if again and kept is not None:
                    yield kept[0].copy(), kept[1].copy()
                    continue
                frame, box = next(drawn)
                kept = (frame.copy(), box.copy()) if t + 1 < len(repeat) and repeat[t + 1] else None
                yield frame, box
        finally:
            drawn.close()

    def _drawn_frames_and_boxes(self, w: np.ndarray, hp_all: np.ndarray | None,
                                chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (frame, (4,) face box) per row of (T, 52) float32 weights, each drawn; each chunk is posed once for both.

        Pipelined twice. With numpy posing, frames are posed on a worker thread two frames ahead
        (`renderers.prefetch`), so on a CPU rasterizer posing frame t + 1 overlaps drawing frame t. And frame t is
        read into a pixel buffer right after it is drawn and handed out only after frame t + 1 has been queued, so a
        GPU draws t + 1 while t travels back to the host.
        """
        from renderers.prefetch import prefetch

        def posed() -> Iterator[tuple[Any, np.ndarray]]:
            """(what to draw, face box) per frame: numpy vertex attributes, or what the compute shaders pose from."""
            for i in range(0, len(w), chunk):
                hp = None if hp_all is None else hp_all[i:i + chunk]
                if self._gpu is None:
                    poser = self._poser
                    for j in range(len(w[i:i + chunk])):
                        pose = None if hp is None else hp[j]
                        # Posed by the weights alone: the vertex shader applies the head pose (`_vertex_attributes`).
                        verts = poser.pose(w[i + j])
                        what = self._vertex_attributes(verts, w[i + j], pose)
                        yield what, self._box_of_unposed(verts, what[-1])
                else:
                    marks = posed_face_points(self.head, w[i:i + chunk], hp)
                    boxes = face_boxes_of_points(marks, self.camera, self.options.width, self.options.height)
                    for j, box in enumerate(boxes):
                        yield (w[i + j], None if hp is None else hp[j]), box

        frames = prefetch(posed) if self._gpu is None else posed()
        pending: tuple[Any, np.ndarray] | None = None
        t = 0
        try:
            for what, box in frames:
                self._use()
                if self._gpu is None:
                    self._write_attributes(what)
                else:
                    self._run_gpu(*what)
                pbo = self._pbos[t % 2]
                self._draw().read_into(pbo, components=self._comps, alignment=1)
                if pending is not None:
                    yield self._unpack(pending[0].read()), pending[1]
                pending = (pbo, box)
                t += 1
        finally:
            frames.close()
        if pending is not None:
            self._use()
            yield self._unpack(pending[0].read()), pending[1]

    def render_sequence(self, seq: ExpressionSequence | np.ndarray, head_pose: np.ndarray | None = None,
                        progress: bool = False) -> RenderResult:
        """Return every frame of `seq` (a sequence with its head pose, or (T, 52) weights) and the face box in each."""
        from tqdm.auto import tqdm

        if isinstance(seq, ExpressionSequence):
            weights, head_pose = seq.weights, seq.head_pose
        else:
            weights = np.atleast_2d(np.asarray(seq, np.float32))
        n = len(weights)
        frames = np.empty((n, self.options.height, self.options.width, 4 if self.options.background is None else 3), np.uint8)
        boxes = np.empty((n, 4), np.float32)
        it = self._frames_and_boxes(weights, head_pose)
        for t, (img, box) in enumerate(tqdm(it, total=n, desc="render", unit="frame", disable=not progress)):
            frames[t], boxes[t] = img, box
        return RenderResult(frames, boxes)

    def face_boxes(self, weights: np.ndarray, head_pose: np.ndarray | None = None, scale: float = 1.3) -> np.ndarray:
        """Return (T, 4) float32 square pixel boxes (x0, y0, x1, y1) framing each face like a face detector does.

        The box is square, `scale` x the height of the 68 landmarks (brows to chin), centred a little above
        their centre so the forehead is in: the framing of a Haar/MTCNN detection, which is what
        recognizers trained on detected faces expect.
        """
        w = np.atleast_2d(np.asarray(weights, np.float32))
        return self.boxes_of_vertices(self.head.pose(w, head_pose), scale)

    def _box_of_unposed(self, verts: np.ndarray, model: np.ndarray) -> np.ndarray:
        """Return the (4,) face box of (V, 3) vertices posed by their weights alone, moved by the (4, 4) `model`."""
        points = face_points(self.head, verts[None])[0]
        points = points @ model[:3, :3].T + model[:3, 3]
        return face_boxes_of_points(points[None], self.camera, self.options.width, self.options.height)[0]

    def boxes_of_vertices(self, verts: np.ndarray, scale: float = 1.3) -> np.ndarray:
        """Return (B, 4) float32 face boxes (see `face_boxes`) of already posed (B, V, 3) vertices.

        The rule is `renderers.face_boxes.face_boxes_of_points` of `face_points`: call those directly to frame
        another renderer's images the same way (as avatar.app.refine does for the differentiable renderer).
        """
        return face_boxes_of_points(face_points(self.head, verts), self.camera, self.options.width, self.options.height, scale)

    def to_torch(self, frames: np.ndarray, device: Any = "auto") -> Any:
        """Return frames as a float (B, 3, H, W) tensor in [0, 1] on `device`, uploaded once."""
        from avatar.frames import images_to_tensor

        return images_to_tensor(np.asarray(frames)[..., :3], device, min_side=1)  # RGBA (transparent background) drops alpha

    @property
    def gl_renderer(self) -> str:
        """Return the GL renderer string (e.g. 'llvmpipe (LLVM 15...)' or the NVIDIA GPU name)."""
        return str(self.ctx.info["GL_RENDERER"])

    def close(self) -> None:
        """Release the GL context and its buffers."""
        if getattr(self, "ctx", None) is not None:
            self._gpu = self._gpu_cavity = self._gl_attachments = None
            release_context(self.ctx)
            self.ctx = None

    def __enter__(self) -> GLRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
