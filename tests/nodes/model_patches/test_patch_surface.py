"""ComfyUI's patching surface on a MODEL: clones own their options, and CFGGuider calls the cfg hooks with ComfyUI's
arguments, as its sampling_function does, against predictions made here without guidance."""
from __future__ import annotations

import pytest
import torch

from tests.nodes.model_patches.predictions import cond, guided, own_prediction, sample_point

CLOSE = {"rtol": 1e-4, "atol": 2e-4}  # one UNet batch against separate calls


@pytest.fixture
def point(model):
    x, sigma = sample_point(3, 2.0)
    return x, sigma, own_prediction(model, cond(1), x, sigma), own_prediction(model, cond(2), x, sigma)


def test_a_clone_shares_the_weights_and_owns_its_options(model):
    model.model_options["transformer_options"]["marker"] = [1]
    clone = model.clone()
    assert clone is not model and clone.unet is model.unet
    clone.model_options["transformer_options"]["marker"].append(2)
    clone.set_model_sampler_post_cfg_function(lambda args: args["denoised"])
    clone.set_model_sampler_cfg_function(lambda args: args["cond"], disable_cfg1_optimization=True)
    assert model.model_options == {"transformer_options": {"marker": [1]}}
    second = clone.clone()
    second.set_model_sampler_post_cfg_function(lambda args: args["denoised"])
    assert len(clone.model_options["sampler_post_cfg_function"]) == 1
    assert len(second.model_options["sampler_post_cfg_function"]) == 2
    lora_view = clone.with_lora(object(), 0.5)  # LoraLoader's MODEL is a clone too
    lora_view.model_options["transformer_options"]["marker"].append(3)
    assert clone.model_options["transformer_options"]["marker"] == [1, 2]


def test_cfg_function_gets_noise_and_replaces_the_combination(model, point):
    x, sigma, pos, neg = point
    seen = {}

    def halfway(args):
        seen.update(args)
        return (args["cond"] + args["uncond"]) / 2

    patched = model.clone()
    patched.set_model_sampler_cfg_function(halfway)
    out = guided(patched, 7.0, x, sigma)
    torch.testing.assert_close(out, (pos + neg) / 2, **CLOSE)
    torch.testing.assert_close(seen["cond"], x - pos, **CLOSE)
    torch.testing.assert_close(seen["uncond_denoised"], neg, **CLOSE)
    assert seen["cond_scale"] == 7.0 and seen["input"] is x and seen["model"] is patched
    assert torch.equal(seen["sigma"], sigma) and torch.equal(seen["timestep"], sigma)
    assert seen["model_options"] is patched.model_options and seen["input_cond"][0].context.shape == (1, 77, 64)
    # the older three-argument form gets (cond, uncond, cond_scale)
    patched.set_model_sampler_cfg_function(lambda c, u, scale: u + (c - u) * scale * 0.5)
    torch.testing.assert_close(guided(patched, 4.0, x, sigma), neg + (pos - neg) * 2.0, **CLOSE)
    torch.testing.assert_close(guided(model, 4.0, x, sigma), neg + (pos - neg) * 4.0, **CLOSE)  # source unpatched


def test_pre_and_post_cfg_functions_run_in_order_around_the_combination(model, point):
    x, sigma, pos, neg = point
    patched = model.clone()
    patched.set_model_sampler_pre_cfg_function(lambda args: [args["conds_out"][0] * 2, args["conds_out"][1]])
    patched.set_model_sampler_post_cfg_function(lambda args: args["denoised"] - args["uncond_denoised"])
    patched.set_model_sampler_post_cfg_function(lambda args: args["denoised"] * args["cond_scale"])
    expected = (neg + (2 * pos - neg) * 3.0 - neg) * 3.0
    torch.testing.assert_close(guided(patched, 3.0, x, sigma), expected, **CLOSE)


def test_at_cfg_1_the_negative_is_skipped_unless_a_patch_asks_for_it(model, point):
    x, sigma, pos, neg = point
    seen = []
    skipping = model.clone()
    skipping.set_model_sampler_post_cfg_function(lambda args: seen.append(args) or args["denoised"])
    torch.testing.assert_close(guided(skipping, 1.0, x, sigma), pos, **CLOSE)
    assert seen[0]["uncond"] is None and torch.equal(seen[0]["uncond_denoised"], torch.zeros_like(pos))
    asking = model.clone()
    asking.set_model_sampler_post_cfg_function(lambda args: args["uncond_denoised"], disable_cfg1_optimization=True)
    assert asking.model_options["disable_cfg1_optimization"] is True
    torch.testing.assert_close(guided(asking, 1.0, x, sigma), neg, **CLOSE)


def test_a_batch_gets_its_sigma_per_sample(model):
    x, sigma = sample_point(4, 1.5, batch=2)
    seen = {}
    patched = model.clone()
    patched.set_model_sampler_post_cfg_function(lambda args: seen.update(args) or args["denoised"])
    guided(patched, 2.0, x, sigma)
    assert seen["sigma"].shape == (2,) and torch.equal(seen["sigma"], torch.full((2,), 1.5))
