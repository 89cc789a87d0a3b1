"""The facade: one-line paths for the common jobs (pose, render, contact sheet, score, animate).

This is the top layer: it may import generators, renderers and recognizers; they never import it.
The GL renderers and recognizers it uses live in a `Session` (bounded, closable; `avatar.app.session`),
built once and reused across calls. Heavy modules are imported inside the functions so `import avatar`
stays instant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from avatar.app.session import DEFAULT_BACKGROUND, Session, default_session
from avatar.errors import AvatarInputError
from avatar.protocols import Recognizer
from avatar.sequence import ExpressionSequence
from avatar.validation import check_choice, check_units


class RenderedFrames(np.ndarray):
    """Frames as a plain uint8 array (T, H, W, 3) that also carry what the renderer knew about them.

    `face_boxes` (T, 4) float32 are the pixel boxes of the faces, from the poses already made for the
    frames; `labels` the sequence's per-frame labels (or None). `avatar.score` uses both, so scoring a
    render needs no face detector and no `expected=`. Indexing the first axis keeps them aligned.
    """

    face_boxes: np.ndarray | None
    labels: list[str] | None

    def __array_finalize__(self, obj: Any) -> None:
        self.face_boxes = getattr(obj, "face_boxes", None)
        self.labels = getattr(obj, "labels", None)

    def __getitem__(self, idx: Any) -> Any:
        out = super().__getitem__(idx)
        if isinstance(out, RenderedFrames):
            first = idx[0] if isinstance(idx, tuple) and idx else idx
            batch = out.ndim == 4 and not (isinstance(idx, tuple) and len(idx) > 1)
            # A sub-batch keeps its boxes and labels; a single frame or a crop has none that apply.
            out.face_boxes = self.face_boxes[first] if batch and self.face_boxes is not None else None
            out.labels = list(np.asarray(self.labels, dtype=object)[first]) if batch and self.labels is not None else None
        return out


def _frames(images: np.ndarray, boxes: np.ndarray | None, labels: list[str] | None) -> RenderedFrames:
    out = np.asarray(images).view(RenderedFrames)
    out.face_boxes, out.labels = boxes, labels
    return out


def pose(emotion: Any = None, intensity: float = 1.0, aus: Any = None, va: Any = None, mixture: Any = None) -> np.ndarray:
    """Return (52,) float32 ARKit weights for an emotion (+intensity), AUs, valence/arousal or a mixture."""
    from generators.expression import expression_weights

    return expression_weights(emotion=emotion, intensity=intensity, aus=aus, va=va, mixture=mixture)


def get_renderer(head: str | os.PathLike | None = None, identity: Any = None, width: int = 512, height: int = 512,
                 background: tuple[float, float, float] | None = DEFAULT_BACKGROUND, skin: Any = "medium",
                 eyes: Any = "brown", view: Any = "front", session: Session | None = None, appearance: Any = None) -> Any:
    """Return the (default) session's GLRenderer for these settings; the session owns and closes it.

    `appearance` (`avatar.appearance.Appearance`) sets the shading switches; `skin` and `eyes` override its colours.
    """
    return (session or default_session()).renderer(head, identity, width, height, background, skin, eyes, view, appearance)


def render(x: Any = None, *, view: Any = "front", identity: Any = None, head: str | os.PathLike | None = None,
           width: int = 512, height: int = 512, background: tuple[float, float, float] | None = DEFAULT_BACKGROUND,
           skin: Any = "medium", eyes: Any = "brown", output: str = "numpy", device: Any = "auto",
           progress: bool = False, session: Session | None = None, appearance: Any = None) -> Any:
    """Return rendered frames of weights (52,) -> (H, W, 3), (T, 52) or an ExpressionSequence -> (T, H, W, 3) uint8.

    `x` None renders the neutral face. Batches come back as `RenderedFrames` (a uint8 array that also
    carries `face_boxes` and the sequence's `labels`, which `score` uses). `output="torch"` returns float
    (B, 3, H, W) in [0, 1] on `device`. A transparent background (`background=None`) gives RGBA frames.
    `appearance=Appearance(cavity=False, ...)` changes the shading switches (`avatar.appearance.Appearance`).
    """
    check_choice(output, ("numpy", "torch"), "output")
    renderer = get_renderer(head, identity, width, height, background, skin, eyes, view, session, appearance)
    if x is None:
        x = np.zeros(52, np.float32)
    if isinstance(x, ExpressionSequence):
        result = renderer.render_sequence(x, progress=progress)
        frames: Any = _frames(result.images, result.face_boxes, x.labels)
    else:
        w = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, np.float32)
        if w.ndim == 1:
            frames = renderer.render(w)
        else:
            result = renderer.render_sequence(w, progress=progress)
            frames = _frames(result.images, result.face_boxes, None)
    if output == "torch":
        return renderer.to_torch(frames, device)
    return frames


def save_image(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write one image as PNG/JPEG (atomically); return the path."""
    from renderers.writers import save_image as _save

    return _save(image, path)


def save_video(frames: Any, path: str | os.PathLike, fps: float = 30.0, audio: str | os.PathLike | None = None) -> Path:
    """Write frames as MP4 (with audio muxed) or GIF by suffix (atomically); return the path."""
    from renderers.writers import save_frames

    return save_frames(frames, path, fps=fps, audio=audio)


def contact_sheet(emotions: tuple[str, ...] | None = None, intensities: tuple[float, ...] = (0.33, 0.66, 1.0),
                  cell: int = 256, identity: Any = None, view: Any = "front", skin: Any = "medium",
                  head: str | os.PathLike | None = None, progress: bool = False,
                  session: Session | None = None, judge: Any = None, prototypes: str | None = None,
                  device: Any = "auto", appearance: Any = None) -> np.ndarray:
    """Return a labelled grid image: one row per emotion, one column per intensity, (H, W, 3) uint8.

    `judge` (a recognizer name or object) writes its top label and probability under each face, read
    at the renderer's face box; `prototypes` picks the emotion table ("facs", "refined"; None: default).
    """
    from PIL import Image, ImageDraw
    from tqdm.auto import tqdm

    from avatar.drawing import default_font
    from avatar.emotion import EMOTIONS
    from generators.expression import expression_weights

    emotions = tuple(emotions or EMOTIONS)
    intensities = check_units(intensities, "intensity")
    weights = np.stack([expression_weights(emotion=e, intensity=i, prototypes=prototypes) for e in emotions for i in intensities])
    renderer = get_renderer(head, identity, cell, cell, DEFAULT_BACKGROUND, skin, "brown", view, session, appearance)
    imgs = [renderer.render(w) for w in tqdm(weights, desc="sheet", unit="face", disable=not progress)]
    captions: list[str] = []
    if judge is not None:
        rec = (session or default_session()).recognizer(judge, device, detect_faces=False) if isinstance(judge, str) else judge
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


def score(frames: Any, expected: Any = None, recognizer: Any = None, device: Any = "auto", boxes: Any = None,
          session: Session | None = None) -> Any:
    """Return a Score of how well `frames` read as the `expected` emotion(s) (one label, or one per frame).

    `frames` from `render` carry their face boxes and, for a sequence, its per-frame labels: those are
    used when `boxes` / `expected` are not given. Other images are searched with the recognizer's face
    detector. `recognizer` is a name (see `avatar.app.judges.RECOGNIZERS`) or a recognizer object; by
    default the session's default judge (FER2013, trained on real faces) is built once and reused. The
    Score names its judge and what it was trained on, and counts frames without a face apart.
    """
    from avatar.app.judges import DEFAULT_RECOGNIZER
    from recognizers.scoring import EmotionScorer

    if boxes is None:
        boxes = getattr(frames, "face_boxes", None)
    if expected is None:
        expected = getattr(frames, "labels", None)
        if expected is None:
            raise AvatarInputError("score needs expected=: the emotion every frame should show, or one label per frame")
    sess = session or default_session()
    if recognizer is None or isinstance(recognizer, str):
        rec = sess.recognizer(recognizer or DEFAULT_RECOGNIZER, device, detect_faces=boxes is None)
    elif isinstance(recognizer, Recognizer):
        rec = recognizer
    else:
        raise AvatarInputError(f"recognizer must be a name or a callable recognizer object, got {type(recognizer).__name__}")
    n = len(frames)
    labels = [expected] * n if isinstance(expected, str) else list(expected)
    if len(labels) != n:
        raise AvatarInputError(f"expected has {len(labels)} labels for {n} frames: give one label or one per frame")
    scorer = EmotionScorer(device=device, judge=rec)
    images = np.asarray(frames) if isinstance(frames, RenderedFrames) else frames
    result = rec(images) if boxes is None else rec(images, boxes=boxes)
    scorer.update(result, labels)
    return scorer.compute()


def animate(audio: Any, text: str | None = None, emotion: Any = "neutral", intensity: float | str = 1.0, fps: float = 30.0,
            seed: int = 0, head: Any = None, **kwargs: Any) -> ExpressionSequence:
    """Return an ExpressionSequence of a talking face for `audio` (path), with emotion control.

    `intensity="auto"` lets the emotion's strength follow vocal arousal (loudness, pitch range, speaking
    rate: `generators.speech.prosody`, a prosody heuristic, not emotion recognition).

    `head` (a BlendshapeHead or a head file) is the head the animation is for: lip closure is solved
    on its mesh, so a user's own head closes its own lips (default: the shipped head).
    """
    from avatar.io.headfile import load_head
    from generators.speech import animate as _animate

    target = head if head is None or hasattr(head, "pose") else load_head(head)
    return _animate(audio, text=text, emotion=emotion, intensity=intensity, fps=fps, seed=seed, head=target, **kwargs)
