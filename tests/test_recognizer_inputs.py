"""Recognizer input handling: the accepted forms, and one-line AvatarInputErrors for everything else."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.errors import AvatarInputError, ShapeError
from recognizers.base import EMOTIONS, Recognition, check_images, images_to_numpy, images_to_tensor, nan_argmax


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.strip() == msg and msg
    return msg


BAD_INPUTS = [
    # (input, error type, words the message must contain)
    (np.zeros((64, 64), np.uint8), ShapeError, ["grayscale", "(64, 64)", "np.repeat"]),
    (np.zeros((2, 64, 64, 1), np.uint8), ShapeError, ["grayscale", "(2, 64, 64, 1)"]),
    (torch.zeros(2, 1, 64, 64), ShapeError, ["grayscale", "(2, 1, 64, 64)", "expand"]),
    (np.zeros((64, 64, 4), np.uint8), ShapeError, ["RGBA", "(64, 64, 4)", "img[..., :3]"]),
    (torch.zeros(1, 4, 64, 64), ShapeError, ["RGBA", "(1, 4, 64, 64)", "x[:, :3]"]),
    (np.zeros((64, 64, 3), np.float32), AvatarInputError, ["uint8", "float32", "(64, 64, 3)", "astype(np.uint8)"]),
    (np.zeros((64, 64, 3), np.uint16), AvatarInputError, ["uint8", "uint16"]),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), AvatarInputError, ["float", "uint8", "x.float() / 255"]),
    (np.zeros((0, 64, 64, 3), np.uint8), AvatarInputError, ["empty batch", "(0, 64, 64, 3)"]),
    (torch.zeros(0, 3, 64, 64), AvatarInputError, ["empty batch", "(0, 3, 64, 64)"]),
    ([], AvatarInputError, ["empty list"]),
    (np.zeros((31, 64, 3), np.uint8), ShapeError, ["31x64", "32", "(31, 64, 3)"]),
    (np.zeros((4, 20, 20, 3), np.uint8), ShapeError, ["20x20", "(4, 20, 20, 3)", "at least 32x32"]),
    (torch.zeros(1, 3, 16, 64), ShapeError, ["16x64", "smaller than 32"]),
    (torch.zeros(2, 64, 64, 3), ShapeError, ["channels-first", "(2, 64, 64, 3)", "permute(0, 3, 1, 2)"]),
    (np.zeros((3, 64, 64), np.uint8), ShapeError, ["channels-last", "transpose(1, 2, 0)"]),
    (np.zeros((8, 64, 64), np.uint8), ShapeError, ["3 colour channels", "(8, 64, 64)"]),
    (np.zeros((1, 2, 64, 64, 3), np.uint8), ShapeError, ["(1, 2, 64, 64, 3)"]),
    ("face.png", AvatarInputError, ["str", "uint8 numpy", "torch"]),
    ([np.zeros((64, 64, 3), np.uint8), np.zeros((70, 64, 3), np.uint8)], ShapeError, ["share one shape", "resize"]),
]


@pytest.mark.parametrize("images, error, words", BAD_INPUTS, ids=[f"bad{i}" for i in range(len(BAD_INPUTS))])
def test_bad_input_one_line_error(images: object, error: type, words: list[str]) -> None:
    with pytest.raises(error) as err:
        check_images(images)
    msg = _one_line(err)
    for w in words:
        assert w in msg, (w, msg)


def test_errors_are_avatar_input_errors() -> None:
    assert issubclass(ShapeError, AvatarInputError)


def test_float_tensor_in_0_255_is_refused() -> None:
    with pytest.raises(AvatarInputError) as err:
        images_to_tensor(torch.full((1, 3, 64, 64), 200.0), "cpu")
    assert "divide by 255" in _one_line(err)


@pytest.mark.parametrize(
    "images, shape",
    [
        (np.zeros((64, 48, 3), np.uint8), (1, 3, 64, 48)),
        (np.zeros((5, 32, 40, 3), np.uint8), (5, 3, 32, 40)),
        ([np.zeros((40, 40, 3), np.uint8)] * 3, (3, 3, 40, 40)),
        (torch.rand(3, 50, 60), (1, 3, 50, 60)),
        (torch.rand(2, 3, 64, 64, dtype=torch.float64), (2, 3, 64, 64)),
        ([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], (2, 3, 64, 64)),
    ],
)
def test_accepted_forms(images: object, shape: tuple[int, ...]) -> None:
    x = images_to_tensor(images, "cpu")
    assert tuple(x.shape) == shape and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_pil_image_accepted_and_pil_rgba_refused() -> None:
    from PIL import Image

    rgb = Image.new("RGB", (40, 50), (10, 200, 30))
    x = images_to_tensor(rgb, "cpu")
    assert tuple(x.shape) == (1, 3, 50, 40)
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([10, 200, 30]) / 255.0)
    with pytest.raises(ShapeError, match="RGBA"):
        check_images(Image.new("RGBA", (40, 50)))
    with pytest.raises(ShapeError, match="grayscale"):
        check_images(Image.new("L", (40, 50)))


def test_numpy_torch_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 33, 35, 3), dtype=np.uint8)
    t = images_to_tensor(img, "cpu")
    assert np.array_equal(images_to_numpy(t), img)
    assert images_to_numpy(img) is img or np.array_equal(images_to_numpy(img), img)


def test_torch_input_is_not_copied_on_its_device() -> None:
    x = torch.rand(2, 3, 40, 40)
    assert images_to_tensor(x, "cpu").data_ptr() == x.data_ptr()


def test_recognizer_call_raises_the_same_errors() -> None:
    from recognizers.fer2013 import FER2013Recognizer

    rec = FER2013Recognizer(device="cpu")
    for bad in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64, 3), np.float64),
                np.zeros((0, 64, 64, 3), np.uint8), np.zeros((16, 16, 3), np.uint8)):
        with pytest.raises(AvatarInputError) as err:
            rec(bad)
        _one_line(err)


def test_recognition_labels_skip_nan_and_missing_faces() -> None:
    probs = np.full((3, 8), np.nan, np.float32)
    probs[0, :7] = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4]
    probs[1, :7] = [0.0, 0.9, 0.02, 0.02, 0.02, 0.02, 0.02]
    available = np.array([True] * 7 + [False])
    rec = Recognition(probs, available)
    assert rec.labels == ["anger", "happy", None]
    assert len(rec) == 3
    assert nan_argmax(probs).tolist() == [6, 1, -1]
    t = Recognition(torch.from_numpy(probs), available)
    assert t.labels == rec.labels
    assert nan_argmax(torch.from_numpy(probs)).tolist() == [6, 1, -1]
    n = t.to_numpy()
    assert isinstance(n.emotion_probs, np.ndarray) and np.array_equal(np.isnan(n.emotion_probs), np.isnan(probs))
    d = rec.to_dict()
    assert d["emotion_probs"][2][0] is None and d["labels"][2] is None and d["emotion_names"] == list(EMOTIONS)


def test_recognition_shape_checks() -> None:
    with pytest.raises(ShapeError, match=r"\(B, 8\)"):
        Recognition(np.zeros((2, 7)), np.ones(8, bool))
    with pytest.raises(ShapeError, match="emotion_available"):
        Recognition(np.zeros((2, 8)), np.ones(7, bool))
    with pytest.raises(ShapeError, match="au_names"):
        Recognition(np.zeros((2, 8)), np.ones(8, bool), aus=np.zeros((2, 3)), au_names=("AU01",))


def test_imports_stay_light() -> None:
    import subprocess
    import sys

    code = ("import sys, avatar, avatar.protocols, recognizers, recognizers.base, recognizers.faces, recognizers.scoring; "
            "print('torch' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_missing_opencv_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from recognizers.faces import FaceDetector, FaceDetectorOptions

    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(ImportError, match=r"pip install emoavatar\[recognizers\]"):
        FaceDetector.create_from_options(FaceDetectorOptions())


def test_protocols_are_satisfied() -> None:
    from avatar.protocols import RecognitionLike, Recognizer, ScoreLike, Scorer
    from recognizers.fer2013 import FER2013Recognizer
    from recognizers.scoring import EmotionScorer

    rec = FER2013Recognizer(device="cpu")
    scorer = EmotionScorer(device="cpu")
    assert isinstance(rec, Recognizer) and isinstance(scorer, Scorer)
    assert isinstance(rec(np.zeros((40, 40, 3), np.uint8)), RecognitionLike)
    assert isinstance(scorer.compute(), ScoreLike)
