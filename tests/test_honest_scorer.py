"""An honest scorer: real-face judges grade by default, every report names its judge, faceless images are counted apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import avatar
from avatar.app.cli import main

pytestmark = [pytest.mark.gl, pytest.mark.quality]

skimage_data = pytest.importorskip("skimage.data")


@pytest.mark.slow
def test_default_judge_reads_the_smiling_astronaut_as_happy() -> None:
    photo = skimage_data.astronaut()  # a real photograph of a smiling person, shipped in scikit-image
    score = avatar.score(photo[None], expected="happy", device="cpu")
    assert score.n == 1 and score.accuracy == 1.0
    assert "fer2013" in score.judge and "real face" in score.judge_trained_on
    assert "judge: fer2013" in str(score)


@pytest.mark.slow
def test_cli_score_names_the_judge_and_counts_faceless_images_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skimage_data.astronaut()).save(folder / "astronaut.png")
    rng = np.random.default_rng(0)
    Image.fromarray(np.full((200, 200, 3), 235, np.uint8)).save(folder / "blank.png")  # no face anywhere
    Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(folder / "noise.png")
    out = tmp_path / "score.json"
    assert main(["score", str(folder), "--expected", "happy", "-o", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "judge: fer2013" in printed and "trained on FER2013" in printed
    assert "no face found in 2 of 3" in printed
    data = json.loads(out.read_text())
    assert data["n_no_face"] == 2 and data["accuracy_on_faces"] == 1.0 and data["judge_trained_on"].startswith("FER2013")


@pytest.mark.slow
def test_render_trained_judge_says_what_it_learned_from() -> None:
    frames = avatar.render(np.stack([avatar.pose(emotion="happy")] * 2), width=128, height=128)
    score = avatar.score(frames, expected="happy", device="cpu", judge="expression-net")
    assert score.judge == "expression-net" and "our own renders" in score.judge_trained_on
