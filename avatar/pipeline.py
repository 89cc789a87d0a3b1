"""The facade: one-line paths for the common jobs (pose, render, sheet, score, animate).

This is the top layer: it may import generators, renderers and recognizers; they never import it.
Heavy modules are imported inside the functions so `import avatar` stays instant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.errors import AvatarInputError
from avatar.sequence import ExpressionSequence

if TYPE_CHECKING:
    from renderers.gl import GLRenderer


def pose(emotion: Any = None, intensity: float = 1.0, aus: Any = None, va: Any = None, mixture: Any = None) -> np.ndarray:
    """Return (52,) float32 ARKit weights for an emotion (+intensity), AUs, valence/arousal or a mixture."""
    from generators.expression import expression_weights

    return expression_weights(emotion=emotion, intensity=intensity, aus=aus, va=va, mixture=mixture)


@dataclass(frozen=True)
class _RenderKey:
    head: str | None
    identity: Any
    width: int
    height: int
    background: tuple[float, float, float] | None
    skin: Any
    eyes: Any


_RENDERERS: dict[_RenderKey, GLRenderer] = {}


def get_renderer(head: str | os.PathLike | None = None, identity: int | None = None, width: int = 512, height: int = 512,
                 background: tuple[float, float, float] | None = (0.92, 0.92, 0.94), skin: Any = "medium",
                 eyes: Any = "brown", view: Any = "front") -> GLRenderer:
    """Return a cached GLRenderer for these settings (one GL context per distinct setting), pointed at `view`."""
    from avatar.head import load_head
    from avatar.appearance import Appearance
    from renderers.gl import GLRenderer, RendererOptions

    ident = identity if not isinstance(identity, (list, tuple, np.ndarray)) else tuple(np.ravel(identity).tolist())
    key = _RenderKey(None if head is None else str(head), ident, int(width), int(height),
                     None if background is None else tuple(background), skin if isinstance(skin, str) else tuple(skin),
                     eyes if isinstance(eyes, str) else tuple(eyes))
    renderer = _RENDERERS.get(key)
    if renderer is None:
        h = load_head(head, identity=identity)
        opts = RendererOptions(width=int(width), height=int(height), background=background, camera=view,
                               appearance=Appearance(skin=skin, eyes=eyes))
        renderer = _RENDERERS[key] = GLRenderer(h, opts)
    renderer.set_camera(view)
    return renderer


def render(x: Any = None, *, view: Any = "front", identity: int | None = None, head: str | os.PathLike | None = None,
           width: int = 512, height: int = 512, background: tuple[float, float, float] | None = (0.92, 0.92, 0.94),
           skin: Any = "medium", eyes: Any = "brown", output: str = "numpy", device: Any = "auto",
           progress: bool = False) -> Any:
    """Return rendered frames of weights (52,) -> (H, W, 3), (T, 52) or an ExpressionSequence -> (T, H, W, 3) uint8.

    `x` None renders the neutral face. `output="torch"` returns float (B, 3, H, W) in [0, 1] on `device`.
    A transparent background (`background=None`) gives RGBA frames.
    """
    renderer = get_renderer(head, identity, width, height, background, skin, eyes, view)
    if x is None:
        x = np.zeros(52, np.float32)
    if isinstance(x, ExpressionSequence):
        frames = renderer.render_sequence(x, progress=progress).images
    else:
        w = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, np.float32)
        frames = renderer.render(w) if w.ndim == 1 else renderer.render_sequence(ExpressionSequence(w), progress=progress).images
    if output == "torch":
        return renderer.to_torch(frames, device)
    if output != "numpy":
        raise AvatarInputError(f"unknown output {output!r}: use 'numpy' or 'torch'")
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
                  cell: int = 256, identity: int | None = None, view: Any = "front", skin: Any = "medium",
                  head: str | os.PathLike | None = None, progress: bool = False) -> np.ndarray:
    """Return a labelled grid image: one row per emotion, one column per intensity, (H, W, 3) uint8."""
    from PIL import Image, ImageDraw
    from tqdm.auto import tqdm

    from avatar.emotion import EMOTIONS

    emotions = tuple(emotions or EMOTIONS)
    for i in intensities:
        if not 0.0 <= float(i) <= 1.0:
            raise AvatarInputError(f"intensity {i!r} is outside [0, 1]: use values between 0 and 1")
    weights = np.stack([pose(emotion=e, intensity=float(i)) for e in emotions for i in intensities])
    renderer = get_renderer(head, identity, cell, cell, (0.92, 0.92, 0.94), skin, "brown", view)
    imgs = [renderer.render(w) for w in tqdm(weights, desc="sheet", unit="face", disable=not progress)]
    label_w, header_h = max(96, cell // 2), max(28, cell // 8)
    sheet = Image.new("RGB", (label_w + cell * len(intensities), header_h + cell * len(emotions)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font(max(12, cell // 14))
    for j, inten in enumerate(intensities):
        draw.text((label_w + j * cell + cell // 2, header_h // 2), f"intensity {float(inten):.2f}", fill=(20, 20, 20), font=font, anchor="mm")
    for i, emo in enumerate(emotions):
        draw.text((label_w // 2, header_h + i * cell + cell // 2), emo, fill=(20, 20, 20), font=font, anchor="mm")
        for j in range(len(intensities)):
            sheet.paste(Image.fromarray(imgs[i * len(intensities) + j][..., :3]), (label_w + j * cell, header_h + i * cell))
    return np.asarray(sheet)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def score(frames: Any, expected: Any, recognizer: Any = None, device: Any = "auto", boxes: Any = None) -> Any:
    """Return a Score of how well `frames` read as the `expected` emotion(s) (one label, or one per frame).

    `boxes` (B, 4) are known face boxes (`GLRenderer.face_boxes`); without them the default recognizer
    finds the face with its detector.
    """
    from recognizers.scoring import EmotionScorer

    rec = recognizer if recognizer is not None else default_recognizer(device, detect_faces=boxes is None)
    n = len(frames)
    labels = [expected] * n if isinstance(expected, str) else list(expected)
    if len(labels) != n:
        raise AvatarInputError(f"expected has {len(labels)} labels for {n} frames: give one label or one per frame")
    scorer = EmotionScorer(device=device)
    result = rec(frames) if boxes is None else rec(frames, boxes=boxes)
    scorer.update(result, labels)
    return scorer.compute()


RECOGNIZERS = ("expression-net", "fer2013")


def make_recognizer(name: str, device: str = "auto", detect_faces: bool = True) -> Any:
    """Return a recognizer by name: expression-net (ours, render-trained) or fer2013 (ported mini-Xception)."""
    key = name.lower().replace("_", "-")
    if key in ("expression-net", "expressionnet", "ours"):
        from recognizers.expression_net import ExpressionNetRecognizer

        return ExpressionNetRecognizer.from_default(device=device, detect_faces=detect_faces)
    if key == "fer2013":
        from recognizers.fer2013 import FER2013Recognizer

        return FER2013Recognizer(device=device, detect_faces=detect_faces)
    raise AvatarInputError(f"unknown recognizer {name!r}: use one of {', '.join(RECOGNIZERS)}")


def default_recognizer(device: Any = "auto", detect_faces: bool = True) -> Any:
    """Return the default expression recognizer: ExpressionNet (ours, render-trained) when shipped, else FER2013."""
    try:
        from recognizers.expression_net import ExpressionNetRecognizer

        return ExpressionNetRecognizer.from_default(device=device, detect_faces=detect_faces)
    except FileNotFoundError:
        from recognizers.fer2013 import FER2013Recognizer

        return FER2013Recognizer(device=device, detect_faces=detect_faces)


def animate(audio: Any, text: str | None = None, emotion: Any = "neutral", intensity: float = 1.0, fps: float = 30.0,
            seed: int = 0, **kwargs: Any) -> ExpressionSequence:
    """Return an ExpressionSequence of a talking face for `audio` (path), with emotion control."""
    from generators.speech import animate as _animate

    return _animate(audio, text=text, emotion=emotion, intensity=intensity, fps=fps, seed=seed, **kwargs)
