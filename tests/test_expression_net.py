"""ExpressionNet: the architecture from a tiny config, a differentiable crop, and the shipped weights reading our renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar.emotion import EMOTIONS
from recognizers.expression_net import WEIGHTS_PATH, ExpressionNet, ExpressionNetRecognizer
from recognizers.faces import crop_faces, crop_matrices

pytestmark = [pytest.mark.gl]


@pytest.mark.slow
def test_tiny_model_from_config_round_trips(tmp_path) -> None:
    torch.manual_seed(0)
    net = ExpressionNet(input_size=32, widths=(8, 16)).eval()
    x = torch.rand(2, 3, 32, 32)
    logits, arkit, va = net(x)
    assert logits.shape == (2, 8) and arkit.shape == (2, 52) and va.shape == (2, 2)
    assert float(arkit.min()) >= 0 and float(arkit.max()) <= 1 and float(va.abs().max()) <= 1
    net.save_pretrained(tmp_path / "tiny")
    assert (tmp_path / "tiny" / "config.json").is_file() and (tmp_path / "tiny" / "diffusion_pytorch_model.safetensors").is_file()
    again = ExpressionNet.from_pretrained(tmp_path / "tiny")
    assert list(again.config["widths"]) == [8, 16]
    torch.testing.assert_close(again(x)[0], logits, rtol=0, atol=0)


@pytest.mark.slow
def test_missing_face_boxes_give_nan_rows() -> None:
    torch.manual_seed(0)
    rec = ExpressionNetRecognizer(ExpressionNet(input_size=32, widths=(8, 16)), device="cpu")
    images = np.zeros((2, 64, 64, 3), np.uint8)
    result = rec(images, boxes=np.array([[8, 8, 56, 56], [np.nan] * 4], np.float32)).to_numpy()
    assert not np.isnan(result.emotion_probs[0]).any() and np.isnan(result.emotion_probs[1]).all()
    assert result.labels[1] is None and result.face_found.tolist() == [True, False]


def test_crop_is_exact_and_differentiable() -> None:
    img = torch.zeros(1, 3, 64, 64)
    img[:, :, 16:48, 16:48] = 1.0  # a white square in the middle
    crop = crop_faces(img, torch.tensor([[16.0, 16.0, 48.0, 48.0]]), 32, margin=0.0)
    assert float(crop.mean()) > 0.95  # the crop sees only the square
    img.requires_grad_(True)
    crop_faces(img, torch.tensor([[8.0, 8.0, 56.0, 56.0]]), 24, margin=0.0).sum().backward()
    assert img.grad is not None and float(img.grad.abs().sum()) > 0
    # A tall box is cropped as the square around its centre: x from -5 to 15, y from 0 to 20.
    m = crop_matrices([[0.0, 0.0, 10.0, 20.0]], 20, 0.0)[0]
    corners = m @ np.array([[-0.5, -0.5, 1.0], [19.5, 19.5, 1.0]]).T + 0.5
    assert np.allclose(corners.T, [[-5.0, 0.0], [15.0, 20.0]])


@pytest.mark.slow
@pytest.mark.skipif(not (WEIGHTS_PATH / "config.json").is_file(), reason="ExpressionNet weights not trained yet")
def test_shipped_weights_read_unseen_faces_far_above_chance() -> None:
    import avatar
    from avatar.head import default_head
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    rec = ExpressionNetRecognizer.from_default(device="cpu")
    weights = np.stack([avatar.pose(emotion=e, intensity=1.0) for e in EMOTIONS])
    base = default_head()
    correct = total = 0
    with GLRenderer(base, RendererOptions(width=192, height=192)) as r:
        # Identities 80 and 95 are outside the training identities (0-69); one view is beyond training yaw.
        for ident, view in ((80, "front"), (95, "three-quarter"), (0, "front")):
            r.set_head(base.with_identity(ident) if ident else base)
            r.set_camera(view)
            result = rec(r.render(weights), boxes=r.face_boxes(weights))
            correct += sum(a == b for a, b in zip(result.labels, EMOTIONS))
            total += len(EMOTIONS)
            assert result.arkit.shape == (8, 52)
    assert correct / total >= 0.75  # chance is 1/8


@pytest.mark.slow
@pytest.mark.skipif(not (WEIGHTS_PATH / "config.json").is_file(), reason="ExpressionNet weights not trained yet")
def test_arkit_and_va_estimates_follow_the_pose() -> None:
    import avatar
    from avatar.rig import index_of

    rec = ExpressionNetRecognizer.from_default(device="cpu")
    from avatar.app.facade import get_renderer

    r = get_renderer(width=192, height=192)
    w = np.stack([avatar.pose(emotion="happy"), avatar.pose(emotion="sad"), avatar.pose(emotion="surprise")])
    res = rec(r.render(w), boxes=r.face_boxes(w)).to_numpy()
    smile = index_of("mouthSmileLeft")
    assert res.arkit[0, smile] > res.arkit[1, smile] + 0.3  # the happy face smiles, the sad one does not
    assert res.arkit[2, index_of("jawOpen")] > res.arkit[0, index_of("jawOpen")]  # surprise drops the jaw
    assert res.valence[0] > 0.3 and res.valence[1] < -0.2  # happy positive, sad negative


def test_aus_come_from_the_arkit_estimate() -> None:
    from avatar.facs import AU_LABELS
    from avatar.facs_inverse import arkit_to_au_vector

    torch.manual_seed(0)
    rec = ExpressionNetRecognizer(ExpressionNet(input_size=32, widths=(8, 16)), device="cpu")
    images = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    result = rec(images, boxes=np.array([[8, 8, 56, 56], [np.nan] * 4], np.float32)).to_numpy()
    assert result.au_names == AU_LABELS and result.aus.shape == (2, len(AU_LABELS))
    np.testing.assert_allclose(result.aus[0], arkit_to_au_vector(result.arkit[0]), atol=1e-6)
    assert np.isnan(result.aus[1]).all() and np.isnan(result.arkit[1]).all() and np.isnan(result.valence[1])
