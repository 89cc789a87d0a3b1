"""The facade: one-line paths for the common jobs (pose, render, contact sheet, score, animate).

This is the top layer: it may import generators, renderers and recognizers; they never import it.
The GL renderers and recognizers it uses live in a `Session` (bounded, closable; `avatar.app.session`),
built once and reused across calls. Heavy modules are imported inside the functions so `import avatar`
stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.app.session import Session, default_session
from avatar.constants import DEFAULT_BACKGROUND
from avatar.errors import AvatarInputError
from avatar.frames import RenderedFrames, rendered_frames
from avatar.protocols import Recognizer
from avatar.sequence import ExpressionSequence
from avatar.validation import check_choice, check_units

if TYPE_CHECKING:
    from collections.abc import Mapping

    import torch

    from avatar.emotion import Emotion
    from avatar.facs import ActionUnits
    from avatar.protocols import RGB

    from avatar.appearance import Appearance
    from avatar.head import BlendshapeHead
    from recognizers.scoring import Score
    from renderers.cameras import Camera
    from renderers.gl import GLRenderer

__all__ = ["RenderedFrames", "animate", "contact_sheet", "get_renderer", "pose", "render", "save_image", "save_video", "score"]


def pose(emotion: str | Emotion | None = None, intensity: float = 1.0, aus: str | Mapping[str, float] | ActionUnits | None = None,
         va: tuple[float, float] | None = None, mixture: Mapping[str, float] | None = None,
         prototypes: str | None = None) -> np.ndarray:
    """Return (52,) float32 ARKit weights for an emotion (+intensity), AUs, valence/arousal or a mixture.

    `prototypes` picks the emotion table an emotion is posed from ("facs", "refined"; None: the default table,
    `generators.expression.DEFAULT_PROTOTYPE_TABLE`), as `emoavatar sheet --prototypes` does.
    """
    from generators.expression import expression_weights

    return expression_weights(emotion=emotion, intensity=intensity, aus=aus, va=va, mixture=mixture, prototypes=prototypes)


def get_renderer(head: str | os.PathLike | BlendshapeHead | None = None, identity: int | None = None, width: int = 512,
                 height: int = 512, background: tuple[float, float, float] | None = DEFAULT_BACKGROUND, skin: str | RGB = "medium",
                 eyes: str | RGB = "brown", view: str | float | Camera = "front", session: Session | None = None,
                 appearance: Appearance | None = None, brow_lowerer: float | None = None) -> GLRenderer:
    """Return the (default) session's GLRenderer for these settings; the session owns and closes it.

    `appearance` (`avatar.appearance.Appearance`) sets the shading switches; `skin` and `eyes` override its colours.
    `brow_lowerer`: the corrective brow lowerer's strength 0..2 (None: the shipped 1.0; 0 = ICT's own browDown).
    """
    return (session or default_session()).renderer(head, identity, width, height, background, skin, eyes, view, appearance,
                                                    brow_lowerer=brow_lowerer)


def render(x: np.ndarray | ExpressionSequence | torch.Tensor | None = None, *, view: str | float | Camera = "front",
           identity: int | None = None, head: str | os.PathLike | BlendshapeHead | None = None, width: int = 512,
           height: int = 512, background: tuple[float, float, float] | None = DEFAULT_BACKGROUND, skin: str | RGB = "medium",
           eyes: str | RGB = "brown", output: str = "numpy", device: str | torch.device = "auto", progress: bool = False,
           session: Session | None = None, appearance: Appearance | None = None,
           yaw: float | None = None, brow_lowerer: float | None = None) -> RenderedFrames | torch.Tensor:
    """Return `RenderedFrames`: weights (52,) -> one (H, W, 3) image; (T, 52) or an ExpressionSequence -> (T, H, W, 3) uint8.

    `x` None renders the neutral face. The frames carry `face_boxes` and a sequence's `labels`, which `score`
    uses, and `score` reads one image as a batch of one: `avatar.score(avatar.render(w), expected="happy")`.
    `view` is a preset ("front", "three-quarter", "profile"), a yaw in degrees (20, "yaw=20"; `yaw=` is
    shorthand) or a `Camera`. `output="torch"` returns float (B, 3, H, W) in [0, 1] on `device`. A transparent
    background (`background=None`) gives RGBA frames. `appearance=Appearance(cavity=False, ...)` changes the
    shading switches (`avatar.appearance.Appearance`). `brow_lowerer` is the strength 0..2 of the corrective AU4
    brow lowerer on the shipped head's browDown (None: the shipped 1.0, `avatar.brow_lowerer.BROW_LOWERER`; 0 =
    ICT's own shapes; with a head file, a strength adds it to that head, None keeps its shapes).
    """
    check_choice(output, ("numpy", "torch"), "output")
    if yaw is not None:
        view = yaw
    renderer = get_renderer(head, identity, width, height, background, skin, eyes, view, session, appearance,
                            brow_lowerer=brow_lowerer)
    if x is None:
        x = np.zeros(52, np.float32)
    frames: RenderedFrames
    if isinstance(x, ExpressionSequence):
        result = renderer.render_sequence(x, progress=progress)
        frames = rendered_frames(result.images, result.face_boxes, x.labels)
    else:
        w = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, np.float32)
        if w.ndim == 1:
            frames = rendered_frames(renderer.render(w), renderer.face_boxes(w[None]) if w.shape == (52,) else None)
        else:
            result = renderer.render_sequence(w, progress=progress)
            frames = rendered_frames(result.images, result.face_boxes, None)
    if output == "torch":
        return renderer.to_torch(frames, device)
    return frames


def save_image(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write one image as PNG/JPEG (atomically); return the path."""
    from renderers.writers import save_image as _save

    return _save(image, path)


def save_video(frames: np.ndarray | Sequence[np.ndarray], path: str | os.PathLike, fps: float = 30.0,
               audio: str | os.PathLike | None = None, preset: str | None = None, crf: int | None = None) -> Path:
    """Write frames as MP4 (with audio muxed) or GIF by suffix (atomically); return the path. `preset` and `crf` are
    the MP4's x264 settings (None: `renderers.writers.MP4_PRESET` / `MP4_CRF`, fast to encode)."""
    from renderers.writers import MP4_CRF, MP4_PRESET, save_frames

    return save_frames(frames, path, fps=fps, audio=audio, preset=preset or MP4_PRESET, crf=MP4_CRF if crf is None else crf)


def contact_sheet(emotions: tuple[str, ...] | None = None, intensities: tuple[float, ...] = (0.33, 0.66, 1.0),
                  cell: int = 256, identity: int | None = None, view: str | float | Camera = "front", skin: str | RGB = "medium",
                  head: str | os.PathLike | BlendshapeHead | None = None, progress: bool = False,
                  session: Session | None = None, judge: str | Recognizer | None = None, prototypes: str | None = None,
                  device: str | torch.device = "auto", appearance: Appearance | None = None, eyes: str | RGB = "brown",
                  background: tuple[float, float, float] | None = DEFAULT_BACKGROUND,
                  brow_lowerer: float | None = None) -> np.ndarray:
    """Return a labelled grid image: one row per emotion, one column per intensity, (H, W, 3) uint8.

    `judge` (a recognizer name or object) writes its top label and probability under each face, read
    at the renderer's face box; `prototypes` picks the emotion table ("facs", "refined"; None: default).
    `brow_lowerer`: the corrective brow lowerer's strength 0..2, as in `render`.
    """
    from PIL import Image, ImageDraw
    from tqdm.auto import tqdm

    from avatar.drawing import default_font
    from avatar.emotion import EMOTIONS
    from generators.expression import expression_weights

    emotions = tuple(emotions or EMOTIONS)
    intensities = check_units(intensities, "intensity")
    weights = np.stack([expression_weights(emotion=e, intensity=i, prototypes=prototypes) for e in emotions for i in intensities])
    renderer = get_renderer(head, identity, cell, cell, background, skin, eyes, view, session, appearance,
                            brow_lowerer=brow_lowerer)
    imgs = [renderer.render(w) for w in tqdm(weights, desc="sheet", unit="face", disable=not progress)]
    captions: list[str] = []
    if judge is not None:
        from avatar.app.judges import judge_name

        rec = (session or default_session()).recognizer(judge_name(judge), device, detect_faces=False) if isinstance(judge, str) else judge
        result = rec(np.stack([im[..., :3] for im in imgs]), boxes=renderer.face_boxes(weights))
        probs = np.asarray(result.emotion_probs.detach().cpu() if hasattr(result.emotion_probs, "detach") else result.emotion_probs)
        for row in probs:
            k = int(np.nanargmax(row)) if np.isfinite(row).any() else -1
            captions.append("no face" if k < 0 else f"{EMOTIONS[k]} {row[k]:.2f}")
    label_w, header_h = max(96, cell // 2), max(28, cell // 8)
    caption_h = max(16, cell // 12) if captions else 0
    row_h = cell + caption_h
    sheet = Image.new("RGB", (label_w + cell * len(intensities), header_h + row_h * len(emotions)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = default_font(max(12, cell // 14))
    small = default_font(max(10, cell // 18))
    for j, inten in enumerate(intensities):
        draw.text((label_w + j * cell + cell // 2, header_h // 2), f"intensity {inten:.2f}", fill=(20, 20, 20), font=font, anchor="mm")
    for i, emo in enumerate(emotions):
        draw.text((label_w // 2, header_h + i * row_h + cell // 2), emo, fill=(20, 20, 20), font=font, anchor="mm")
        for j in range(len(intensities)):
            k = i * len(intensities) + j
            sheet.paste(Image.fromarray(imgs[k][..., :3]), (label_w + j * cell, header_h + i * row_h))
            if captions:
                # Green when the judge reads the commanded emotion, red otherwise.
                ok = captions[k].split(" ")[0] == emo
                draw.text((label_w + j * cell + cell // 2, header_h + i * row_h + cell + caption_h // 2), captions[k],
                          fill=(20, 120, 40) if ok else (170, 30, 30), font=small, anchor="mm")
    return np.asarray(sheet)


def score(frames: np.ndarray | torch.Tensor | Sequence[np.ndarray], expected: str | Sequence[str] | None = None,
          judge: str | Recognizer | None = None, device: str | torch.device = "auto", boxes: np.ndarray | None = None,
          session: Session | None = None, recognizer: str | Recognizer | None = None) -> Score:
    """Return a `Score` of how well `frames` read as the `expected` emotion(s) (one label, or one per frame).

    `frames` are "some frames": a batch (T, H, W, 3) uint8 or (B, 3, H, W) float torch, a list of images, or
    one image (H, W, 3) / (3, H, W), read as a batch of one. Frames from `render` carry their face boxes and,
    for a sequence, its per-frame labels: those are used when `boxes` / `expected` are not given. Other images
    are searched with the judge's face detector. `judge` is a recognizer name (see
    `avatar.app.judges.RECOGNIZERS`) or a recognizer object; by default the session's default judge (FER2013,
    trained on real faces) is built once and reused. The Score names its judge and what it was trained on,
    and counts frames without a face apart. `recognizer=` is the old spelling of `judge=`.
    """
    from avatar.app.judges import DEFAULT_RECOGNIZER, judge_name
    from avatar.arrays import is_torch
    from avatar.frames import distinct_frames
    from avatar.notices import pick_renamed
    from recognizers.base import BaseRecognizer
    from recognizers.scoring import EmotionScorer

    judge = pick_renamed("judge=", judge, {"recognizer=": recognizer})
    if boxes is None:
        boxes = getattr(frames, "face_boxes", None)
    if expected is None:
        expected = getattr(frames, "labels", None)
        if expected is None:
            raise AvatarInputError("score needs expected=: the emotion every frame should show, or one label per frame")
    images: Any = frames
    if isinstance(images, (list, tuple)):
        from avatar.frames import check_images

        images = check_images(list(images))
    elif isinstance(images, np.ndarray):
        images = images.view(np.ndarray)  # RenderedFrames' boxes and labels were read above
        if images.ndim == 3:
            images = images[None]  # one image is a batch of one
    elif is_torch(images) and images.ndim == 3:
        images = images[None]
    sess = session or default_session()
    if judge is None or isinstance(judge, str):
        rec = sess.recognizer(judge_name(judge or DEFAULT_RECOGNIZER), device, detect_faces=boxes is None)
    elif isinstance(judge, Recognizer):
        rec = judge
    else:
        raise AvatarInputError(f"judge must be a recognizer name or a callable recognizer object, got {type(judge).__name__}")
    n = len(images)
    labels = [expected] * n if isinstance(expected, str) else list(expected)
    if len(labels) != n:
        raise AvatarInputError(f"expected has {len(labels)} labels for {n} frame{'s' * (n != 1)}: give one label or one per frame")
    if boxes is not None and len(boxes) != n:
        raise AvatarInputError(f"boxes has {len(boxes)} rows for {n} frame{'s' * (n != 1)}: give one (x0, y0, x1, y1) per frame")
    scorer = EmotionScorer(device=device, judge=rec)
    # A held pose repeats its frame: our judges (whose Recognition can be re-indexed) read each distinct one once.
    first, inverse = distinct_frames(images, boxes) if isinstance(rec, BaseRecognizer) else (np.arange(n), None)
    if len(first) < n:
        images = images[first]
        boxes = None if boxes is None else np.asarray(boxes)[first]
    result = rec(images) if boxes is None else rec(images, boxes=boxes)
    if len(first) < n:
        result = result.take(inverse)
    scorer.update(result, labels)
    return scorer.compute()


def animate(audio: str | os.PathLike | np.ndarray, text: str | None = None, emotion: str | Emotion = "neutral",
            intensity: float | str = 1.0, fps: float = 30.0, seed: int = 0, head: str | os.PathLike | BlendshapeHead | None = None,
            *, emotion_track: str | list | None = None, method: str = "auto", life: bool = True,
            articulation: float = 1.0, sample_rate: int | None = None, model: Any = None,
            emotion_smoothing_s: float = 0.12, max_seconds: float | None = None,
            silence_dbfs: float | None = None) -> ExpressionSequence:
    """Return an ExpressionSequence of a talking face for `audio` (a path, or a (N,) float array with `sample_rate`).

    Args:
        text: the words spoken; with it the phones are force-aligned (best lip sync).
        emotion, intensity: the emotion on the whole face and its strength 0..1, or `intensity="auto"`: the
            strength follows vocal arousal (loudness, pitch range, speaking rate: `generators.speech.prosody`,
            a prosody heuristic, not emotion recognition).
        fps, seed: frame rate; seed of blinks, gaze and head motion (equal inputs and seed: identical output).
        head: the head the animation is for (a BlendshapeHead or a head file): lip closure is solved on its
            mesh, so a user's own head closes its own lips (default: the shipped head).
        emotion_track: timed emotions, e.g. "0:neutral,1.5:anger@0.9,4:neutral" (overrides `emotion`).
        method: lip-sync path: "phonetic", "neural", "hybrid" or "auto" (`generators.speech.animate`).
        life: blinks, gaze and prosody-driven head motion. articulation: mouth amplitude (0.7 mumbled, 1.3 exaggerated).
        model: a speech model or its checkpoint folder for the neural paths (default: the shipped one).
        emotion_smoothing_s: low-pass of an emotion track, in seconds.
        max_seconds, silence_dbfs: the longest audio accepted and the level under which it counts as silent
            (None: `generators.speech.audio`'s limits).
    """
    from avatar.io.headfile import load_head
    from generators.speech import animate as _animate

    target = head if head is None or hasattr(head, "pose") else load_head(head)
    limits = {k: v for k, v in (("max_seconds", max_seconds), ("silence_dbfs", silence_dbfs)) if v is not None}
    return _animate(audio, text=text, emotion=emotion, intensity=intensity, emotion_track=emotion_track, fps=fps,
                    seed=seed, method=method, life=life, articulation=articulation, sample_rate=sample_rate,
                    model=model, emotion_smoothing_s=emotion_smoothing_s, head=target, **limits)
