"""The SD x4 upscaler through the checkpoint machinery: detection from shapes (the tiny file and the real model's
layout), then CheckpointLoaderSimple -> SD_4XUpscale_Conditioning -> KSampler -> VAEDecode through the engine, with
the UNet's extra inputs (the noise-augmented low-res image, the noise level as class label) computed here from the
schedule's definition and fed to the fixture's own diffusers UNet."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.runtime.checkpoints import inspect_checkpoint
from nodes.runtime.checkpoints.architecture import detect_architecture
from tests.fixtures.tiny_x4_upscaler import build_x4_upscaler, low_res_alphas_cumprod
from tests.nodes.latent.latent_helpers import CAUGHT, FEED, make_engine

SEED = 23


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("x4")
    return root, build_x4_upscaler(root / "models" / "checkpoints")


def test_the_file_is_detected_as_an_sd2_x4_upscaler_from_its_shapes(tiny):
    _, checkpoint = tiny
    summary = inspect_checkpoint(checkpoint.path)
    unet, vae = summary.detected.unet_config, summary.detected.vae_config
    assert str(summary.detected.architecture) == "SD2.x"
    assert (unet["in_channels"], unet["out_channels"], unet["num_class_embeds"]) == (7, 4, 1000)
    assert unet["attention_head_dim"] == 8 and unet["block_out_channels"] == [32, 32, 64]
    # the first level has no transformer; the second attends to the text twice; the last first to itself
    assert unet["only_cross_attention"] == [False, True, False]
    assert vae["block_out_channels"] == [32, 32, 32] and vae["scaling_factor"] == 0.08333
    assert summary.prediction.prediction_type == "v_prediction"


def test_the_real_x4_upscaler_layout_gives_its_published_config():
    """stabilityai's x4-upscaler-ema as shapes: 256/512/512/1024 channels, 2 res blocks, attention from the second
    level, the first three levels without self-attention, 1000 noise-level classes; VAE 128/256/512."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from nodes.runtime.checkpoints.ldm_layout import text_encoders_to_ldm, unet_to_ldm, vae_to_ldm

    with torch.device("meta"):
        unet = UNet2DConditionModel(in_channels=7, out_channels=4, block_out_channels=(256, 512, 512, 1024),
                                    layers_per_block=2,
                                    down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
                                    up_block_types=("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",),
                                    only_cross_attention=[True, True, True, False], cross_attention_dim=1024,
                                    attention_head_dim=8, use_linear_projection=True, num_class_embeds=1000)
        vae = AutoencoderKL(block_out_channels=(128, 256, 512), down_block_types=("DownEncoderBlock2D",) * 3,
                            up_block_types=("UpDecoderBlock2D",) * 3, layers_per_block=2, latent_channels=4)
        text = CLIPTextModel(CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=2,
                                            num_attention_heads=16, hidden_act="gelu"))
    state = {**unet_to_ldm(unet), **vae_to_ldm(vae), **text_encoders_to_ldm((text,), "SD2.x")}
    detected = detect_architecture({key: tuple(tensor.shape) for key, tensor in state.items()})
    assert str(detected.architecture) == "SD2.x"
    config = detected.unet_config
    assert config["block_out_channels"] == [256, 512, 512, 1024] and config["layers_per_block"] == 2
    assert config["attention_head_dim"] == 8 and config["num_class_embeds"] == 1000
    # the first level has no attention, so its flag is moot; the 1024-channel level attends to itself
    assert config["only_cross_attention"] == [False, True, True, False]
    assert detected.vae_config["scaling_factor"] == 0.08333


def _prompt(image_key: str, noise_augmentation: float, cfg: float) -> dict:
    return {
        "image": {"class_type": "TFeed", "inputs": {"key": image_key}},
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny_x4_upscaler.safetensors"}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["ckpt", 1], "text": "a sharp photo"}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["ckpt", 1], "text": "blurry"}},
        "up": {"class_type": "SD_4XUpscale_Conditioning",
               "inputs": {"images": ["image", 1], "positive": ["pos", 0], "negative": ["neg", 0],
                          "scale_ratio": 4.0, "noise_augmentation": noise_augmentation}},
        "sample": {"class_type": "KSampler",
                   "inputs": {"model": ["ckpt", 0], "seed": SEED, "steps": 1, "cfg": cfg, "sampler_name": "euler",
                              "scheduler": "normal", "positive": ["up", 0], "negative": ["up", 1],
                              "latent_image": ["up", 2], "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"vae": ["ckpt", 2], "samples": ["sample", 0]}},
        **{f"catch_{name}": {"class_type": "TCatch", "inputs": {"value": [node, 0], "key": f"{image_key}-{name}"}}
           for name, node in (("pos", "pos"), ("neg", "neg"), ("latent", "sample"), ("image", "decode"))},
    }


@pytest.mark.parametrize("noise_augmentation", [0.0, 0.2])
def test_the_upscaler_samples_from_the_noisy_low_res_image_and_decodes_at_four_times_the_size(
        tiny, noise_augmentation):
    root, checkpoint = tiny
    engine = make_engine(root)
    image = torch.rand((1, 8, 8, 3), generator=torch.Generator().manual_seed(5))
    key = f"x4-{noise_augmentation}"
    FEED[key] = image
    result = engine.run(_prompt(key, noise_augmentation, cfg=1.5))
    assert result.ok, result.error
    caught = {name: CAUGHT.pop(f"{key}-{name}") for name in ("pos", "neg", "latent", "image")}

    # the UNet's inputs, from the definitions: the image in -1..1 (already at the latent's 8x8), noised to level
    # round(350 * augmentation) of the 0.0001..0.02 schedule with noise from seed - 10; that level as class label
    level = round(350 * noise_augmentation)
    low_res = image.movedim(-1, 1) * 2 - 1
    if noise_augmentation:
        alphas_cumprod = low_res_alphas_cumprod()[level]
        noise = torch.randn((1, 3, 8, 8), generator=torch.Generator().manual_seed(SEED - 10))
        low_res = (np.float32(np.sqrt(alphas_cumprod)) * low_res
                   + np.float32(np.sqrt(1 - alphas_cumprod)) * noise)
    betas = torch.linspace(0.0001 ** 0.5, 0.02 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    sigma = float(((1 - alphas_cumprod[-1]) / alphas_cumprod[-1]) ** 0.5)
    x = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(SEED)) * (1 + sigma ** 2) ** 0.5

    def x0(context: torch.Tensor) -> torch.Tensor:
        unet_in = torch.cat([x / (sigma ** 2 + 1) ** 0.5, low_res], dim=1)
        with torch.no_grad():
            v = checkpoint.unet(unet_in, torch.tensor([999]), context, class_labels=torch.tensor([level]))
        return x / (sigma ** 2 + 1) - v * sigma / (sigma ** 2 + 1) ** 0.5

    cond, uncond = x0(caught["pos"][0][0]), x0(caught["neg"][0][0])
    expected = (uncond + (cond - uncond) * 1.5) / 0.08333
    torch.testing.assert_close(caught["latent"]["samples"], expected, atol=1e-4, rtol=1e-4)

    decoded = caught["image"]
    assert decoded.shape == (1, 32, 32, 3)  # 4x the 8x8 input
    with torch.no_grad():
        pixels = checkpoint.vae.decode(caught["latent"]["samples"]).sample
    torch.testing.assert_close(decoded, ((pixels + 1) / 2).clamp(0, 1).movedim(1, -1), atol=1e-4, rtol=1e-4)


def test_the_noise_level_changes_the_result(tiny):
    """The class label and the noised image reach the UNet: a different augmentation gives another latent."""
    root, _ = tiny
    engine = make_engine(root)
    image = torch.rand((1, 8, 8, 3), generator=torch.Generator().manual_seed(6))
    latents = []
    for augmentation in (0.0, 0.5):
        key = f"x4-level-{augmentation}"
        FEED[key] = image
        assert engine.run(_prompt(key, augmentation, cfg=1.0)).ok
        latents.append(CAUGHT.pop(f"{key}-latent")["samples"])
        for name in ("pos", "neg", "image"):
            CAUGHT.pop(f"{key}-{name}")
    assert (latents[0] - latents[1]).abs().max() > 1e-2


def test_the_upscalers_unet_alone_loads_with_its_own_sampling(tiny, tmp_path):
    """UNETLoader's path: the UNet's keys alone give the same module, v prediction, the x4 schedule and scale."""
    from safetensors.torch import save_file

    from nodes.runtime.loading import load_diffusion_model

    _, checkpoint = tiny
    unet_only = {key: tensor.half().contiguous() for key, tensor in checkpoint.ldm_state_dict.items()
                 if key.startswith("model.diffusion_model.")}
    save_file(unet_only, str(tmp_path / "x4_unet.safetensors"))
    model = load_diffusion_model(tmp_path / "x4_unet.safetensors")
    assert model.prediction_type == "v_prediction" and model.image_input == "x4_upscale"
    assert model.latent_format.scale_factor == 0.08333 and model.latent_channels == 4
    betas = torch.linspace(0.0001 ** 0.5, 0.02 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, 0)
    torch.testing.assert_close(model.schedule.sigmas, (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).float())
    # ModelSamplingDiscrete rebuilds the model's own training table (as ComfyUI rebuilds it from the config)
    from nodes.model_patches.model_advanced import ModelSamplingDiscrete

    (as_eps,) = ModelSamplingDiscrete().patch(model, "eps", False)
    torch.testing.assert_close(as_eps.get_model_object("model_sampling").sigmas, model.schedule.sigmas)
    x = torch.randn((1, 7, 8, 8), generator=torch.Generator().manual_seed(8))
    context = torch.randn((1, 5, 64), generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = checkpoint.unet(x, torch.tensor([500]), context, class_labels=torch.tensor([70]))
    got = model.predict(x[:, :4], torch.tensor([500]), context=context, image=x[:, 4:],
                        class_labels=torch.tensor([70]))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
