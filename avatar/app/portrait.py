"""Returns scored diffusion portraits: the facade that wires a critic, the judges and the head's render into `generators.portrait`.

    import avatar
    out = avatar.portrait(emotion="anger", intensity=0.8, n=4, seed=0)          # the shipped 128x128 cascade
    out.images                                   # (4, 128, 128, 3) uint8
    out.scores[0]["fer2013"]["p_target"]         # each image read by each judge
    out = avatar.portrait(emotion="fear", critic_guidance=3)                   # steered by FER2013's gradient
    out = avatar.portrait(emotion="sad", from_render=True, identity=7)          # img2img from a render at the same AUs
    out.save("out/")                             # grid.png, 0000.png ..., scores.json (atomic)

The generator never imports a recognizer: this module passes the critic (a real-face judge, FER2013 by default,
through its differentiable `log_probs`), an ARKit critic (ExpressionNet's read-back) for AU guidance, and the render
that starts image-to-image.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avatar.errors import AvatarInputError

DEFAULT_CRITIC = "fer2013"
"""The judge that steers guidance and best-of-n by default (trained on photographs of real people)."""

DEFAULT_JUDGES: tuple[str, ...] = ("fer2013", "face-classification", "expression-net")
"""Judges that score every portrait; the critic among them is not held out (scores.json says which steered)."""

RENDER_CROP_SCALE = 1.0
"""Square crop of the renderer's face box the shipped model was trained on (scripts/train_portrait_model.py's
CROP_SCALE: a face detector's framing, brows to chin, where the real-face judges read renders best)."""

_PIPELINES: OrderedDict[tuple[str, str], Any] = OrderedDict()
_PIPELINE_LOCK = threading.Lock()
MAX_CACHED_PIPELINES = 2


class ExpressionNetCritic:
    """A `Critic` and `ArkitCritic` over ExpressionNet: differentiable (B, 8) log-probabilities and (B, 52) ARKit weights.

    Reads each float (B, 3, H, W) image in [0, 1] as a face crop (portraits are crops), on the recognizer's device.
    """

    model_name = "expression-net"

    def __init__(self, recognizer: Any) -> None:
        self.recognizer = recognizer
        self.device = recognizer.device
        recognizer.model.requires_grad_(False)

    def _forward(self, images: Any) -> tuple[Any, Any]:
        logits, arkit, _ = self.recognizer.forward_crops(images)
        return logits, arkit

    def log_probs(self, images: Any, boxes: Any = None) -> Any:
        """Return (B, 8) differentiable log-probabilities over `avatar.emotion.EMOTIONS`."""
        import torch

        return torch.log_softmax(self._forward(images)[0].float(), dim=-1)

    def arkit(self, images: Any) -> Any:
        """Return (B, 52) differentiable ARKit weights read back from the images."""
        return self._forward(images)[1]


def default_model_name() -> str:
    """Return the folder name of the shipped portrait model (what `settings["model"]` records when none was given)."""
    from generators.portrait.pipeline import DEFAULT_MODEL_PATH

    return DEFAULT_MODEL_PATH.name


def make_portrait_critic(name_or_object: Any, device: Any = "auto", session: Any = None) -> Any:
    """Return a critic for portraits from a judge name ("expression-net" gives `ExpressionNetCritic`) or an object.

    Named judges come from the session's recognizers (built once, without a face detector: portraits are crops).
    """
    from avatar.app.refine import make_critic
    from avatar.app.session import default_session

    if not isinstance(name_or_object, str):
        return make_critic(name_or_object, device)
    key = name_or_object.lower().replace("_", "-")
    if key in ("ours", "expressionnet"):
        key = "expression-net"
    rec = (session or default_session()).recognizer(key, device, detect_faces=False)
    return ExpressionNetCritic(rec) if key == "expression-net" else make_critic(rec, device)


def load_pipeline(model: str | os.PathLike | None = None, device: Any = "auto") -> Any:
    """Return a portrait pipeline for `model` (None: the shipped one) on `device`, from a small bounded cache."""
    from avatar.device import resolve_device
    from generators.portrait.loading import load_portrait_pipeline

    dev = resolve_device(device)
    key = (str(Path(model).expanduser().resolve()) if model is not None else "", str(dev))
    with _PIPELINE_LOCK:
        pipe = _PIPELINES.get(key)
        if pipe is None:
            pipe = _PIPELINES[key] = load_portrait_pipeline(model, dev)
            while len(_PIPELINES) > MAX_CACHED_PIPELINES:
                _PIPELINES.popitem(last=False)
        _PIPELINES.move_to_end(key)
        return pipe


def render_start(aus: Any, identity: int | None = None, size: int = 64, render_size: int = 128, session: Any = None,
                 brow_lowerer: float | None = None) -> np.ndarray:
    """Return a (size, size, 3) uint8 render of the head posed by `aus`, cropped as the portrait model's training renders.

    `brow_lowerer`: the head's brow lowerer strength 0..2 (None: the shipped one; `avatar.brow_lowerer`)."""
    from PIL import Image

    from avatar.app.facade import get_renderer

    renderer = get_renderer(identity=identity, width=render_size, height=render_size, session=session,
                            brow_lowerer=brow_lowerer)
    w = np.asarray(aus.to_arkit(), np.float32)
    frame = renderer.render(w)
    x0, y0, x1, y1 = (float(v) for v in renderer.face_boxes(w[None])[0])
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * RENDER_CROP_SCALE / 2
    pad = render_size // 2
    padded = np.pad(frame[..., :3], ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    box = (cx - half + pad, cy - half + pad, cx + half + pad, cy + half + pad)
    return np.asarray(Image.fromarray(padded).resize((size, size), Image.BILINEAR, box=box))


@dataclass
class PortraitResult:
    """What `avatar.portrait` returns.

    images: (N, H, W, 3) uint8 portraits. conditions: one dict per image (kind, spec, target emotion, AUs).
    scores: one dict per image, {judge: {"label", "probs", "p_target", "arkit_error"}}. critic: the judge that
    steered (None when unguided). init: the (H, W, 3) uint8 render img2img started from, or None.
    """

    images: np.ndarray
    conditions: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    settings: dict[str, Any]
    critic: str | None = None
    init: np.ndarray | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def grid(self, columns: int | None = None, gap: int = 2) -> np.ndarray:
        """Return the images tiled into one (rows * H, columns * W, 3) uint8 image with `gap`-pixel white seams."""
        n, h, w = self.images.shape[:3]
        cols = columns or max(1, math.ceil(math.sqrt(n)))
        rows = math.ceil(n / cols)
        out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
        for i, img in enumerate(self.images):
            r, c = divmod(i, cols)
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = img
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the settings, per-image conditions and scores, and each judge's summary as JSON-able data."""
        summary: dict[str, Any] = {}
        for judge in {j for s in self.scores for j in s}:
            rows = [s[judge] for s in self.scores if judge in s]
            target = self.conditions[0].get("target_emotion") if self.conditions else None
            entry: dict[str, Any] = {"n": len(rows)}
            if target is not None and all("p_target" in r for r in rows):
                entry["accuracy"] = round(float(np.mean([r["label"] == target for r in rows])), 4)
                entry["mean_p_target"] = round(float(np.mean([r["p_target"] for r in rows])), 4)
            if all("arkit_error" in r for r in rows):
                entry["mean_arkit_error"] = round(float(np.mean([r["arkit_error"] for r in rows])), 4)
            summary[judge] = entry
        return {"settings": self.settings, "critic": self.critic, "seconds": round(self.seconds, 3), "summary": summary,
                "notes": self.notes, "images": [{"file": f"{i:04d}.png", "condition": c, "scores": s}
                                                for i, (c, s) in enumerate(zip(self.conditions, self.scores))]}

    def save(self, folder: str | os.PathLike) -> Path:
        """Write grid.png, 0000.png ... and scores.json (each atomically; plus init.png for img2img) into `folder`; return it."""
        from avatar.io.atomic import atomic_path
        from renderers.writers import save_image

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(self.images):
            save_image(img, out / f"{i:04d}.png")
        if self.init is not None:
            save_image(self.init, out / "init.png")
        save_image(self.grid(), out / "grid.png")
        with atomic_path(out / "scores.json") as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=1))
        return out


def portrait(emotion: Any = None, intensity: float = 1.0, aus: Any = None, va: Any = None, *, n: int = 4, seed: int = 0,
             critic_guidance: float = 0.0, au_guidance: float = 0.0, best_of: int = 1, steps: int = 12,
             guidance_scale: float = 2.0, from_render: bool = False, identity: int | None = None, strength: float = 0.6,
             model: str | os.PathLike | None = None, critic: Any = DEFAULT_CRITIC,
             judge: str | Sequence[str] = DEFAULT_JUDGES, device: Any = "auto", progress: bool = True,
             session: Any = None, guidance: float | None = None, cfg: float | None = None,
             judges: Sequence[str] | None = None, brow_lowerer: float | None = None) -> PortraitResult:
    """Return a `PortraitResult`: `n` portraits of one condition (emotion + intensity, aus or va), each scored by `judge`.

    Args:
        critic_guidance: recognizer guidance strength (0 = off): the critic's gradient of log p(target) on each
            step's predicted clean image. au_guidance: the same for ExpressionNet's ARKit read-back error.
        best_of: candidates per image, the critic's favourite kept.
        steps, guidance_scale: sampler steps and classifier-free guidance on the AU condition (diffusers' name; 1 = off).
        from_render, identity, strength: start from a GL render of the head (PCA identity seed) at the same
            AUs and re-run `strength` of the noise schedule, so the portrait and the 3D frame agree.
        brow_lowerer: with from_render, the start render's brow lowerer strength 0..2 (None: the shipped 1.0;
            0 = ICT's own browDown; `avatar.brow_lowerer`).
        model: a pipeline folder (ours, or a Stable Diffusion + AU adapter folder); None: the shipped model.
        critic: judge name or `avatar.protocols.Critic` that steers (used when guidance > 0 or best_of > 1).
        judge: the judges that score every image: a name, a comma list or a sequence (those not installed are
            skipped with a note); "" or () for none.
        guidance, cfg, judges: the old spellings of critic_guidance, guidance_scale and judge (each warns once).
    """
    import torch

    from avatar.validation import check_seed
    from generators.portrait.conditions import resolve_condition
    from avatar.validation import check_int, check_number

    from avatar.app.judges import parse_judges
    from avatar.notices import pick_renamed

    guidance = pick_renamed("critic_guidance=", critic_guidance, {"guidance=": guidance}, default=0.0)
    cfg = pick_renamed("guidance_scale=", guidance_scale, {"cfg=": cfg}, default=2.0)
    judges = parse_judges(pick_renamed("judge=", judge, {"judges=": judges}, default=DEFAULT_JUDGES), allow_empty=True)
    condition = resolve_condition(emotion=emotion, intensity=intensity, aus=aus, va=va)
    n = check_int(n, "n", 1, 256)
    seed = check_seed(seed)
    from avatar.brow_lowerer import check_brow_lowerer

    brow_lowerer = check_brow_lowerer(brow_lowerer)
    guidance = check_number(guidance, "critic_guidance", 0.0, 1000.0)
    au_guidance = check_number(au_guidance, "au_guidance", 0.0, 1000.0)
    if guidance > 0 and condition.emotion is None and au_guidance == 0:
        raise AvatarInputError("critic_guidance needs an emotion to aim at: bare AUs have none; use au_guidance for AU adherence")
    pipe = load_pipeline(model, device)
    notes: list[str] = []
    steer = critic if (guidance > 0 or best_of > 1) else None
    critic_obj = make_portrait_critic(steer, device, session) if steer is not None else None
    arkit_critic = make_portrait_critic("expression-net", device, session) if au_guidance > 0 else None
    init = render_start(condition.aus, identity, int(pipe.unet.config.sample_size) * getattr(pipe, "vae_scale_factor", 1),
                        session=session, brow_lowerer=brow_lowerer) if from_render else None
    if identity is not None and not from_render:
        notes.append("identity only applies with from_render (the start render's face)")
    if brow_lowerer is not None and not from_render:
        notes.append("brow_lowerer only applies with from_render (the start render's head)")
    kwargs: dict[str, Any] = {"critic": critic_obj, "critic_guidance": guidance, "best_of": best_of}
    if arkit_critic is not None:
        kwargs.update(arkit_critic=arkit_critic, arkit_guidance=au_guidance)
    if "AUAdapterSDPipeline" in type(pipe).__name__ and arkit_critic is not None:
        raise AvatarInputError("au_guidance is only available with the embedded model")
    pipe.set_progress_bar_config(disable=not progress, desc="portrait", leave=False)
    t0 = time.perf_counter()
    with _PIPELINE_LOCK:  # a pipeline's scheduler holds per-call state
        out = pipe(emotion=emotion, intensity=intensity, aus=aus, va=va, num_images_per_prompt=n, num_inference_steps=steps,
                   guidance_scale=cfg, image=init, strength=strength if from_render else 1.0,
                   generator=torch.Generator().manual_seed(seed), output_type="pt", **kwargs)
    seconds = time.perf_counter() - t0
    images = out.images
    scores = score_portraits(images, condition, judges, device, notes, session)
    frames = (images.permute(0, 2, 3, 1).float().cpu().numpy() * 255 + 0.5).astype(np.uint8)
    settings = {"n": n, "seed": seed, "steps": steps, "guidance_scale": cfg, "critic_guidance": guidance, "au_guidance": au_guidance,
                "best_of": best_of, "from_render": bool(from_render), "identity": identity,
                "brow_lowerer": brow_lowerer if from_render else None,
                "strength": strength if from_render else 1.0, "model": str(model) if model is not None else default_model_name(),
                "condition": condition.to_dict()}
    name = None if critic_obj is None else (critic if isinstance(critic, str) else getattr(critic_obj, "model_name", type(critic).__name__))
    return PortraitResult(frames, out.conditions, scores, settings, name, init, seconds, notes)


def score_portraits(images: Any, condition: Any, judges: Sequence[str], device: Any = "auto", notes: list[str] | None = None,
                    session: Any = None) -> list[dict[str, Any]]:
    """Return one {judge: reading} dict per float (B, 3, H, W) image: label, probs, p_target (and arkit_error for ExpressionNet)."""
    import torch

    from avatar.emotion import EMOTIONS
    from generators.portrait.conditions import emotion_index
    from generators.portrait.guidance import GuidanceTarget, image_scores

    out: list[dict[str, Any]] = [{} for _ in range(images.shape[0])]
    for name in judges:
        try:
            critic = make_portrait_critic(name, device, session)
        except (ImportError, AvatarInputError, OSError) as err:
            if notes is not None:
                notes.append(f"judge {name!r} skipped: {str(err).splitlines()[0]}")
            continue
        arkit = torch.from_numpy(condition.arkit()).expand(images.shape[0], -1) if hasattr(critic, "arkit") else None
        target = GuidanceTarget(None if condition.emotion is None else emotion_index(condition.emotion), arkit, 1.0)
        for row, reading in zip(out, image_scores(images, critic, target, critic if arkit is not None else None, EMOTIONS)):
            row[name] = reading
    return out
