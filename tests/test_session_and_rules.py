"""The facade's visible state (Session), data computed once (boxes and labels ride on frames), rules in one place."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import avatar
from avatar.errors import AvatarInputError

pytestmark = [pytest.mark.gl, pytest.mark.speech]


@pytest.mark.slow
def test_session_is_bounded_and_closes_what_it_drops() -> None:
    with avatar.Session(max_renderers=2) as s:
        a = s.renderer(width=64, height=64)
        b = s.renderer(width=64, height=64, view="profile")
        assert s.renderer(width=64, height=64) is a  # reused, not rebuilt
        c = s.renderer(width=80, height=80)
        assert b.ctx is None and a.ctx is not None and c.ctx is not None  # least recently used (b) was closed
    assert a.ctx is None and c.ctx is None  # closing the session releases the rest


@pytest.mark.slow
def test_a_held_renderer_is_never_re_aimed() -> None:
    with avatar.Session() as s:
        front = s.renderer(width=64, height=64, view="front")
        eye = front.camera.eye
        profile = s.renderer(width=64, height=64, view="profile")
        assert profile is not front and front.camera.eye == eye


@pytest.mark.slow
def test_rendered_frames_carry_boxes_and_labels_that_score_uses() -> None:
    emotions = ["happy", "surprise", "happy", "surprise"]
    seq = avatar.ExpressionSequence(np.stack([avatar.pose(emotion=e) for e in emotions]), fps=10, labels=emotions)
    frames = avatar.render(seq, width=256, height=256)
    assert frames.face_boxes.shape == (4, 4) and frames.labels == emotions
    # The boxes come from the poses the frames were made from: the same as asking the renderer separately.
    r = avatar.app.facade.get_renderer(width=256, height=256)
    np.testing.assert_allclose(frames.face_boxes, r.face_boxes(seq.weights), atol=1e-4)
    sub = frames[1:3]
    assert sub.labels == emotions[1:3] and np.array_equal(sub.face_boxes, frames.face_boxes[1:3])
    # A single frame is one image that keeps its own box and label: score reads it as a batch of one.
    assert frames[0].ndim == 3 and np.array_equal(frames[0].face_boxes, frames.face_boxes[:1]) and frames[0].labels == emotions[:1]
    assert frames[0][..., :3].__class__ is np.ndarray  # a crop of channels: the boxes no longer apply
    score = avatar.score(frames, device="cpu", judge="expression-net")  # no expected=: the labels; no detector: the boxes
    assert score.n == 4 and score.accuracy == 1.0
    with pytest.raises(AvatarInputError, match="expected"):
        avatar.score(np.asarray(frames), device="cpu")


def test_one_rule_for_files_without_a_frame_rate(tmp_path: Path) -> None:
    doc = {"format": "emoavatar.sequence", "version": 1, "frames": [[0.0] * 52] * 3}
    (tmp_path / "x.json").write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="reading at 60 fps"):
        assert avatar.ExpressionSequence.load(tmp_path / "x.json").fps == 60
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert avatar.ExpressionSequence.load(tmp_path / "x.json", fps=25).fps == 25  # taken as the file's rate
    np.savez(tmp_path / "x.npz", weights=np.zeros((3, 52), np.float32))
    with pytest.warns(UserWarning, match="reading at 60 fps"):
        assert avatar.ExpressionSequence.load(tmp_path / "x.npz").fps == 60


@pytest.mark.parametrize("bad", [True, float("nan"), -0.1, 1.5, "lots"])
def test_intensity_is_checked_the_same_everywhere(bad) -> None:
    from avatar.emotion import Emotion
    from avatar.facs import ActionUnits
    from generators.expression import expression_weights

    for call in (lambda: Emotion("happy", bad), lambda: ActionUnits({"AU12": bad}), lambda: expression_weights("happy", intensity=bad),
                 lambda: avatar.contact_sheet(emotions=("happy",), intensities=(bad,), cell=32)):
        with pytest.raises(AvatarInputError) as e:
            call()
        assert repr(bad) in str(e.value) and "\n" not in str(e.value)


def test_exported_glb_reimports_with_its_colours(tmp_path: Path) -> None:
    from avatar.appearance import Appearance, paint_head
    from avatar.head import default_head
    from avatar.io.headfile import load_head

    head = default_head()
    seq = avatar.ExpressionSequence(np.zeros((2, 52), np.float32))
    seq.save(tmp_path / "h.glb", appearance=Appearance(skin="dark"))
    back = load_head(tmp_path / "h.glb")
    assert back.vertex_colors is not None
    np.testing.assert_allclose(back.vertex_colors, paint_head(head, Appearance(skin="dark")), atol=2e-3)
    assert back.is_ict  # the same mesh layout is recognised by topology, not by its name
    assert back.name != head.name


def test_a_user_head_without_ict_layout_shows_its_own_colours() -> None:
    from avatar.appearance import paint_head
    from avatar.head import default_head

    h = default_head()
    tris = h.faces[:100]
    used = np.unique(tris)
    remap = np.full(h.num_vertices, -1)
    remap[used] = np.arange(len(used))
    from avatar.head import BlendshapeHead

    colours = np.tile(np.float32([0.1, 0.5, 0.9]), (len(used), 1))
    small = BlendshapeHead(neutral=h.neutral[used], faces=remap[tris], deltas=h.deltas[:, used], present=h.present,
                           face_material=np.zeros(len(tris), np.int16), name="ict-facekit", vertex_colors=colours)
    assert not small.is_ict  # named like ICT, but not its mesh
    np.testing.assert_allclose(paint_head(small), colours)


def test_animate_closes_the_lips_of_the_head_it_is_given() -> None:
    from avatar.head import default_head
    from generators.speech.talking import _lip_model
    from generators.speech.visemes import LipModel

    h = default_head(21)
    assert np.allclose(_lip_model(h).offset, LipModel.from_head(h).offset)
    assert not np.allclose(LipModel.from_head(h).offset, LipModel.from_head(default_head()).offset)
    bare = default_head()
    from dataclasses import replace

    with pytest.warns(UserWarning, match="landmarks"):
        assert _lip_model(replace(bare, landmarks68=None)) is None
