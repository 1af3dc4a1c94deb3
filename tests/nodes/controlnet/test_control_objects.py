"""The control objects' residuals against diffusers' own ControlNetModel and T2IAdapter called directly: hint
resizing, input scaling and timestep, strength, active range, chaining and batch repeat."""
from __future__ import annotations

import pytest
import torch

from nodes.runtime.controlnet import load_control_model
from nodes.runtime.controlnet.controls import broadcast_hint
from nodes.runtime.models import DiffusionModel
from tests.fixtures.tiny_checkpoints import sd1_unet, sdxl_unet
from tests.fixtures.tiny_controlnets import (full_blocks_unet, tiny_adapter, tiny_controlnet, write_adapter,
                                            write_controlnet)


def sd_sigma(step: int) -> float:
    """SD's sigma at a training step: betas linear in sqrt space from 0.00085 to 0.012 over 1000 steps."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alpha = torch.cumprod(1 - betas, dim=0)[step]
    return float(((1 - alpha) / alpha).sqrt())


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def sd1(tmp_path_factory):
    """A tiny SD1 UNet as a MODEL, a ControlNet for it (reference module and loaded control)."""
    directory = tmp_path_factory.mktemp("controls")
    unet = sd1_unet()
    reference = tiny_controlnet(unet)
    control = load_control_model(write_controlnet(directory / "cn.safetensors", reference).path)
    other_reference = tiny_controlnet(unet, seed=21)
    other = load_control_model(write_controlnet(directory / "cn2.safetensors", other_reference, "diffusers").path)
    model = DiffusionModel(unet=unet, architecture="SD1.x", prediction_type="epsilon", source="tiny")
    return model, reference, control, other_reference, other


def upscaled(hint: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upscale by a whole factor: each pixel repeated."""
    return hint.repeat_interleave(factor, dim=-1).repeat_interleave(factor, dim=-2)


def direct(reference, x, sigma, context, hint, added=None):
    """diffusers' ControlNetModel called as ComfyUI calls its ControlNet: x / sqrt(sigma^2 + 1), integer timestep."""
    step = torch.tensor([500] * x.shape[0])
    with torch.no_grad():
        down, middle = reference(x / (sigma ** 2 + 1) ** 0.5, step, encoder_hidden_states=context,
                                 controlnet_cond=hint, added_cond_kwargs=added, return_dict=False)
    return list(down), middle


def test_controlnet_residuals_are_diffusers_residuals_times_strength(sd1):
    model, reference, loaded, _, _ = sd1
    x = torch.randn(2, 4, 8, 8, generator=generator(1))
    context = torch.randn(2, 5, 64, generator=generator(2))
    hint = torch.rand(1, 3, 16, 16, generator=generator(3))  # resized to the latent's size x8: 64 px
    sigma = sd_sigma(500)
    control = loaded.copy().set_cond_hint(hint, 0.7)
    control.pre_run(model)
    got = control.get_control(x, torch.full((2,), sigma), {"context": context}, 1, {})
    down, middle = direct(reference, x, sigma, context, upscaled(hint, 4).expand(2, -1, -1, -1))
    assert got["input"] == [] and len(got["output"]) == len(down) == 4  # tiny UNet: 4 input blocks
    for residual, expected in zip(got["output"], down):
        torch.testing.assert_close(residual, expected * 0.7, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["middle"][0], middle * 0.7, atol=1e-5, rtol=1e-5)
    assert tuple(control.cond_hint.shape) == (1, 3, 64, 64)
    control.cleanup()
    assert control.cond_hint is None and control.timestep_range is None


def test_hint_is_centre_cropped_to_the_latents_aspect(sd1):
    model, reference, loaded, _, _ = sd1
    hint = torch.rand(1, 3, 16, 24, generator=generator(4))  # wider than the square latent: 4 px cut each side
    control = loaded.copy().set_cond_hint(hint)
    control.pre_run(model)
    x = torch.randn(1, 4, 8, 8, generator=generator(5))
    control.get_control(x, torch.tensor([sd_sigma(500)]), {"context": torch.zeros(1, 3, 64)}, 1, {})
    torch.testing.assert_close(control.cond_hint, upscaled(hint[..., 4:20], 4))


def test_outside_its_range_a_control_gives_the_previous_ones_residuals(sd1):
    model, _, loaded, _, other = sd1
    hint = torch.rand(1, 3, 16, 16, generator=generator(6))
    first = other.copy().set_cond_hint(hint, 1.0)
    late = loaded.copy().set_cond_hint(hint, 1.0, (0.5, 1.0)).set_previous_controlnet(first)
    late.pre_run(model)
    x = torch.randn(1, 4, 8, 8, generator=generator(7))
    inputs = {"context": torch.randn(1, 3, 64, generator=generator(8))}
    early_sigma = torch.tensor([sd_sigma(900)])  # 10% into sampling: before the 50% start
    got = late.get_control(x, early_sigma, inputs, 1, {})
    alone = first.get_control(x, early_sigma, inputs, 1, {})
    for key in ("output", "middle"):
        for residual, expected in zip(got[key], alone[key], strict=True):
            torch.testing.assert_close(residual, expected)
    lone = loaded.copy().set_cond_hint(hint, 1.0, (0.5, 1.0))
    lone.pre_run(model)
    assert lone.get_control(x, early_sigma, inputs, 1, {}) is None
    assert lone.get_control(x, torch.tensor([sd_sigma(100)]), inputs, 1, {}) is not None


def test_chained_controls_sum_their_scaled_residuals(sd1):
    model, reference, loaded, other_reference, other = sd1
    hint_a = torch.rand(1, 3, 16, 16, generator=generator(9))
    hint_b = torch.rand(1, 3, 16, 16, generator=generator(10))
    chained = loaded.copy().set_cond_hint(hint_b, 0.5).set_previous_controlnet(other.copy().set_cond_hint(hint_a, 2.0))
    chained.pre_run(model)
    x = torch.randn(1, 4, 8, 8, generator=generator(11))
    context = torch.randn(1, 3, 64, generator=generator(12))
    sigma = sd_sigma(500)
    got = chained.get_control(x, torch.tensor([sigma]), {"context": context}, 1, {})
    down_a, middle_a = direct(other_reference, x, sigma, context, upscaled(hint_a, 4))
    down_b, middle_b = direct(reference, x, sigma, context, upscaled(hint_b, 4))
    for residual, a, b in zip(got["output"], down_a, down_b, strict=True):
        torch.testing.assert_close(residual, 2.0 * a + 0.5 * b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["middle"][0], 2.0 * middle_a + 0.5 * middle_b, atol=1e-5, rtol=1e-5)


def test_hints_repeat_per_chunk_of_the_batch():
    h = torch.arange(3.0).reshape(3, 1, 1, 1)
    assert broadcast_hint(h[:1], 4, 2).flatten().tolist() == [0.0]  # one hint serves every sample
    assert broadcast_hint(h, 4, 2).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]  # cond chunk, uncond chunk
    assert broadcast_hint(h[:2], 6, 2).flatten().tolist() == [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert broadcast_hint(h, 3, 1).flatten().tolist() == [0.0, 1.0, 2.0]


def test_shuffle_controlnets_pool_their_residuals(tmp_path, sd1):
    model, reference, _, _, _ = sd1
    control = load_control_model(write_controlnet(tmp_path / "cn_shuffle.safetensors", reference).path)
    control = control.copy().set_cond_hint(torch.rand(1, 3, 16, 16, generator=generator(13)))
    control.pre_run(model)
    got = control.get_control(torch.randn(1, 4, 8, 8, generator=generator(14)), torch.tensor([sd_sigma(500)]),
                              {"context": torch.zeros(1, 3, 64)}, 1, {})
    for residual in got["output"]:
        torch.testing.assert_close(residual, residual.mean(dim=(2, 3), keepdim=True).expand_as(residual))


def test_sdxl_controlnet_reads_the_pooled_embedding_and_sizes(tmp_path):
    unet = sdxl_unet(pooled_width=32, size_embed_channels=256)
    reference = tiny_controlnet(unet)
    control = load_control_model(write_controlnet(tmp_path / "xl.safetensors", reference, "ldm_bare").path)
    model = DiffusionModel(unet=unet, architecture="SDXL", prediction_type="epsilon", source="xl")
    hint = torch.rand(1, 3, 64, 64, generator=generator(15))
    control = control.copy().set_cond_hint(hint)
    control.pre_run(model)
    x = torch.randn(1, 4, 8, 8, generator=generator(16))
    inputs = {"context": torch.randn(1, 3, 128, generator=generator(17)),
              "pooled": torch.randn(1, 32, generator=generator(18)),
              "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])}
    sigma = sd_sigma(500)
    got = control.get_control(x, torch.tensor([sigma]), inputs, 1, {})
    down, middle = direct(reference, x, sigma, inputs["context"], hint,
                          {"text_embeds": inputs["pooled"], "time_ids": inputs["time_ids"]})
    for residual, expected in zip(got["output"], down, strict=True):
        torch.testing.assert_close(residual, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["middle"][0], middle, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("adapter_type", ["full_adapter", "light_adapter"])
def test_adapter_features_follow_the_input_block_ending_each_level(tmp_path, adapter_type):
    reference = tiny_adapter(adapter_type)
    control = load_control_model(write_adapter(tmp_path / "a.safetensors", reference).path)
    model = DiffusionModel(unet=full_blocks_unet(), architecture="SD1.x", prediction_type="epsilon", source="m")
    hint = torch.rand(1, 3, 32, 32, generator=generator(19))
    control = control.copy().set_cond_hint(hint, 0.5)
    control.pre_run(model)
    got = control.get_control(torch.zeros(2, 4, 8, 8), torch.full((2,), sd_sigma(500)), {}, 2, {})
    with torch.no_grad():
        features = reference(upscaled(hint, 2))
    # popped from the end, one per input block: blocks 2, 5, 8 and 11 end SD1's four levels
    assert [index for index, f in enumerate(got["input"]) if f is not None] == [0, 3, 6, 9]
    for index, feature in zip((9, 6, 3, 0), features):
        torch.testing.assert_close(got["input"][index], feature * 0.5, atol=1e-6, rtol=1e-5)
    assert "middle" not in got or got["middle"] == []


def test_sdxl_adapter_puts_its_last_feature_after_the_middle_block(tmp_path):
    reference = tiny_adapter("full_adapter_xl")
    control = load_control_model(write_adapter(tmp_path / "xl.safetensors", reference, "diffusers").path)
    hint = torch.rand(1, 3, 64, 64, generator=generator(20))
    control = control.copy().set_cond_hint(hint)
    got = control.get_control(torch.zeros(1, 4, 8, 8), torch.tensor([1.0]), {}, 1, {})
    with torch.no_grad():
        first, second, third, fourth = reference(hint)
    assert len(got["input"]) == 10 and [i for i, f in enumerate(got["input"]) if f is not None] == [1, 4, 6]
    for index, feature in ((6, first), (4, second), (1, third)):  # after input blocks 3, 5 and 8
        torch.testing.assert_close(got["input"][index], feature)
    torch.testing.assert_close(got["middle"][0], fourth)


def test_sketch_adapter_reads_the_images_channel_mean(tmp_path):
    reference = tiny_adapter("full_adapter", in_channels=1)
    control = load_control_model(write_adapter(tmp_path / "sketch.safetensors", reference).path)
    hint = torch.rand(1, 3, 64, 64, generator=generator(21))
    got = control.copy().set_cond_hint(hint).get_control(torch.zeros(1, 4, 8, 8), torch.tensor([1.0]), {}, 1, {})
    with torch.no_grad():
        features = reference(hint.mean(dim=1, keepdim=True))
    torch.testing.assert_close(got["input"][9], features[0])


def test_control_lora_is_the_models_unet_plus_its_changes(tmp_path, sd1):
    from tests.fixtures.tiny_controlnets import write_control_lora

    model, _, _, _, _ = sd1
    written = write_control_lora(tmp_path / "control_lora.safetensors", model.unet)
    assert any(key.endswith(".up") for key in written.state) and "input_hint_block.14.weight" in written.state
    loaded = load_control_model(written.path)
    assert loaded.control_model is None and loaded.hint_channels == 3  # built when sampling starts
    hint = torch.rand(1, 3, 16, 16, generator=generator(22))
    control = loaded.copy().set_cond_hint(hint, 0.5)
    control.pre_run(model)
    for key, value in written.module.state_dict().items():
        torch.testing.assert_close(control.control_model.state_dict()[key], value, atol=1e-6, rtol=1e-6)
    x = torch.randn(1, 4, 8, 8, generator=generator(23))
    context = torch.randn(1, 3, 64, generator=generator(24))
    sigma = sd_sigma(500)
    got = control.get_control(x, torch.tensor([sigma]), {"context": context}, 1, {})
    down, middle = direct(written.module, x, sigma, context, upscaled(hint, 4))
    for residual, expected in zip(got["output"], down, strict=True):
        torch.testing.assert_close(residual, expected * 0.5, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["middle"][0], middle * 0.5, atol=1e-5, rtol=1e-5)
    control.cleanup()
    assert control.control_model is None


def test_control_lora_for_another_family_says_so(tmp_path, sd1):
    from graph_engine import UserFacingError
    from tests.fixtures.tiny_controlnets import write_control_lora

    model, _, _, _, _ = sd1
    written = write_control_lora(tmp_path / "xl_control_lora.safetensors",
                                 sdxl_unet(pooled_width=32, size_embed_channels=256))
    control = load_control_model(written.path).copy().set_cond_hint(torch.rand(1, 3, 16, 16))
    with pytest.raises(UserFacingError, match=r"xl_control_lora\.safetensors is a control-LoRA .*another model"):
        control.pre_run(model)
