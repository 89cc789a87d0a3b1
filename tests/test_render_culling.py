"""Back-face culling and the lazily read identity modes: faster frames and start-up with the same images and heads."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from renderers.drawn_faces import drawn_faces, two_sided_faces
from avatar.emotion import emotion_to_arkit
from avatar.head import ICT_PARTS, ICT_PATH, _load_ict, default_head
from renderers.gl import GLRenderer
from renderers.options import RendererOptions

pytestmark = [pytest.mark.gl]

ROOT = Path(__file__).resolve().parents[1]
POSES = np.stack([np.zeros(52, np.float32)] + [emotion_to_arkit(e, 1.0).astype(np.float32) for e in ("happy", "surprise", "fear")])
HEAD_POSES = [None, np.array([0.35, 0.3, 0.1, 0.0, 0.0, 0.0]), np.array([-0.4, -0.5, 0.0, 0.0, 1.0, 0.0])]


@pytest.mark.slow
@pytest.mark.parametrize("view", ["front", "three-quarter", "profile"])
def test_backface_culling_leaves_the_images_unchanged(view: str) -> None:
    """Culled and two-sided frames agree but for silhouette fringe samples where the mesh folds (measured: at most 2
    pixels of 65,536 at 256 px): at most 0.05% of pixels may differ, and each frame stays above 50 dB."""
    frames = {}
    for cull in (False, None):
        with GLRenderer(options=RendererOptions(width=256, height=256, camera=view, backface_culling=cull)) as r:
            assert (r._culled > 0) == (cull is None)
            frames[cull] = [r.render(w, hp) for hp in HEAD_POSES for w in POSES]
    for a, b in zip(frames[False], frames[None]):
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(-1)
        assert (diff > 0).mean() <= 5e-4
        mse = float(np.mean((a.astype(np.float64) - b) ** 2))
        assert mse == 0 or 10 * np.log10(255.0 ** 2 / mse) >= 50.0


@pytest.mark.slow
def test_only_the_ict_layouts_closed_parts_are_culled() -> None:
    """On the ICT head the lash cards and the eyeballs (seen from inside through the cornea cut) stay two-sided and
    are drawn after the closed parts, each followed by a copy with the opposite winding (one draw, culled: exactly
    one of the pair faces the camera); a head whose winding is unknown is drawn two-sided unless the caller says otherwise."""
    head = default_head()
    faces = drawn_faces(head)
    both = two_sided_faces(head, faces)
    lash_or_eye = np.zeros(head.num_vertices, bool)
    for part in ("eyelashes", "eyeball_left", "eyeball_right"):
        lash_or_eye[slice(*ICT_PARTS[part])] = True
    assert np.array_equal(both, lash_or_eye[faces].any(1))
    assert 0 < both.sum() < 0.2 * len(faces)
    with GLRenderer(options=RendererOptions(width=64, height=64)) as r:
        assert r._culled == len(faces) - both.sum()
        drawn = np.frombuffer(r.ibo.read(), np.int32).reshape(-1, 3)
        if r._source is not None:  # laid out per draw segment (renderers.draw_order): back to head vertices, reordered
            drawn = r._source[drawn]

        def rows(t: np.ndarray) -> list[tuple[int, ...]]:
            return sorted(map(tuple, t.tolist()))

        assert rows(drawn[:r._culled]) == rows(faces[~both])
        assert rows(drawn[r._culled::2]) == rows(faces[both])
        assert np.array_equal(drawn[r._culled + 1::2], drawn[r._culled::2][:, [0, 2, 1]])
    bare = replace(head, landmarks68=None, name="bare")  # not recognised as ICT: its winding is not known
    assert two_sided_faces(bare, drawn_faces(bare)).all()
    with GLRenderer(bare, RendererOptions(width=64, height=64)) as r:
        assert r._culled == 0 and r._draw_vertices == 3 * len(drawn_faces(bare))  # drawn once, not culled
    with GLRenderer(bare, RendererOptions(width=64, height=64, backface_culling=True)) as r:
        assert r._culled == len(drawn_faces(bare))


@pytest.mark.slow
def test_identity_modes_are_read_on_first_use_and_equal_the_file() -> None:
    """The shipped head holds a loader, not the 100 modes, until an identity asks for them; then they are the file's."""
    head = _load_ict.__wrapped__(str(ICT_PATH))  # a fresh load, not the cached head other tests may have used
    assert callable(head.__dict__["_identity_basis"])
    want = np.load(ICT_PATH)["identity_deltas"].astype(np.float32)
    assert np.array_equal(head.identity_basis, want)
    assert head.__dict__["_identity_basis"] is head.identity_basis  # read once, then kept
    seven = head.with_identity(7)
    coeffs = np.clip(np.random.default_rng(7).standard_normal(len(want)), -2.0, 2.0).astype(np.float32)
    assert np.allclose(seven.neutral, head.generic_neutral + np.tensordot(coeffs, want, axes=1), atol=1e-5)
    assert replace(head, identity_basis=None).identity_basis is None


@pytest.mark.slow
def test_a_default_render_never_reads_the_identity_modes() -> None:
    code = ("import numpy as np; from avatar.head import default_head; from renderers.gl import GLRenderer; from renderers.options import RendererOptions\n"
            "r = GLRenderer(options=RendererOptions(width=32, height=32)); r.render(np.zeros(52, np.float32))\n"
            "print(callable(default_head().__dict__['_identity_basis']))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"


# ------------------------------------------------------------------------------ posing on a worker thread
def test_prefetch_keeps_order_and_every_item_and_raises_the_workers_error() -> None:
    from renderers.prefetch import prefetch

    assert list(prefetch(lambda: iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise ValueError("bad frame 3")

    got = []
    with pytest.raises(ValueError, match="bad frame 3"):
        for x in prefetch(failing):
            got.append(x)
    assert got == [1, 2]


def test_prefetch_stops_its_worker_when_the_consumer_stops() -> None:
    import threading
    import time

    from renderers.prefetch import prefetch

    made = []

    def endless():
        i = 0
        while True:
            made.append(i)
            yield i
            i += 1

    it = prefetch(endless, depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    time.sleep(0.2)
    count = len(made)
    time.sleep(0.2)
    assert len(made) == count <= 3 + 2 + 1  # at most depth items (and the one being put) beyond what was taken
    assert not any(t.name == "emoavatar-prefetch" and t.is_alive() for t in threading.enumerate())


@pytest.mark.slow
def test_frames_posed_on_the_worker_equal_frames_posed_in_turn() -> None:
    """iter_frames (posing on the worker) gives the same pixels as rendering each frame alone, in order, with the
    face boxes of the same poses, with head poses and with the numpy and the compute-shader posing."""
    weights = np.repeat(POSES, 3, axis=0)
    head_pose = np.tile(np.array([[0.0, 0.1, 0.0, 0.0, 0.0, 0.0], [0.2, -0.2, 0.1, 0.5, 0.0, 0.0]]), (6, 1))
    with GLRenderer(options=RendererOptions(width=96, height=96, gpu_pose=False)) as r:
        # The same frames drawn one at a time by `render` (the same FramePoser formulas, no worker thread).
        alone = np.stack([r.render(w, hp) for w, hp in zip(weights, head_pose)])
        result = r.render_sequence(weights, head_pose)
        assert np.array_equal(result.images, alone)
        assert np.allclose(result.face_boxes, r.face_boxes(weights, head_pose), atol=1e-4)
        frames = r.iter_frames(weights)
        first = next(frames)
        frames.close()  # a consumer that stops early leaves the renderer usable
        assert np.array_equal(first, r.render(weights[0]))
