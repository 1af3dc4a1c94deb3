"""PatchModelAddDownscale (Deep Shrink) on the tiny SD1 UNet: its two patch functions on known tensors, a model call
inside its sigma window against diffusers' own forward with the same shrink hooked in, and sampling."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nodes.model_patches.model_downscale import PatchModelAddDownscale
from nodes.runtime.guiders import CFGGuider
from tests.nodes.model_patches.predictions import cond, own_prediction
from tests.nodes.model_patches.sampling import SAME, count_patch_calls, sampled

TOLERANCE = {"rtol": 1e-4, "atol": 2e-5}


def patched(model, block_number=1, factor=2.0, start=0.0, end=0.35, after_skip=True, down="area",
            up="nearest-exact"):
    return PatchModelAddDownscale().patch(model, block_number, factor, start, end, after_skip, down, up)[0]


def patch_functions(model, **settings):
    return patched(model, **settings).model_options["transformer_options"]["patches"]


def test_the_shrink_acts_on_its_block_inside_its_sigma_window(model):
    patches = patch_functions(model, after_skip=False)
    assert "input_block_patch_after_skip" not in patches
    shrink, restore = patches["input_block_patch"][0], patches["output_block_patch"][0]
    h = torch.randn(2, 3, 6, 8, generator=torch.Generator().manual_seed(1))
    sigma_end = model.schedule.percent_to_sigma(0.35)
    inside = {"block": ("input", 1), "sigmas": torch.tensor([sigma_end + 0.01, sigma_end + 0.01])}
    means = h.numpy().reshape(2, 3, 3, 2, 4, 2).mean(axis=(3, 5))  # 2x2 cells averaged ("area")
    np.testing.assert_allclose(shrink(h, inside).numpy(), means, rtol=1e-6)
    assert shrink(h, {**inside, "block": ("input", 2)}) is h
    assert shrink(h, {**inside, "sigmas": torch.tensor([sigma_end - 0.01] * 2)}) is h
    small, skip = torch.randn(1, 3, 3, 4), torch.randn(1, 5, 6, 8)
    up, same_skip = restore(small, skip, {"block": ("output", 2)})
    np.testing.assert_array_equal(up.numpy(), small.numpy().repeat(2, axis=2).repeat(2, axis=3))
    assert same_skip is skip and restore(up, skip, {})[0] is up


def test_a_model_call_in_the_window_is_diffusers_forward_with_the_shrink_hooked_in(model):
    # An odd latent (15) makes diffusers upsample to each skip's size as ComfyUI does; after its skip, input block 1
    # (the first level's resnet and attention) goes into the downsampler at 8x8 instead of 15x15.
    shrunk = patched(model)
    x = torch.randn(1, 4, 15, 15, generator=torch.Generator().manual_seed(2))
    inside, outside = torch.tensor([10.0]), torch.tensor([0.5])
    ours_inside = CFGGuider(shrunk, cond(1)).denoiser()(x, inside)
    torch.testing.assert_close(CFGGuider(shrunk, cond(1)).denoiser()(x, outside),
                               own_prediction(model, cond(1), x, outside), **TOLERANCE)
    hook = model.unet.down_blocks[0].downsamplers[0].register_forward_pre_hook(
        lambda module, args: (F.interpolate(args[0], size=(8, 8), mode="area"), *args[1:]))
    try:
        expected = own_prediction(model, cond(1), x, inside)
    finally:
        hook.remove()
    assert not torch.allclose(expected, own_prediction(model, cond(1), x, inside), **TOLERANCE)
    torch.testing.assert_close(ours_inside, expected, **TOLERANCE)


@pytest.mark.parametrize("after_skip", [True, False])
def test_sampling_with_deep_shrink(model, unpatched_sample, after_skip):
    neutral = patched(model, factor=1.0, after_skip=after_skip, down="bicubic", up="bicubic")
    torch.testing.assert_close(sampled(neutral), unpatched_sample, **SAME)
    shrinking = patched(model, end=1.0, after_skip=after_skip, down="bislerp", up="bilinear")
    calls = count_patch_calls(shrinking)
    assert (sampled(shrinking) - unpatched_sample).abs().max() > 0.05
    hook = "input_block_patch_after_skip" if after_skip else "input_block_patch"
    assert calls[hook] == calls["output_block_patch"] == 2 * 4
