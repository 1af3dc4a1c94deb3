"""KSampler with ControlNets and T2I-Adapters against the reference loop, whose UNet calls get diffusers' own
down_block_additional_residuals / mid_block_additional_residual (or adapter features) from the same modules."""
from __future__ import annotations

import pytest
import torch

from tests.fixtures.tiny_controlnets import (build_sd1_full_blocks, tiny_adapter, tiny_controlnet, write_adapter,
                                             write_control_lora, write_controlnet)
from tests.nodes.pipeline import reference_loop as ref
from tests.nodes.pipeline.test_text_to_image import SEED, assert_matches, empty_latent, encode, ksample, sd1_context

STEPS, CFG = 2, 4.0


class ControlledUnet:
    """The UNet as the reference loop calls it, with a ControlNet's residuals (diffusers' own arguments) or a
    T2I-Adapter's features added, scaled by `strength`."""

    def __init__(self, unet, hint, strength, controlnet=None, adapter=None):
        self.unet, self.hint, self.strength = ref.diffusers_unet(unet), hint, strength
        self.controlnet, self.adapter = controlnet, adapter

    def __call__(self, x_in, timestep, *, encoder_hidden_states, added_cond_kwargs=None):
        extra = {}
        if self.controlnet is not None:
            down, middle = self.controlnet(x_in, timestep, encoder_hidden_states=encoder_hidden_states,
                                           controlnet_cond=self.hint, conditioning_scale=self.strength,
                                           return_dict=False)
            extra = {"down_block_additional_residuals": down, "mid_block_additional_residual": middle}
        if self.adapter is not None:
            extra = {"down_intrablock_additional_residuals": [f * self.strength for f in self.adapter(self.hint)]}
        return self.unet(x_in, timestep, encoder_hidden_states=encoder_hidden_states,
                         added_cond_kwargs=added_cond_kwargs, **extra)


@pytest.fixture(scope="module")
def controls(studio):
    """A ControlNet for the studio's tiny SD1 and a checkpoint with SD1's block layout beside a T2I-Adapter."""
    folder = studio.base / "models" / "controlnet"
    controlnet = write_controlnet(folder / "tiny_cn.safetensors", tiny_controlnet(studio.tiny["sd1"].unet), "ldm")
    other = write_controlnet(folder / "tiny_cn_2.safetensors", tiny_controlnet(studio.tiny["sd1"].unet, seed=31),
                             "diffusers")
    adapter = write_adapter(studio.base / "models" / "t2i_adapter" / "tiny_adapter.safetensors",
                            tiny_adapter("full_adapter"))
    control_lora = write_control_lora(folder / "tiny_control_lora.safetensors", studio.tiny["sd1"].unet)
    blocks = build_sd1_full_blocks(studio.base / "models" / "checkpoints")
    studio.tiny["sd1_blocks"] = blocks
    return {"cn": controlnet, "cn2": other, "adapter": adapter, "control_lora": control_lora}


def load_control(studio, name):
    from graph_engine import using_folders
    from nodes.controlnet.controlnet_nodes import ControlNetLoader

    with using_folders(studio.engine.folders):
        return ControlNetLoader().load_controlnet(name)[0]


def apply(positive, negative, control, image, strength, start=0.0, end=1.0):
    from nodes.controlnet.controlnet_nodes import ControlNetApplyAdvanced

    return ControlNetApplyAdvanced().apply_controlnet(positive, negative, control, image, strength, start, end)


def hint_image(seed=5):
    return torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(seed))


def reference_run(unet, tiny, strength_cn=None, image=None, **controls):
    noise = ref.initial_noise((1, 4, 8, 8), SEED)
    hint = image.movedim(-1, 1).repeat_interleave(2, -1).repeat_interleave(2, -2)  # 32 px to the latent x8: 64 px
    model = ControlledUnet(unet, hint, strength_cn, **controls) if controls else unet
    return ref.euler_cfg(model, noise=noise, sigmas=ref.normal_sigmas(STEPS), cond=sd1_context(tiny, "a cat"),
                         uncond=sd1_context(tiny, "blurry"), cfg=CFG)


def sampled_with(studio, checkpoint: str, *controls: tuple[str, float]):
    """KSampler's latent with the named control files applied in turn (each at its strength) to both prompts, the
    tiny checkpoint and the hint image, and the positive conditioning that was sampled."""
    model, clip, _ = studio.load(checkpoint)
    image = hint_image()
    positive, negative = encode(clip, "a cat"), encode(clip, "blurry")
    for name, strength in controls:
        positive, negative = apply(positive, negative, load_control(studio, name), image, strength)
    got = ksample(model, positive, negative, empty_latent(), steps=STEPS, cfg=CFG)["samples"]
    return got, studio.tiny[checkpoint], image, (positive, negative)


def test_strength_zero_or_an_empty_range_is_no_controlnet(studio, controls):
    model, clip, _ = studio.load("sd1")
    positive, negative = encode(clip, "a cat"), encode(clip, "blurry")
    plain = ksample(model, positive, negative, empty_latent(), steps=STEPS, cfg=CFG)["samples"]
    control = load_control(studio, "tiny_cn.safetensors")
    assert apply(positive, negative, control, hint_image(), 0.0) == (positive, negative)
    never = apply(positive, negative, control, hint_image(), 1.0, start=1.0, end=1.0)  # active at no step
    got = ksample(model, *never, empty_latent(), steps=STEPS, cfg=CFG)["samples"]
    assert torch.equal(got, plain)


def test_controlnet_adds_exactly_its_residuals(studio, controls):
    got, tiny, image, _ = sampled_with(studio, "sd1", ("tiny_cn.safetensors", 0.8))
    expected = reference_run(tiny.unet, tiny, 0.8, image, controlnet=controls["cn"].module)
    full = reference_run(tiny.unet, tiny, 1.0, image, controlnet=controls["cn"].module)
    plain = reference_run(tiny.unet, tiny, image=image)
    assert_matches(got, expected, full, plain)


def test_control_lora_adds_the_residuals_of_the_controlnet_it_makes_of_the_model(studio, controls):
    got, tiny, image, (positive, _) = sampled_with(studio, "sd1", ("tiny_control_lora.safetensors", 1.0))
    expected = reference_run(tiny.unet, tiny, 1.0, image, controlnet=controls["control_lora"].module)
    plain = reference_run(tiny.unet, tiny, image=image)
    assert_matches(got, expected, plain)
    assert positive[0][1]["control"].control_model is None  # dropped once sampling is over


def test_two_chained_controlnets_add_both_residuals(studio, controls):
    got, tiny, image, (positive, negative) = sampled_with(studio, "sd1", ("tiny_cn.safetensors", 1.0),
                                                          ("tiny_cn_2.safetensors", 1.0))
    assert positive[0][1]["control"].previous_controlnet is negative[0][1]["control"].previous_controlnet

    class Both:  # the second ControlNet's residuals on top of the first's
        def __call__(self, x_in, timestep, *, encoder_hidden_states, controlnet_cond, conditioning_scale,
                     return_dict):
            runs = [net(x_in, timestep, encoder_hidden_states=encoder_hidden_states, controlnet_cond=controlnet_cond,
                        return_dict=False) for net in (controls["cn"].module, controls["cn2"].module)]
            down = [a + b for a, b in zip(runs[0][0], runs[1][0])]
            return down, runs[0][1] + runs[1][1]

    expected = reference_run(tiny.unet, tiny, 1.0, image, controlnet=Both())
    only_first = reference_run(tiny.unet, tiny, 1.0, image, controlnet=controls["cn"].module)
    assert_matches(got, expected, only_first)


def test_t2i_adapter_adds_its_features_after_each_level(studio, controls):
    # the adapter is found in models/t2i_adapter too
    got, tiny, image, _ = sampled_with(studio, "sd1_blocks", ("tiny_adapter.safetensors", 0.5))
    expected = reference_run(tiny.unet, tiny, 0.5, image, adapter=controls["adapter"].module)
    plain = reference_run(tiny.unet, tiny, image=image)
    assert_matches(got, expected, plain)


def test_an_sdxl_model_with_an_sd1_controlnet_fails_saying_why(studio, controls):
    from graph_engine import InvalidNodeInput

    with pytest.raises(InvalidNodeInput, match=r"tiny_cn\.safetensors is a SD1\.x ControlNet but the model being "
                                               r"sampled \(tiny_sdxl\.safetensors\) is SDXL"):
        sampled_with(studio, "sdxl", ("tiny_cn.safetensors", 1.0))


def test_controlnet_apply_on_the_positive_controls_the_negative_too(studio, controls):
    """ComfyUI's ControlNetApply sets only the positive; its sampler gives the negative prompt the same control, so
    the latent equals ControlNetApplyAdvanced's on both prompts."""
    from nodes.controlnet.controlnet_nodes import ControlNetApply

    model, clip, _ = studio.load("sd1")
    positive, negative = encode(clip, "a cat"), encode(clip, "blurry")
    control, image = load_control(studio, "tiny_cn.safetensors"), hint_image()
    (applied,) = ControlNetApply().apply_controlnet(positive, control, image, 0.8)
    got = ksample(model, applied, negative, empty_latent(), steps=STEPS, cfg=CFG)["samples"]
    both = ksample(model, *apply(positive, negative, control, image, 0.8), empty_latent(), steps=STEPS,
                   cfg=CFG)["samples"]
    torch.testing.assert_close(got, both, atol=1e-5, rtol=1e-5)
    positive_only = [[applied[0][0], {**applied[0][1], "control_apply_to_uncond": False}]]
    one_sided = ksample(model, positive_only, negative, empty_latent(), steps=STEPS, cfg=CFG)["samples"]
    assert not torch.allclose(one_sided, both, atol=1e-3)
