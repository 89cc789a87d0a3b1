"""The differentiable renderer matches the GL renderer, and its gradients match finite differences."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.gl]

torch = pytest.importorskip("torch")

from avatar.emotion import emotion_to_arkit  # noqa: E402
from avatar.errors import AvatarInputError, ShapeError  # noqa: E402
from avatar.head import default_head  # noqa: E402
from avatar.rig import index_of  # noqa: E402
from renderers.differentiable import DifferentiableHead, DifferentiableRenderer, Fragments, psnr  # noqa: E402
from renderers.gl import GLRenderer  # noqa: E402
from renderers.options import RendererOptions  # noqa: E402

SIZE = 256
VIEWS = ("front", "three-quarter", "profile")
EXPRESSIONS = {
    "neutral": np.zeros(52, np.float32),
    "happy": emotion_to_arkit("happy", 1.0),
    "surprise": emotion_to_arkit("surprise", 1.0),
    "anger": emotion_to_arkit("anger", 1.0),
}


@pytest.fixture(scope="module")
def renderers_no_aa():
    """GL and differentiable renderers at 256x256 without anti-aliasing (samples=0)."""
    opts = RendererOptions(width=SIZE, height=SIZE, samples=0)
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts, device="cpu") as diff:
        yield gl, diff


@pytest.fixture(scope="module")
def diff64():
    """A float64 renderer at 128x128 for finite-difference checks with coverage held fixed: the edge pass is off,
    since its derivative describes edges moving, which held coverage forbids (tests/test_edge_gradients.py)."""
    with DifferentiableRenderer(options=RendererOptions(width=128, height=128, samples=0), dtype=torch.float64,
                                antialias_edges="off") as r:
        yield r


def _as_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / 255.0


@pytest.mark.slow
@pytest.mark.parametrize("view", VIEWS)
def test_matches_gl_without_antialiasing(renderers_no_aa, view: str) -> None:
    gl, diff = renderers_no_aa
    gl.set_camera(view)
    diff.set_camera(view)
    batch = np.stack(list(EXPRESSIONS.values()))
    with torch.no_grad():
        ours = diff(torch.from_numpy(batch)).permute(0, 2, 3, 1).numpy()
    assert ours.shape == (len(batch), SIZE, SIZE, 3) and ours.dtype == np.float32
    assert 0.0 <= ours.min() and ours.max() <= 1.0
    for i, name in enumerate(EXPRESSIONS):
        db = psnr(ours[i], _as_float(gl.render(batch[i])))
        # Same coverage, same formulas: only GL's 8-bit rounding differs (~58 dB measured).
        assert db >= 30.0, f"{view}/{name}: {db:.1f} dB"
        assert db >= 50.0, f"{view}/{name}: {db:.1f} dB (expected quantisation-level agreement)"


@pytest.mark.slow
def test_matches_gl_with_antialiasing() -> None:
    """samples=4: GL's 4x MSAA against our 2x2 supersampling; edges differ a little (~39 dB measured)."""
    opts = RendererOptions(width=SIZE, height=SIZE, samples=4, camera="three-quarter")
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts) as diff:
        assert diff.supersample == 2
        w = EXPRESSIONS["happy"]
        with torch.no_grad():
            ours = diff(torch.from_numpy(w))[0].permute(1, 2, 0).numpy()
        assert psnr(ours, _as_float(gl.render(w))) >= 30.0


@pytest.mark.slow
def test_transparent_background_gives_rgba_with_coverage_alpha() -> None:
    opts = RendererOptions(width=64, height=64, samples=0, background=None)
    with GLRenderer(options=opts) as gl, DifferentiableRenderer(options=opts) as diff:
        with torch.no_grad():
            ours = diff(torch.zeros(52))
        theirs = gl.render(np.zeros(52, np.float32))
    assert ours.shape == (1, 4, 64, 64)
    assert np.array_equal(ours[0, 3].numpy() > 0.5, theirs[..., 3] > 127)


@pytest.mark.slow
def test_batch_of_two_equals_two_singles(renderers_no_aa) -> None:
    _, diff = renderers_no_aa
    diff.set_camera("front")
    w = torch.from_numpy(np.stack([EXPRESSIONS["happy"], EXPRESSIONS["anger"]]))
    pose = torch.tensor([[0.05, -0.1, 0.0, 0.0, 0.5, 0.0], [0.0, 0.2, 0.05, -0.5, 0.0, 1.0]])
    ident = torch.tensor([[0.5, -1.0, 0.3], [-0.7, 0.2, 1.1]])
    with torch.no_grad():
        both = diff(w, ident, pose)
        singles = torch.cat([diff(w[i], ident[i], pose[i]) for i in range(2)])
    assert both.shape == (2, 3, SIZE, SIZE)
    # Batched matmuls round differently from single ones (1 ulp measured); coverage is identical.
    assert torch.allclose(both, singles, rtol=0, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(renderers_no_aa) -> None:
    _, cpu = renderers_no_aa
    cpu.set_camera("front")
    w = torch.from_numpy(EXPRESSIONS["surprise"])
    with DifferentiableRenderer(options=cpu.options, device="cuda") as gpu, torch.no_grad():
        out = gpu(w.cuda())
        assert out.device.type == "cuda"
        assert psnr(out, cpu(w)) >= 50.0


def test_fragments_are_documented_shapes(renderers_no_aa) -> None:
    _, diff = renderers_no_aa
    diff.set_camera("front")
    verts = diff.pose_head(torch.zeros(2, 52))
    frags = diff.rasterize(verts)
    assert isinstance(frags, Fragments)
    assert frags.pix_to_face.shape == (2, SIZE, SIZE) and frags.pix_to_face.dtype == torch.int64
    assert frags.bary.shape == (2, SIZE, SIZE, 3) and frags.bary.dtype == torch.float32
    covered = frags.mask
    sums = frags.bary.sum(-1)
    assert torch.allclose(sums[covered], torch.ones(()), atol=1e-4) and bool((sums[~covered] == 0).all())
    # Inside the triangle GL chose, barycentrics are non-negative up to GL's sub-pixel snapping: the two agree on coverage.
    assert float(frags.bary[covered].min()) > -1e-2


def test_pose_matches_numpy_head() -> None:
    head = default_head()
    diff_head = DifferentiableHead(head)
    w = EXPRESSIONS["happy"]
    coeffs = np.array([0.8, -0.5, 1.2, 0.0, 0.3], np.float32)
    pose = np.array([0.1, -0.3, 0.05, 1.0, -2.0, 0.5], np.float32)
    expected = head.with_identity(coeffs).pose(w, pose)
    got = diff_head(torch.from_numpy(w), torch.from_numpy(coeffs), torch.from_numpy(pose))[0].numpy()
    assert np.abs(got - expected).max() < 1e-4


# ---------------------------------------------------------------- gradients
def _face_crop_loss(renderer: DifferentiableRenderer, weights, identity, pose, pix_to_face=None):
    """Return (loss, pix_to_face): the mean colour of a crop inside the face (cheeks, nose, mouth; no silhouette)."""
    verts = renderer.pose_head(weights, identity, pose)
    frags = renderer.rasterize(verts, pix_to_face)
    img = renderer.shade(verts, frags)
    return img[:, :, 56:104, 44:84].mean(), frags.pix_to_face


def _central_differences(renderer, args, which: int, columns, eps: float, pix_to_face) -> np.ndarray:
    out = []
    for k in columns:
        plus = [a.clone() for a in args]
        minus = [a.clone() for a in args]
        plus[which][0, k] += eps
        minus[which][0, k] -= eps
        lp, _ = _face_crop_loss(renderer, *plus, pix_to_face)
        lm, _ = _face_crop_loss(renderer, *minus, pix_to_face)
        out.append(float(lp - lm) / (2 * eps))
    return np.array(out)


def _pore_kinks_straddled(renderer: DifferentiableRenderer, args, which: int, k: int, eps: float, pix_to_face) -> int:
    """Return how many skin pixels of the crop cross a kink of the pores' tilt between the -eps and +eps evaluations:
    a face of the value noise's lattice (its gradient, the tilt, is continuous there but its derivative jumps: the
    cubic fade's 6 f (1 - f)) or the edge of a pit (the clamp at PORE_LEVEL)."""
    from renderers import shading

    def kinks(w, ident, pose):
        frags = renderer.rasterize(renderer.pose_head(w, ident, pose), pix_to_face)
        p2f, bary = frags.pix_to_face[0, 56:104, 44:84], frags.bary[0, 56:104, 44:84]
        on_head = (p2f >= 0) & (p2f < renderer.faces.shape[0])
        tri, b = renderer.faces[p2f[on_head]], bary[on_head][..., None]
        cell = (renderer.skin_rest[tri] * b).sum(1) / shading.PORE_CELL_CM
        value, _ = shading.value_noise_torch(cell)
        return cell.floor(), value < shading.PORE_LEVEL, (renderer.skin_material[tri, 0] * b[..., 0]).sum(1) > 0

    plus = [a.clone() for a in args]
    minus = [a.clone() for a in args]
    plus[which][0, k] += eps
    minus[which][0, k] -= eps
    (cell_p, pit_p, skin), (cell_m, pit_m, _) = kinks(*plus), kinks(*minus)
    return int((((cell_p != cell_m).any(-1) | (pit_p != pit_m)) & skin).sum())


# Relative tolerance on the gradient vector (||autograd - fd|| / ||fd||), float64, eps = 1e-6, coverage held
# fixed (the image is smooth in the vertices then, but for the pores' kinks: see the test; coverage changes carry no
# gradient by design). Measured with the skin's defaults: 8.8e-8 (weights), 3.1e-8 (identity), 1.7e-6 (head pose).
GRAD_RTOL = 1e-4


@pytest.mark.parametrize("which,columns", [
    (0, [index_of("mouthSmileLeft"), index_of("jawOpen"), index_of("browInnerUp"), index_of("cheekPuff")]),
    (1, [0, 1, 2, 7]),
    (2, [0, 1, 2, 3, 4, 5]),
], ids=["weights", "identity", "head_pose"])
@pytest.mark.slow
def test_gradients_match_central_differences(diff64, which: int, columns: list[int]) -> None:
    weights = torch.zeros(1, 52, dtype=torch.float64)
    weights[0, index_of("mouthSmileLeft")] = 0.3
    weights[0, index_of("jawOpen")] = 0.2
    identity = torch.tensor([[0.5, -0.3, 0.2, 0.0, 0.0, 0.0, 0.0, 0.4]], dtype=torch.float64)
    # The pores tilt the normal by the gradient of value noise on the rest position (renderers.shading): the image is
    # continuous but its slope jumps where a pixel's rest point crosses a face of the noise's lattice or a pit's edge,
    # and where the tilted normal crosses a light's wrap clamp (as dense as the pores). A rotation of 1e-6 rad slides
    # the rest point under a pixel by ~1e-4 of a cell, so at some poses a few of the crop's pixels straddle a kink
    # within +-eps and the central difference averages two slopes: pitch 0.05 read 4.3e-3 off, from one pixel 7e-8 rad
    # from a lattice face (autograd is right on its side). This point has no lattice or pit crossing for any checked
    # column (asserted below, so a change to the noise that moves one under the crop says so) and reads 1.7e-6.
    pose = torch.tensor([[0.065, 0.1, -0.03, 0.2, -0.1, 0.3]], dtype=torch.float64)
    args = [weights, identity, pose]
    leaves = [a.clone().requires_grad_() for a in args]
    loss, pix_to_face = _face_crop_loss(diff64, *leaves)
    loss.backward()
    analytic = leaves[which].grad[0, columns].numpy()
    crossings = [_pore_kinks_straddled(diff64, args, which, k, 1e-6, pix_to_face) for k in columns]
    assert not any(crossings), f"pick another point: the finite differences straddle a pore kink {crossings}"
    numeric = _central_differences(diff64, args, which, columns, 1e-6, pix_to_face)
    assert np.all(np.abs(numeric) > 0), "the chosen parameters should change the crop"
    rel = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
    assert rel < GRAD_RTOL, f"relative error {rel:.2e}: autograd {analytic}, central differences {numeric}"


@pytest.mark.slow
def test_smile_raises_the_mouth_corners_in_the_image(renderers_no_aa) -> None:
    """The lip colour near each mouth corner moves up the image as the smile grows, and its gradient says so."""
    _, diff = renderers_no_aa
    diff.set_camera("front")
    head = diff.head
    corners = diff.camera.project(head.landmarks(head.neutral)[[48, 54]], SIZE, SIZE)

    def lip_row(img: torch.Tensor) -> torch.Tensor:
        """Return the mean over both corners of the row weighted by redness above the window's median (the lips
        against the skin around them; smaller = higher in the image)."""
        rows = []
        for cx, cy in np.round(corners).astype(int):
            win = img[0, :, cy - 12:cy + 12, cx - 6:cx + 6]
            redness = win[0] - win[1]
            red = (redness - redness.detach().median()).clamp_min(0)
            r = torch.arange(cy - 12, cy + 12, dtype=img.dtype)[:, None]
            rows.append((red * r).sum() / red.sum())
        return torch.stack(rows).mean()

    smile = [index_of("mouthSmileLeft"), index_of("mouthSmileRight")]
    heights = []
    for s in (0.0, 0.5):
        w = torch.zeros(1, 52)
        w[0, smile] = s
        w.requires_grad_()
        row = lip_row(diff(w))
        row.backward()
        heights.append(row.item())
        assert bool((w.grad[0, smile] < 0).all()), f"smile {s}: d(row)/d(smile) = {w.grad[0, smile].tolist()}"
    assert heights[1] < heights[0] - 0.5


def test_bad_inputs_raise_one_line_errors(renderers_no_aa) -> None:
    _, diff = renderers_no_aa
    with pytest.raises(ShapeError, match="weights must have shape"):
        diff(torch.zeros(3, 51))
    with pytest.raises(ShapeError, match="head_pose"):
        diff(torch.zeros(52), head_pose=torch.zeros(5))
    with pytest.raises(ShapeError, match="identity"):
        diff(torch.zeros(52), identity=torch.zeros(101))
    with pytest.raises(AvatarInputError, match="unknown rasterizer"):
        DifferentiableRenderer(options=RendererOptions(width=32, height=32), rasterizer="vulkan")


def test_pytorch3d_missing_gives_install_hint() -> None:
    from avatar.errors import SetupError
    from renderers.pytorch3d_raster import pytorch3d_available

    if pytorch3d_available():
        pytest.skip("pytorch3d is installed")
    with pytest.raises(SetupError, match="pip install"):
        DifferentiableRenderer(options=RendererOptions(width=32, height=32), rasterizer="pytorch3d")


def test_pytorch3d_backend_matches_gl_backend() -> None:
    pytest.importorskip("pytorch3d")
    opts = RendererOptions(width=128, height=128, samples=0, camera="three-quarter")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    w = torch.from_numpy(EXPRESSIONS["happy"])
    with DifferentiableRenderer(options=opts, device=device) as gl, \
            DifferentiableRenderer(options=opts, device=device, rasterizer="pytorch3d") as p3d:
        with torch.no_grad():
            assert psnr(p3d(w), gl(w)) >= 30.0
