"""ARKit name normalisation: ICT suffixes, case, prefixes, MediaPipe's _neutral, and clear errors."""

from __future__ import annotations

import pytest

from avatar.errors import UnknownNameError
from avatar.rig import ARKIT, index_of, normalize_name, try_normalize_name


@pytest.mark.parametrize("raw, canonical", [
    ("browDown_L", "browDownLeft"), ("mouthSmile_R", "mouthSmileRight"), ("JawOpen", "jawOpen"),
    ("EYEBLINKLEFT", "eyeBlinkLeft"), ("blendShape1.eyeBlink_L", "eyeBlinkLeft"), ("cheekPuff", "cheekPuff"),
])
def test_normalize(raw: str, canonical: str) -> None:
    assert normalize_name(raw) == canonical


def test_non_arkit_names() -> None:
    assert try_normalize_name("_neutral") is None
    assert try_normalize_name("PupilDilate_L") is None
    with pytest.raises(UnknownNameError, match="'smirk'.*ARKit"):
        normalize_name("smirk")


def test_index() -> None:
    assert index_of("jawOpen") == 24
    assert ARKIT.index("JawOpen") == 24
