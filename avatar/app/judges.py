"""Returns recognizers by name: the registry that the facade, the CLI and the fidelity sweep share.

This is the top layer: it is the one place that knows every recognizer class by name.
"""

from __future__ import annotations

from typing import Any

from avatar.errors import AvatarInputError

RECOGNIZERS: tuple[str, ...] = ("fer2013", "face-classification", "face-api", "expression-net")
"""Names `make_recognizer` accepts (aliases: expressionnet, ours; faceapi), real-face judges first."""

REAL_FACE_JUDGES: tuple[str, ...] = ("fer2013", "face-classification", "face-api")
"""Judges trained on photographs of real people: emotion accuracy is reported by these."""

DEFAULT_RECOGNIZER = "fer2013"
"""The judge `avatar.score` and `emoavatar score` use when none is named: trained on real faces, so it says
whether a person would read the emotion. ExpressionNet (ours, trained on our renders) stays for AUs,
valence-arousal, contempt and as a differentiable critic; it measures consistency with our prototypes."""


def make_recognizer(name: str = DEFAULT_RECOGNIZER, device: Any = "auto", detect_faces: bool = True) -> Any:
    """Return a new recognizer by name (see RECOGNIZERS): fer2013 (mini-Xception), face-classification (big-Xception),
    face-api (face-api.js FaceExpressionNet), all trained on real faces; expression-net (ours, trained on our renders)."""
    key = str(name).lower().replace("_", "-")
    if key in ("expression-net", "expressionnet", "ours"):
        from recognizers.expression_net import ExpressionNetRecognizer

        return ExpressionNetRecognizer.from_default(device=device, detect_faces=detect_faces)
    if key == "fer2013":
        from recognizers.fer2013 import FER2013Recognizer

        return FER2013Recognizer(device=device, detect_faces=detect_faces)
    if key in ("face-classification", "faceclassification"):
        from recognizers.face_classification import FaceClassificationRecognizer

        return FaceClassificationRecognizer(device=device, detect_faces=detect_faces)
    if key in ("face-api", "faceapi"):
        from recognizers.face_expression_net import FaceApiExpressionRecognizer

        return FaceApiExpressionRecognizer(device=device, detect_faces=detect_faces)
    raise AvatarInputError(f"unknown recognizer {name!r}: use one of {', '.join(RECOGNIZERS)}")


_ALIASES = {"expressionnet": "expression-net", "ours": "expression-net", "faceapi": "face-api",
            "faceclassification": "face-classification"}


def judge_name(name: str) -> str:
    """Return the canonical name of a judge (aliases and `_` spellings resolved), or raise listing the names."""
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in RECOGNIZERS:
        import difflib

        close = difflib.get_close_matches(key, RECOGNIZERS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise AvatarInputError(f"unknown judge {name!r}{hint}: use one of {', '.join(RECOGNIZERS)}")
    return key


def parse_judges(value: Any, allow_empty: bool = False) -> tuple[str, ...]:
    """Return the canonical judge names of a comma list ("fer2013,face-api"), one name, or a sequence of names.

    The one reader of `judge=` / `--judge` wherever several judges grade (fidelity, portrait, refine's readings);
    each name once, in the order given. `allow_empty` lets "" mean no judge at all.
    """
    if value is None:
        items: list[Any] = []
    elif isinstance(value, str):
        items = [t for t in value.split(",") if t.strip()]
    else:
        items = list(value)
    out: list[str] = []
    for item in items:
        name = judge_name(item)
        if name not in out:
            out.append(name)
    if not out and not allow_empty:
        raise AvatarInputError(f"judge {value!r} names no recognizer: use one or more of {', '.join(RECOGNIZERS)}, comma-separated")
    return tuple(out)
