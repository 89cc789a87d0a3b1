"""One vocabulary: the shared parsers of views, identities and judges, the renamed options, and the one-image score."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from avatar.errors import AvatarInputError

pytestmark = [pytest.mark.gl]


def test_views_parse_presets_yaws_and_mixed_lists() -> None:
    from avatar.views import parse_view, parse_views, view_label, view_yaw

    assert parse_views("front, yaw=20,3/4,-40") == ("front", 20.0, "three-quarter", -40.0)
    assert parse_views(["profile", 15]) == ("profile", 15.0)
    assert parse_view("Three_Quarter") == "three-quarter" and view_yaw("three-quarter") == 35.0
    assert view_label(20) == "yaw=20" and parse_view(view_label(-12.5)) == -12.5
    for bad, needle in (("sideways", "unknown view"), ("yaw=left", "number of degrees"), ("200", "-180..180"), ("", "names no view")):
        with pytest.raises(AvatarInputError, match=needle):
            parse_views(bad)


def test_a_yaw_and_its_preset_give_the_same_camera() -> None:
    from renderers.cameras import Camera, resolve_camera

    assert resolve_camera("yaw=35") == resolve_camera("three-quarter") == resolve_camera(35) == Camera.preset("three-quarter")
    assert resolve_camera("yaw=35") != resolve_camera("front")


def test_identities_one_strict_parser() -> None:
    from avatar.validation import parse_identities

    assert parse_identities("0,7,21") == (0, 7, 21)
    assert parse_identities("101-104") == (101, 102, 103, 104)
    assert parse_identities("3") == (3,) and parse_identities(3) == (3,) and parse_identities([1, 2]) == (1, 2)
    for bad, needle in (("7.9", "'7.9' is not a whole number"), ("-3", "not a whole number"), ("5-2", "backwards"),
                        ("", "names no seed"), ([1.5], "not a seed")):
        with pytest.raises(AvatarInputError, match=needle) as info:
            parse_identities(bad, "--identities")
        assert "\n" not in str(info.value) and "--identities" in str(info.value)


def test_judge_names_resolve_aliases_and_refuse_typos() -> None:
    from avatar.app.judges import parse_judges

    assert parse_judges("fer2013, ours,faceapi,fer2013") == ("fer2013", "expression-net", "face-api")
    assert parse_judges("", allow_empty=True) == ()
    with pytest.raises(AvatarInputError, match="did you mean 'fer2013'"):
        parse_judges("fer2031")


def test_one_background_default_everywhere() -> None:
    import inspect

    import avatar.app.facade as facade
    from avatar.app.cli import build_parser
    from avatar.app.cli.common import parse_colour
    from avatar.app.session import Session
    from avatar.constants import DEFAULT_BACKGROUND
    from renderers.options import RendererOptions

    assert RendererOptions().background == DEFAULT_BACKGROUND
    assert inspect.signature(facade.render).parameters["background"].default == DEFAULT_BACKGROUND
    assert inspect.signature(Session.renderer).parameters["background"].default == DEFAULT_BACKGROUND
    args = build_parser().parse_args(["render", "--emotion", "happy", "-o", "x.png"])
    assert parse_colour(args.background) == DEFAULT_BACKGROUND


def test_old_cli_spellings_still_work_with_one_deprecation_line(capsys: pytest.CaptureFixture[str]) -> None:
    from avatar.app.cli import build_parser

    p = build_parser()
    cases = [
        (["fidelity", "--recognizers", "face-api"], "judge", "face-api", "--recognizers is now --judge"),
        (["score", "x.png", "--recognizer", "face-api"], "judge", "face-api", "--recognizer is now --judge"),
        (["portrait", "-o", "out", "--judges", "fer2013"], "judge", "fer2013", "--judges is now --judge"),
        (["portrait", "-o", "out", "--cfg", "3"], "guidance_scale", 3.0, "--cfg is now --guidance-scale"),
        (["portrait", "-o", "out", "--guidance", "2"], "critic_guidance", 2.0, "--guidance is now --critic-guidance"),
        (["refine", "--emotion", "sad", "--judges", "fer2013"], "judge", "fer2013", "--judges is now --judge"),
        (["render", "--emotion", "sad", "-o", "x.png", "--yaw", "20"], "view", "yaw=20", None),
    ]
    for argv, dest, value, line in cases:
        args = p.parse_args(argv)
        assert getattr(args, dest) == value, argv
        err = capsys.readouterr().err.strip()
        assert err == (f"emoavatar: warning: {line}" if line else ""), argv
    for argv, dest, value in ((["fidelity", "--judge", "face-api"], "judge", "face-api"),
                              (["portrait", "-o", "out", "--guidance-scale", "3"], "guidance_scale", 3.0)):
        assert getattr(p.parse_args(argv), dest) == value
        assert capsys.readouterr().err == ""


def test_python_old_spellings_warn_once_and_conflicts_raise() -> None:
    from avatar.notices import AvatarDeprecationWarning, pick_renamed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pick_renamed("judge=", None, {"recognizer=": "face-api"}) == "face-api"
        assert pick_renamed("critic_guidance=", 0.0, {"guidance=": 3.0}, default=0.0) == 3.0
        assert pick_renamed("judge=", "fer2013", {"recognizer=": None}) == "fer2013"
    assert [str(w.message) for w in caught] == ["recognizer= is now judge=", "guidance= is now critic_guidance="]
    assert all(issubclass(w.category, AvatarDeprecationWarning) and issubclass(w.category, FutureWarning) for w in caught)
    with pytest.raises(AvatarInputError, match="use only judge="), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pick_renamed("judge=", "fer2013", {"recognizer=": "face-api"})


def test_cli_warnings_are_one_line() -> None:
    import io

    from avatar.notices import one_line_warnings, warn

    buf = io.StringIO()
    with one_line_warnings(buf):
        warn("first line of a warning\nsecond line nobody needs")
        warn("first line of a warning\nsecond line nobody needs")
    assert buf.getvalue() == "emoavatar: warning: first line of a warning\n"


@pytest.mark.slow
@pytest.mark.gl
def test_score_of_one_render_is_a_batch_of_one() -> None:
    import avatar

    img = avatar.render(avatar.pose(emotion="happy"), width=128, height=128)
    assert img.shape == (128, 128, 3) and img.face_boxes.shape == (1, 4)
    assert repr(img) == "RenderedFrames(one 128x128 RGB uint8 image, with face box)"
    s = avatar.score(img, expected="happy", judge="expression-net", device="cpu")
    assert s.n == 1 and s.accuracy == 1.0  # our own recognizer reads our happy prototype
    plain = avatar.score(np.asarray(img).copy(), expected="happy", judge="expression-net", device="cpu")
    assert plain.n == 1  # a bare (H, W, 3) array is one image too (found by the face detector)
    with pytest.raises(AvatarInputError, match="2 labels for 1 frame"):
        avatar.score(img, expected=["happy", "sad"], judge="expression-net", device="cpu")


def test_public_api_says_what_it_returns_and_takes() -> None:
    import inspect

    import avatar
    from avatar.app.session import Session

    for fn in (avatar.pose, avatar.render, avatar.score, avatar.animate, avatar.contact_sheet, avatar.portrait,
               Session.renderer, Session.recognizer):
        ret = str(inspect.signature(fn).return_annotation)
        assert ret not in ("Any", "typing.Any", inspect.Signature.empty), f"{fn.__qualname__} returns {ret}"
    assert str(inspect.signature(avatar.render).return_annotation) == "RenderedFrames | torch.Tensor"
    assert str(inspect.signature(avatar.score).return_annotation) == "Score"
    params = inspect.signature(avatar.animate).parameters
    assert {"emotion_track", "method", "life", "articulation", "model"} <= set(params)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())  # no options hidden in **kwargs
    for fn in (avatar.pose, avatar.render, avatar.score, avatar.contact_sheet):
        untyped = [n for n, p in inspect.signature(fn).parameters.items() if p.annotation in ("Any", inspect.Parameter.empty)]
        assert not untyped, f"{fn.__name__}: {untyped} typed as Any"
