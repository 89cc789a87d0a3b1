"""The portrait cascade: v-prediction sampling and guidance, the 2x upsampler stage, older 64 px folders, colour casts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.portrait_toys import critic_scores, seeded

pytest.importorskip("diffusers")


def tiny_cascade(size: int = 16, upsample: bool = True, prediction_type: str = "v_prediction") -> Any:
    """Return a seeded PortraitPipeline: a tiny random UNet, a v-prediction zero-SNR DPM-Solver++ and a tiny upsampler."""
    from diffusers import DPMSolverMultistepScheduler

    from generators.portrait import AUConditionedUNet, PortraitPipeline
    from generators.portrait.models.upsampler import PortraitUpsampler

    torch.manual_seed(0)
    unet = AUConditionedUNet(sample_size=size, block_out_channels=(8, 16), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                             up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4, attention_head_dim=8, condition_hidden=16)
    zero_snr = prediction_type == "v_prediction"
    sched = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", algorithm_type="dpmsolver++",
                                        prediction_type=prediction_type, rescale_betas_zero_snr=zero_snr,
                                        timestep_spacing="trailing" if zero_snr else "linspace", thresholding=True, sample_max_value=1.0)
    up = None
    if upsample:
        up = PortraitUpsampler(channels=8, num_blocks=1)
        with torch.no_grad():
            up.tail.weight.normal_(0, 0.05)  # a non-trivial stage: an untrained one is exactly bilinear
    pipe = PortraitPipeline(unet=unet, scheduler=sched, upsampler=up)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_x0_from_the_unet_output_inverts_for_both_targets(prediction_type: str) -> None:
    from generators.portrait.pipeline import output_from_x0, predicted_x0

    g = seeded(1)
    x0, eps = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, torch.randn(2, 3, 4, 4, generator=g)
    for a in (torch.tensor(0.999), torch.tensor(0.3), torch.tensor(2.0 ** -24)):  # clean end, middle, the zero-SNR end
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        target = eps if prediction_type == "epsilon" else a.sqrt() * eps - (1 - a).sqrt() * x0
        if prediction_type == "v_prediction" or a > 0.01:  # epsilon cannot give x0 where the image is all noise
            assert torch.allclose(predicted_x0(target, xt, a, prediction_type), x0, atol=1e-4)
        assert torch.allclose(output_from_x0(x0, xt, a, prediction_type), target, atol=1e-4)


def test_untrained_upsampler_is_bilinear_and_shapes_are_checked() -> None:
    from avatar.errors import ShapeError
    from generators.portrait.models.upsampler import PortraitUpsampler

    up = PortraitUpsampler(channels=8, num_blocks=1)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    want = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up(x), want)
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        up(torch.rand(3, 8, 8))


@pytest.mark.slow
def test_cascade_samples_at_twice_the_unet_size_and_round_trips(tmp_path: Path) -> None:
    from generators.portrait.loading import load_portrait_pipeline

    pipe = tiny_cascade()
    assert pipe.output_size == 32
    a = pipe(emotion="happy", num_images_per_prompt=2, num_inference_steps=4, generator=seeded(), output_type="np")
    assert a.images.shape == (2, 32, 32, 3) and a.images.std() > 0.01
    pil = pipe(emotion="sad", num_inference_steps=2, generator=seeded()).images
    assert pil[0].size == (32, 32)
    assert pipe.scheduler.timesteps[0] == 999  # trailing spacing: sampling starts where the SNR is zero
    pipe.save_pretrained(tmp_path / "p")
    index = json.loads((tmp_path / "p" / "model_index.json").read_text())
    assert index["upsampler"] == ["generators.portrait.models.upsampler", "PortraitUpsampler"]
    again = load_portrait_pipeline(tmp_path / "p")
    b = again(emotion="happy", num_images_per_prompt=2, num_inference_steps=4, generator=seeded(), output_type="np")
    assert np.allclose(a.images, b.images, atol=1e-5)  # reloaded in eval mode: kernels may differ in the last bits
    # The stage runs after sampling: with it at its bilinear start, the cascade's images are the base's, enlarged.
    base = tiny_cascade(upsample=False)
    c = base(emotion="happy", num_images_per_prompt=2, num_inference_steps=4, generator=seeded(), output_type="pt").images
    with torch.no_grad():
        pipe.upsampler.tail.weight.zero_()
    d = pipe(emotion="happy", num_images_per_prompt=2, num_inference_steps=4, generator=seeded(), output_type="pt").images
    assert c.shape[-1] == 16 and d.shape[-1] == 32
    assert torch.allclose(d, torch.nn.functional.interpolate(c * 2 - 1, scale_factor=2, mode="bilinear").add(1).div(2), atol=1e-5)


@pytest.mark.slow
def test_older_64px_folders_still_load_without_an_upsampler(tmp_path: Path) -> None:
    from generators.portrait.loading import load_portrait_pipeline
    from generators.portrait.pipeline import PREVIOUS_MODEL_PATH

    tiny_cascade(upsample=False, prediction_type="epsilon").save_pretrained(tmp_path / "old")
    index = json.loads((tmp_path / "old" / "model_index.json").read_text())
    index.pop("upsampler")  # the layout written before the cascade existed
    (tmp_path / "old" / "model_index.json").write_text(json.dumps(index))
    old = load_portrait_pipeline(tmp_path / "old")
    assert old.upsampler is None and old.output_size == 16
    assert old(emotion="anger", num_inference_steps=2, generator=seeded(), output_type="np").images.shape == (1, 16, 16, 3)
    if (PREVIOUS_MODEL_PATH / "model_index.json").is_file():
        prev = load_portrait_pipeline(PREVIOUS_MODEL_PATH)
        assert prev.upsampler is None and prev.output_size == 64 and prev.scheduler.config.prediction_type == "epsilon"


@pytest.mark.slow
def test_guidance_and_img2img_work_with_v_prediction() -> None:
    pipe = tiny_cascade()
    p0, p1 = critic_scores(pipe), critic_scores(pipe, critic_guidance=5.0)
    assert (p1 > p0).all(), (p0, p1)
    init = torch.zeros(1, 3, 64, 64)
    init[:, 0] = 1.0  # a red image at the output's size or larger: resized to the UNet's 16 px
    out = pipe(emotion="sad", image=init, strength=0.2, num_inference_steps=10, generator=seeded(), output_type="np").images
    free = pipe(emotion="sad", num_inference_steps=10, generator=seeded(), output_type="np").images
    red = out[..., 0].mean() - out[..., 2].mean()
    assert out.shape == (1, 32, 32, 3) and red > 0.3 and red > free[..., 0].mean() - free[..., 2].mean() + 0.2


def face_card(skin: tuple[float, float, float], backdrop: tuple[float, float, float], size: int = 64) -> np.ndarray:
    """Return a (size, size, 3) uint8 toy portrait: a backdrop with a skin-coloured oval in the middle."""
    yy, xx = np.mgrid[:size, :size] / size
    inside = ((xx - 0.5) / 0.36) ** 2 + ((yy - 0.55) / 0.45) ** 2 < 1
    img = np.where(inside[..., None], np.array(skin), np.array(backdrop))
    return (img * 255).astype(np.uint8)


def test_colour_cast_measures_tell_a_tinted_image_from_a_portrait() -> None:
    from generators.portrait.colour import CHROMA_BOUND, background_chroma, colour_casts, face_hue

    skin, grey = (0.78, 0.57, 0.45), (0.52, 0.5, 0.55)
    good = face_card(skin, grey)
    purple = face_card((0.70, 0.50, 0.80), (0.55, 0.30, 0.75))  # the 64 px model's purple seeds: skin and backdrop tinted
    green_face = face_card((0.50, 0.70, 0.45), grey)  # a face off skin's hue on a plain backdrop
    batch = np.stack([good, purple, green_face])
    assert background_chroma(good[None])[0] < 0.1 < CHROMA_BOUND < background_chroma(purple[None])[0]
    assert 0 < face_hue(good[None])[0] < 40 and face_hue(green_face[None])[0] > 90
    assert colour_casts(batch).tolist() == [False, True, True]
    as_torch = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255  # the pipeline's "pt" output reads the same
    assert np.allclose(background_chroma(as_torch), background_chroma(batch), atol=1e-6)


# ----------------------------------------------------------------------------- the shipped model
@pytest.mark.slow
@pytest.mark.quality
def test_shipped_model_is_128px_without_colour_casts_on_seeds_0_to_3() -> None:
    """The whole-image casts of the 64 px epsilon model (seeds 2-5 purple/green) are gone: seeds 0-3 stay in the renders' bounds."""
    from generators.portrait.colour import CHROMA_BOUND, background_chroma, colour_casts, face_hue
    from generators.portrait.pipeline import DEFAULT_MODEL_PATH, PortraitPipeline

    if not (DEFAULT_MODEL_PATH / "model_index.json").is_file():
        pytest.skip("the shipped portrait model is not built (scripts/train_portrait_model.py + train_portrait_upsampler.py)")
    pipe = PortraitPipeline.from_pretrained()
    if pipe.output_size != 128:
        pytest.skip("the shipped model is still the 64 px one")
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    for emotion in ("happy", "surprise"):
        x = pipe(emotion=emotion, num_images_per_prompt=4, generator=[seeded(s) for s in range(4)], output_type="pt").images
        assert x.shape == (4, 3, 128, 128)
        chroma, hue = background_chroma(x), face_hue(x)
        assert not colour_casts(x).any(), (emotion, chroma, hue)
        assert (chroma <= CHROMA_BOUND).all() and x.std() > 0.05
