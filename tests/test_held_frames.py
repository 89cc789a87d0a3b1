"""A held pose costs one frame: the renderer copies a frame whose inputs equal the frame before's (bit for bit the
frame it would have drawn), and the judge reads each distinct frame of a batch once (the same score)."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.emotion import emotion_to_arkit
from avatar.frames import distinct_frames
from renderers.posing import held_frames


def test_held_frames_marks_exact_repeats_of_weights_and_head_pose():
    w = np.zeros((6, 52), np.float32)
    w[2:4, 0] = 0.5                 # frames 2 and 3 hold a new pose
    w[5, 0] = 1e-7                  # any change at all is a new frame
    hp = np.zeros((6, 6))
    hp[4, 1] = 0.1                  # same weights as frame 3, another head pose
    assert held_frames(w).tolist() == [False, True, False, True, False, False]
    assert held_frames(w, hp).tolist() == [False, True, False, True, False, False]
    hp[1, 0] = 0.2
    assert held_frames(w, hp).tolist() == [False, False, False, True, False, False]
    assert held_frames(w[:1]).tolist() == [False]


def test_distinct_frames_groups_equal_pixels_and_boxes():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    img[3] = img[1]
    img[4] = img[0]
    first, inverse = distinct_frames(img)
    assert first.tolist() == [0, 1, 2]
    assert np.array_equal(img[first][inverse], img)
    boxes = np.zeros((5, 4), np.float32)
    boxes[4] = 1.0                  # same pixels, another face box: read again
    first, inverse = distinct_frames(img, boxes)
    assert first.tolist() == [0, 1, 2, 4] and inverse.tolist() == [0, 1, 2, 1, 3]
    one_pixel = img.copy()
    one_pixel[3, 0, 0, 0] ^= 1      # one level on one pixel is another frame
    assert len(distinct_frames(one_pixel)[0]) == 4


@pytest.mark.gl
def test_a_held_pose_renders_the_frames_it_would_have_drawn():
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    happy = emotion_to_arkit("happy", 0.8).astype(np.float32)
    w = np.repeat(happy[None], 9, axis=0)
    w[3:6] *= 0.5                   # hold, change, hold, change back, hold
    hp = np.zeros((9, 6))
    hp[7:, 1] = 0.2                 # the head turns on frame 7 with the weights held
    with GLRenderer(options=RendererOptions(width=96, height=96)) as r:
        frames = list(r.iter_frames(w, hp))
        scribbled = []
        for f in r.iter_frames(w, hp):  # a consumer that draws on each frame as it streams
            scribbled.append(f.copy())
            f[:8] = 255
        each = [r.render(w[i], hp[i]) for i in range(len(w))]
        boxes = [b for _, b in r._frames_and_boxes(w, hp)]
    for i, (a, b) in enumerate(zip(frames, each)):
        assert np.array_equal(a, b), f"frame {i} differs from its own render"
    assert np.array_equal(frames[1], frames[0]) and not np.array_equal(frames[3], frames[2])
    assert not np.array_equal(frames[7], frames[6]), "a head turn with the weights held is a new frame"
    assert np.allclose(boxes[1], boxes[0]) and not np.allclose(boxes[7], boxes[6])
    for i, (a, b) in enumerate(zip(scribbled, frames)):
        assert np.array_equal(a, b), f"frame {i} carries what the consumer drew on an earlier one"
    frames[0][:] = 0                # each repeat is its own copy: a consumer may keep and change a frame it got
    assert frames[1].any() and frames[2].any()


@pytest.mark.gl
def test_the_judge_reads_a_held_clip_as_it_reads_its_frames_one_by_one():
    import avatar

    still = avatar.render(emotion_to_arkit("happy", 0.9), width=128, height=128)
    clip = np.repeat(np.asarray(still)[None], 4, axis=0)
    boxes = np.repeat(np.asarray(still.face_boxes).reshape(1, 4), 4, axis=0)
    judge = avatar.app.facade.default_session().recognizer("fer2013", "cpu", detect_faces=False)
    seen: list[int] = []
    read = judge.recognize

    def counted(x, *rest):
        seen.append(len(x))
        return read(x, *rest)

    judge.recognize = counted
    try:
        held = avatar.score(clip, expected="happy", boxes=boxes, judge=judge)
        one = avatar.score(np.asarray(still)[None], expected="happy", boxes=boxes[:1], judge=judge)
    finally:
        del judge.recognize
    assert seen == [1, 1], "the four equal frames are read once"
    assert held.n == 4 and one.n == 1
    assert held.accuracy == pytest.approx(one.accuracy)
    assert held.mean_expected_prob == pytest.approx(one.mean_expected_prob, abs=1e-6)
    assert held.mean_expected_prob > 0.5, "the judge reads the held happy face as happy"
