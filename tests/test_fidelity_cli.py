"""`emoavatar score` and `emoavatar fidelity` end to end, on real renders and real recognizer weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avatar.app.cli import main

pytestmark = [pytest.mark.gl, pytest.mark.quality]


@pytest.mark.slow
def test_score_rendered_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import avatar

    for i, ident in enumerate((0, 7)):
        avatar.save_image(avatar.render(avatar.pose(emotion="happy"), identity=ident, width=256, height=256), tmp_path / f"h{i}.png")
    out = tmp_path / "score.json"
    code = main(["score", str(tmp_path), "--expected", "happy", "--judge", "fer2013", "-o", str(out),
                 "--confusion", str(tmp_path / "cm.png"), "--no-progress"])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["n"] == 2
    assert (tmp_path / "cm.png").stat().st_size > 0


def test_score_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["score", str(empty), "--expected", "happy", "--no-progress"]) == 2
    assert "holds no images" in capsys.readouterr().err
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    assert main(["score", str(junk), "--expected", "happy", "--no-progress"]) == 2
    assert "not a readable image" in capsys.readouterr().err
    vid = tmp_path / "empty.mp4"
    vid.write_bytes(b"")
    assert main(["score", str(vid), "--expected", "happy", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "empty.mp4" in err
    assert main(["score", str(junk), "--expected", "sleepy", "--no-progress"]) == 2


@pytest.mark.slow
def test_fidelity_small_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fid.json"
    code = main(["fidelity", "--identities", "0", "--views", "front", "--intensities", "1.0", "--size", "192",
                 "--judge", "fer2013", "-o", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "happy" in printed and "accuracy" in printed
    data = json.loads(out.read_text())
    assert data["frames"] == 8
    # FER2013 cannot see contempt; the table says n/a rather than 0.
    assert "n/a" in printed


@pytest.mark.slow
def test_fidelity_takes_the_shading_switches_and_skin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`FidelityConfig.appearance` reaches the renders (cavity shading off only brightens them) and the CLI's
    --no-cavity / --skin are recorded in the report."""
    from avatar.app.fidelity import FidelityConfig, run_fidelity
    from avatar.app.judges import make_recognizer
    from avatar.appearance import Appearance

    class Probe:
        """FER2013, remembering the mean brightness of what it was shown."""

        def __init__(self) -> None:
            self.inner = make_recognizer("fer2013", "cpu", detect_faces=False)
            self.device = self.inner.device
            self.means: list[float] = []

        def __call__(self, x, boxes=None):  # noqa: ANN001, ANN204
            self.means.append(float(x.float().mean()))
            return self.inner(x, boxes=boxes)

    cfg = FidelityConfig(identities=(0,), views=("front",), intensities=(1.0,), emotions=("happy", "anger"),
                         recognizers=("fer2013",), size=128, device="cpu")
    shaded, plain = Probe(), Probe()
    run_fidelity(cfg, recognizers={"fer2013": shaded})
    run_fidelity(FidelityConfig(**{**cfg.__dict__, "appearance": Appearance(cavity=False)}), recognizers={"fer2013": plain})
    assert plain.means[0] > shaded.means[0] + 1e-3  # cavity shading only darkens; off, the same frames are brighter
    out = tmp_path / "fid.json"
    assert main(["fidelity", "--identities", "0", "--views", "front", "--intensities", "1.0", "--size", "96",
                 "--judge", "fer2013", "--no-cavity", "--skin", "dark", "-o", str(out), "--no-progress"]) == 0
    config = json.loads(out.read_text())["config"]
    assert config["skin"] == "dark" and config["appearance"]["cavity"] is False and config["appearance"]["wrinkles"] is True
