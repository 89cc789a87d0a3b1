"""The brow lowerer is one option with one name everywhere: `brow_lowerer=` in Python, `--brow-lowerer` on the command
line, a manifest line's `brow_lowerer`, the playground's `Brow lowerer` slider; 0..2, checked by one rule.

The meaning asserted: at 0 (ICT's own browDown) anger's inner brow heads stay further apart than at the shipped
strength, measured on the posed vertices of the head each interface actually renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.brow_lowerer import BROW_LOWERER, BROW_LOWERER_MAX, check_brow_lowerer
from avatar.errors import AvatarInputError
from avatar.head import LANDMARK68_NAMES


def _anger() -> np.ndarray:
    from generators.expression import expression_weights

    return expression_weights(emotion="anger", intensity=1.0)


def inner_brow_gap(head: Any) -> float:
    """Return the distance (cm) between the inner brow heads of `head` posed as anger at 1.0."""
    v = head.pose(_anger())
    lm = head.landmarks68
    left, right = v[lm[LANDMARK68_NAMES["brow_left_inner"]]], v[lm[LANDMARK68_NAMES["brow_right_inner"]]]
    return float(np.linalg.norm(left - right))


def test_one_check_for_the_strength() -> None:
    assert check_brow_lowerer(None) is None and check_brow_lowerer("0.5") == 0.5 and check_brow_lowerer(2) == 2.0
    assert BROW_LOWERER_MAX == 2.0 and 0 <= BROW_LOWERER <= BROW_LOWERER_MAX
    for bad, needle in (("3", "outside the range: use 0..2"), (-0.1, "outside the range"), ("abc", "must be a number in 0..2"),
                        ("nan", "outside the range"), (True, "must be a number")):
        with pytest.raises(AvatarInputError, match=needle) as info:
            check_brow_lowerer(bad)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("command", ["render", "animate", "sheet"])
def test_cli_flag_builds_the_head_with_that_strength(command: str) -> None:
    """--brow-lowerer 0 gives ICT's own browDown (anger's inner brows further apart); no flag leaves the shipped head."""
    from avatar.app.cli import build_parser
    from avatar.app.cli.common import load_cli_head
    from avatar.head import default_head

    base = {"render": ["render", "--emotion", "anger", "-o", "x.png"], "animate": ["animate", "a.wav", "-o", "x.mp4"],
            "sheet": ["sheet", "-o", "x.png"]}[command]
    p = build_parser()
    assert load_cli_head(p.parse_args(base)) is None  # the shipped head at its default, as before
    off = load_cli_head(p.parse_args([*base, "--brow-lowerer", "0"]))
    half = load_cli_head(p.parse_args([*base, "--brow-lowerer", "0.5"]))
    shipped = default_head()
    assert off is default_head(brow_lowerer=0)
    gaps = inner_brow_gap(off), inner_brow_gap(half), inner_brow_gap(shipped)
    assert gaps[0] > gaps[1] + 0.2 > gaps[2] + 0.4, gaps  # 0.6 cm per unit of strength: 1.92, 1.62, 1.32 cm


@pytest.mark.parametrize("value", ["3", "-1", "abc", "nan"])
def test_cli_bad_value_is_one_line_with_exit_code_2(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.app.cli import main

    out = tmp_path / "x.png"
    with pytest.raises(SystemExit) as info:
        main(["render", "--emotion", "anger", "-o", str(out), "--brow-lowerer", value])
    assert info.value.code == 2 and not out.exists()
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("emoavatar: error: argument --brow-lowerer: "), lines
    assert "0..2" in lines[0]


def test_cli_help_explains_it_in_one_entry() -> None:
    import argparse

    from avatar.app.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("render", "animate", "sheet"):
        action = next(a for a in sub.choices[name]._actions if "--brow-lowerer" in a.option_strings)
        assert action.default is None and action.metavar == "STRENGTH"
        assert "0..2" in action.help and "0 = ICT's own browDown" in action.help and "default 1" in action.help


class _StubRenderer:
    """Stands in for GLRenderer (no GL context): keeps the mesh the session built."""

    def __init__(self, mesh: Any, opts: Any) -> None:
        self.head, self.opts, self.closed = mesh, opts, False

    def close(self) -> None:
        self.closed = True


def test_session_keys_renderers_by_strength(monkeypatch: pytest.MonkeyPatch) -> None:
    """A renderer built at one strength is never handed out for another; None and the shipped strength are one renderer."""
    import renderers.gl
    from avatar.app.session import Session

    monkeypatch.setattr(renderers.gl, "GLRenderer", _StubRenderer)
    s = Session()
    shipped = s.renderer(None, width=64, height=64)
    off = s.renderer(None, width=64, height=64, brow_lowerer=0)
    assert off is not shipped and s.renderer(None, width=64, height=64, brow_lowerer=0) is off
    assert s.renderer(None, width=64, height=64, brow_lowerer=BROW_LOWERER) is shipped
    double = s.renderer(None, width=64, height=64, brow_lowerer=2)
    assert double not in (off, shipped)
    assert inner_brow_gap(off.head) > inner_brow_gap(shipped.head) + 0.4 > inner_brow_gap(double.head) + 0.8
    with_identity = s.renderer(None, identity=7, width=64, height=64, brow_lowerer=0)
    assert inner_brow_gap(with_identity.head) > inner_brow_gap(s.renderer(None, identity=7, width=64, height=64).head) + 0.4
    with pytest.raises(AvatarInputError, match="outside the range"):
        s.renderer(None, brow_lowerer=2.5)
    with pytest.raises(AvatarInputError, match="carries its own shapes"):
        s.renderer(off.head, brow_lowerer=0)  # a head object already has its shapes: no silent stacking
    s.close()


def test_facade_takes_it_where_the_head_options_are() -> None:
    import inspect

    import avatar
    import avatar.app.facade as facade

    for fn in (avatar.render, avatar.contact_sheet, facade.get_renderer):
        assert inspect.signature(fn).parameters["brow_lowerer"].default is None, fn.__name__
    with pytest.raises(AvatarInputError, match="brow_lowerer is 7"):
        avatar.render(width=64, height=64, brow_lowerer=7)


def test_manifest_field_is_validated_and_in_the_digest(tmp_path: Path) -> None:
    from avatar.app.batch.manifest import ManifestError, read_manifest

    rows = [{"emotion": "anger", "output": "a.png"}, {"emotion": "anger", "brow_lowerer": 0, "output": "b.png"},
            {"emotion": "anger", "brow_lowerer": "1", "output": "c.png"}]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    a, b, c = read_manifest(path)
    assert (a.brow_lowerer, b.brow_lowerer, c.brow_lowerer) == (None, 0.0, 1.0)
    assert a.digest() != b.digest() and b.digest() != c.digest()
    # A line without the key keeps the digest it had before the key existed.
    import hashlib

    legacy = a.spec()
    legacy.pop("line")
    legacy.pop("brow_lowerer")
    assert a.digest() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"emotion": "anger", "brow_lowerer": 4, "output": "a.png"}\n'
                   '{"emotion": "anger", "brow_lowerer": "strong", "output": "b.png"}\n'
                   '{"emotion": "anger", "brow_lowerr": 1, "output": "c.png"}\n')
    with pytest.raises(ManifestError) as info:
        read_manifest(bad)
    p = info.value.problems
    assert len(p) == 3 and "line 1: brow_lowerer is 4" in p[0] and "0..2" in p[0]
    assert "line 2: brow_lowerer must be a number" in p[1] and "did you mean 'brow_lowerer'" in p[2]


def test_playground_checks_the_slider_as_every_interface_does() -> None:
    from avatar.app.playground import shading

    assert shading.brow_lowerer_of(None) is None and shading.brow_lowerer_of(0) == 0.0
    with pytest.raises(AvatarInputError, match="0..2"):
        shading.brow_lowerer_of(2.5)


@pytest.mark.slow  # importing gradio takes ~4 s
def test_playground_slider_starts_at_the_shipped_strength() -> None:
    from avatar.app.playground import shading

    pytest.importorskip("gradio")
    import gradio as gr

    with gr.Blocks():
        slider = shading.build_brow_lowerer()
    assert (slider.value, slider.minimum, slider.maximum, slider.label) == (BROW_LOWERER, 0, BROW_LOWERER_MAX, "Brow lowerer")


# ------------------------------------------------------------------------------------------ with GL


@pytest.mark.gl
@pytest.mark.slow  # 2-3.5 s on 2 shared cores; the fast tier has the same meaning without GL (above)
def test_cli_render_at_0_draws_the_brows_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`emoavatar render --emotion anger --brow-lowerer 0` renders ICT's head: the head the CLI's renderer posed has the
    inner brows further apart than the default's, and the brow region of the picture differs."""
    from PIL import Image

    from avatar.app.cli import main
    from avatar.app.session import default_session

    used = {}
    for name, extra in (("default", []), ("off", ["--brow-lowerer", "0"])):
        out = tmp_path / f"{name}.png"
        assert main(["render", "--emotion", "anger", "--size", "96", "-o", str(out), *extra]) == 0
        used[name] = (list(default_session()._renderers.values())[-1].head, np.asarray(Image.open(out).convert("RGB"), int))
    (head_on, img_on), (head_off, img_off) = used["default"], used["off"]
    assert inner_brow_gap(head_off) > inner_brow_gap(head_on) + 0.4
    assert np.abs(img_off - img_on).max() > 20  # a visible change, confined to the face
    assert np.array_equal(img_off[:, :8], img_on[:, :8])  # the background at the edge is untouched
    capsys.readouterr()


@pytest.mark.gl
@pytest.mark.slow
def test_manifest_field_changes_the_output(tmp_path: Path) -> None:
    """A job with brow_lowerer 0 writes the still `avatar.render(..., brow_lowerer=0)` does, not the default one."""
    from PIL import Image

    import avatar
    from avatar.app.batch.manifest import read_manifest
    from avatar.app.batch.worker import run_job

    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"emotion": "anger", "size": 64, "output": "a.png"}) + "\n"
                    + json.dumps({"emotion": "anger", "size": 64, "brow_lowerer": 0, "output": "b.png"}) + "\n")
    for job in read_manifest(path):
        assert run_job(job.spec(), str(tmp_path / "out"), judge=None)["status"] == "ok"
    a, b = (np.asarray(Image.open(tmp_path / "out" / n).convert("RGB")) for n in ("a.png", "b.png"))
    w = _anger()
    assert np.array_equal(b, avatar.render(w, width=64, height=64, brow_lowerer=0))
    assert np.array_equal(a, avatar.render(w, width=64, height=64))
    assert not np.array_equal(a, b)


@pytest.mark.gl
@pytest.mark.slow
def test_playground_fidelity_sweep_follows_the_slider() -> None:
    """The Fidelity tab scores renders at the slider's strength: at 0 the judge reads other pixels than at the shipped
    strength (its probability of anger moves), the summary names the strength, and 3 fails before any render."""
    from avatar.app.playground import fidelity
    from avatar.app.playground.state import Playground

    with Playground(image_size=96) as pg:
        choice = (["anger"], ["1.0"], "0", ["front"], ["fer2013"], 128)
        _, shipped, note_shipped = fidelity.run_sweep(pg, *choice, brow_lowerer=BROW_LOWERER)
        _, off, note_off = fidelity.run_sweep(pg, *choice, brow_lowerer=0)
        assert fidelity.sweep_config(*choice[:-1], 128, "cpu", brow_lowerer=0).brow_lowerer == 0.0
        with pytest.raises(AvatarInputError, match="0..2"):
            fidelity.sweep_config(*choice[:-1], 128, "cpu", brow_lowerer=3)
    assert "Brow lowerer 0 (shipped 1)" in note_off and "Brow lowerer" not in note_shipped
    assert shipped["fer2013"][0] != off["fer2013"][0]  # "accuracy (p anger)" of one frame each: the renders differ


@pytest.mark.gl
@pytest.mark.slow
def test_playground_expression_render_follows_the_slider() -> None:
    """The Expression tab at brow lowerer 0 renders what `avatar.render(..., brow_lowerer=0)` does and says so; the
    slider's start value renders the shipped head without a note."""
    import avatar
    from avatar.app.playground import expression
    from avatar.app.playground.state import Playground

    with Playground(image_size=96) as pg:
        args = ("emotion", "anger", 1.0, 0, 0, "front", 0, 0)
        _, _, shipped, note_shipped, *_ = expression.readout(pg, *args, brow_lowerer=BROW_LOWERER)
        _, _, off, note_off, *_ = expression.readout(pg, *args, brow_lowerer=0)
    w = _anger()
    assert np.array_equal(off, np.asarray(avatar.render(w, width=96, height=96, brow_lowerer=0)))
    assert np.array_equal(shipped, np.asarray(avatar.render(w, width=96, height=96)))
    assert "brow lowerer 0" in note_off and "brow lowerer" not in note_shipped


def test_fidelity_scores_at_the_strength_asked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`emoavatar fidelity --brow-lowerer 0` hands the strength to the sweep's config; a bad one fails before any work."""
    import avatar.app.fidelity as fidelity
    from avatar.app.cli import main

    seen = []

    class _Report:
        def table(self) -> str:
            return "table"

    monkeypatch.setattr(fidelity, "run_fidelity", lambda cfg, progress=True: seen.append(cfg) or _Report())
    assert main(["fidelity", "--brow-lowerer", "0", "--no-progress"]) == 0
    assert main(["fidelity", "--no-progress"]) == 0
    assert [c.brow_lowerer for c in seen] == [0.0, None]
    monkeypatch.undo()
    with pytest.raises(AvatarInputError, match="brow_lowerer is 3"):
        fidelity.run_fidelity(fidelity.FidelityConfig(brow_lowerer=3))
    capsys.readouterr()


@pytest.mark.gl
@pytest.mark.slow
def test_batch_flag_sets_the_jobs_without_their_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`emoavatar batch --brow-lowerer 0`: a line without the key renders at 0, a line with its own keeps it."""
    from PIL import Image

    import avatar
    from avatar.app.cli import main

    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"emotion": "anger", "size": 64, "output": "a.png"}) + "\n"
                    + json.dumps({"emotion": "anger", "size": 64, "brow_lowerer": 1, "output": "b.png"}) + "\n")
    assert main(["batch", str(path), "-o", str(tmp_path / "out"), "--no-score", "--no-progress", "--brow-lowerer", "0"]) == 0
    a, b = (np.asarray(Image.open(tmp_path / "out" / n).convert("RGB")) for n in ("a.png", "b.png"))
    w = _anger()
    assert np.array_equal(a, avatar.render(w, width=64, height=64, brow_lowerer=0))
    assert np.array_equal(b, avatar.render(w, width=64, height=64))
    capsys.readouterr()


def test_portrait_takes_it_only_with_from_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import inspect

    import avatar
    from avatar.app.cli import main

    assert inspect.signature(avatar.portrait).parameters["brow_lowerer"].default is None
    assert main(["portrait", "--emotion", "anger", "--brow-lowerer", "0", "-o", str(tmp_path / "p")]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert lines == ["emoavatar: error: --brow-lowerer shapes the head of the start render: add --from-render"]
    assert not (tmp_path / "p").exists()


@pytest.mark.gl
def test_portrait_start_render_follows_the_strength() -> None:
    """`--from-render --brow-lowerer 0` starts the portrait from ICT's own brows: the start render differs from the
    default's (everywhere a little: the crop follows the face box, which the brows move)."""
    from avatar.app.portrait import render_start
    from generators.portrait.conditions import resolve_condition

    aus = resolve_condition(emotion="anger", intensity=1.0).aus
    shipped, again, off = (render_start(aus, None, 64, 128, brow_lowerer=s) for s in (None, BROW_LOWERER, 0))
    assert np.array_equal(shipped, again) and shipped.shape == off.shape == (64, 64, 3)
    diff = np.abs(shipped.astype(int) - off.astype(int)).sum(-1)
    assert diff.max() > 20
