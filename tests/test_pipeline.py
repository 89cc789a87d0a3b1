"""The facade: one-line paths work and `import avatar` stays light."""

from __future__ import annotations

import pytest

import subprocess
import sys

import numpy as np

import avatar

pytestmark = [pytest.mark.gl]


def test_import_avatar_is_light() -> None:
    code = "import sys, avatar; heavy = [m for m in ('torch', 'moderngl', 'trimesh', 'librosa', 'cv2') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_one_line_render_of_an_emotion() -> None:
    img = avatar.render(avatar.pose(emotion="happy", intensity=0.8), width=128, height=128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8


def test_happy_render_differs_mostly_in_the_lower_face() -> None:
    from avatar.app.facade import get_renderer

    neutral = avatar.render(avatar.pose(emotion="neutral"), width=256, height=256).astype(float)
    happy = avatar.render(avatar.pose(emotion="happy"), width=256, height=256).astype(float)
    r = get_renderer(width=256, height=256)
    lm = r.camera.project(r.head.landmarks(), 256, 256)
    diff = np.abs(happy - neutral).sum(-1)
    x0, x1 = int(lm[:, 0].min()), int(lm[:, 0].max())
    # "Mostly the lower face": most strongly changed pixels inside the face lie below the nose tip,
    # well ahead of the forehead and brows (AU6 nudges the brows down a little). (ICT's cheekSquint shifts the whole scalp
    # by ~0.8 mm, so outlines flicker by a pixel: count strong changes only, not the mean difference.)
    nose_y, brow_y, chin_y = int(lm[30, 1]), int(lm[17:27, 1].min()), int(lm[8, 1])
    lids_top = int(lm[36:48, 1].min())
    strong = diff > 90
    face = strong[brow_y - 15:chin_y + 5, x0:x1].sum()
    below = strong[nose_y:chin_y + 5, x0:x1].sum()
    brows = strong[brow_y - 15:lids_top - 2, x0:x1].sum()
    assert below > 0.5 * face and below > 2 * brows


@pytest.mark.slow
def test_render_sequence_and_torch_output() -> None:
    import torch

    seq = avatar.ExpressionSequence(np.stack([avatar.pose(emotion=e) for e in ("neutral", "surprise", "anger")]), fps=10)
    frames = avatar.render(seq, width=96, height=96)
    assert frames.shape == (3, 96, 96, 3)
    t = avatar.render(seq, width=96, height=96, output="torch", device="cpu")
    assert isinstance(t, torch.Tensor) and t.shape == (3, 3, 96, 96)
    assert np.abs(frames[1].astype(int) - frames[0]).mean() > 1  # surprise differs from neutral


def test_contact_sheet_layout() -> None:
    sheet = avatar.contact_sheet(emotions=("happy", "sad"), intensities=(0.5, 1.0), cell=64)
    assert sheet.ndim == 3 and sheet.shape[0] > 2 * 64 and sheet.shape[1] > 2 * 64
    # The two face cells in a row differ (intensity changes the face).
    assert sheet.std() > 10


@pytest.mark.slow
def test_score_facade_reads_rendered_emotions() -> None:
    emotions = ("happy", "surprise", "sad", "anger")
    frames = np.stack([avatar.render(avatar.pose(emotion=e), width=256, height=256) for e in emotions])
    # ExpressionNet (ours) reads our renders; the default judge is a real-face one (tests/test_honest_scorer.py).
    score = avatar.score(frames, expected=list(emotions), device="cpu", judge="expression-net")  # faces found by the detector
    assert score.n == 4 and score.accuracy >= 0.75
    from avatar.app.facade import get_renderer

    r = get_renderer(width=256, height=256)
    w = np.stack([avatar.pose(emotion=e) for e in emotions])
    boxed = avatar.score(frames, expected=list(emotions), device="cpu", boxes=r.face_boxes(w), judge="expression-net")
    assert boxed.accuracy == 1.0
    assert avatar.score(frames[:1], expected="sad", device="cpu", judge="expression-net").accuracy == 0.0  # a happy face is not sad
