"""Returns recognizers by name: the registry that the facade, the CLI and the fidelity sweep share.

This is the top layer: it is the one place that knows every recognizer class by name.
"""

from __future__ import annotations

from typing import Any

from avatar.errors import AvatarInputError

RECOGNIZERS: tuple[str, ...] = ("expression-net", "fer2013", "face-api")
"""Names `make_recognizer` accepts (aliases: expressionnet, ours; faceapi)."""

DEFAULT_RECOGNIZER = "expression-net"
"""The recognizer `avatar.score` and `emoavatar score` use when none is named."""


def make_recognizer(name: str = DEFAULT_RECOGNIZER, device: Any = "auto", detect_faces: bool = True) -> Any:
    """Return a new recognizer by name: expression-net (ours, render-trained), fer2013 (ported mini-Xception) or face-api (face-api.js FaceExpressionNet)."""
    key = str(name).lower().replace("_", "-")
    if key in ("expression-net", "expressionnet", "ours"):
        from recognizers.expression_net import ExpressionNetRecognizer

        return ExpressionNetRecognizer.from_default(device=device, detect_faces=detect_faces)
    if key == "fer2013":
        from recognizers.fer2013 import FER2013Recognizer

        return FER2013Recognizer(device=device, detect_faces=detect_faces)
    if key in ("face-api", "faceapi"):
        from recognizers.face_expression_net import FaceApiExpressionRecognizer

        return FaceApiExpressionRecognizer(device=device, detect_faces=detect_faces)
    raise AvatarInputError(f"unknown recognizer {name!r}: use one of {', '.join(RECOGNIZERS)}")
