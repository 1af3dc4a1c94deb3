"""NOISE makers, AddNoise and the guiders on the tiny SD1 UNet, against formulas applied here to independent draws and
to single-conditioning predictions."""
from __future__ import annotations

import pytest
import torch

from graph_engine import InvalidNodeInput
from nodes.custom_sampling import custom_sampler as nodes_
from nodes.runtime.models import DiffusionModel

SCALE = 0.18215  # SD1's latent scale factor
CLOSE = {"rtol": 1e-4, "atol": 2e-4}  # one UNet batch against separate calls


@pytest.fixture(scope="module")
def model(tiny_sd1) -> DiffusionModel:
    return DiffusionModel(tiny_sd1.unet, "SD1.x", "epsilon", "tiny")


def cond(seed: int) -> list:
    return [[torch.randn(1, 77, 64, generator=torch.Generator().manual_seed(seed)), {}]]


def test_random_noise_is_the_seeds_cpu_draw_and_disable_noise_is_zeros():
    latent = {"samples": torch.zeros(2, 4, 3, 5)}
    noise, = nodes_.RandomNoise().get_noise(42)
    expected = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(42))
    assert noise.seed == 42 and torch.equal(noise.generate_noise(latent), expected)
    # a latent split off a batch gets its slot's draw among one-item draws, as ComfyUI draws them
    generator = torch.Generator().manual_seed(42)
    slots = [torch.randn(1, 4, 3, 5, generator=generator) for _ in range(2)]
    picked = noise.generate_noise({"samples": torch.zeros(1, 4, 3, 5), "batch_index": [1]})
    assert torch.equal(picked, slots[1])
    empty, = nodes_.DisableNoise().get_noise()
    assert empty.seed == 0 and torch.equal(empty.generate_noise(latent), torch.zeros(2, 4, 3, 5))


def test_add_noise_adds_the_span_of_the_sigmas_in_model_units(model):
    latent = {"samples": torch.full((1, 4, 2, 2), 2.0), "batch_index": [0]}
    noise, = nodes_.RandomNoise().get_noise(7)
    drawn = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(7))
    out, = nodes_.AddNoise().add_noise(model, noise, torch.tensor([3.0, 1.0, 0.5]), latent)
    torch.testing.assert_close(out["samples"], (2.0 * SCALE + drawn * 2.5) / SCALE)
    assert out["batch_index"] == [0]
    # an empty latent is not scaled in; one sigma is the level itself
    out, = nodes_.AddNoise().add_noise(model, noise, torch.tensor([3.0]), {"samples": torch.zeros(1, 4, 2, 2)})
    torch.testing.assert_close(out["samples"], drawn * 3.0 / SCALE)
    assert nodes_.AddNoise().add_noise(model, noise, torch.zeros(0), latent)[0] is latent


def predictions(model, x, sigma, *conds):
    """Each conditioning's own x0 prediction (BasicGuider: no guidance)."""
    return [nodes_.BasicGuider().get_guider(model, c)[0].denoiser()(x, sigma) for c in conds]


def test_cfg_guider_mixes_positive_and_negative_predictions(model):
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([2.0])
    pos, neg = predictions(model, x, sigma, cond(1), cond(2))
    assert (pos - neg).abs().mean() > 1e-3
    guider, = nodes_.CFGGuider().get_guider(model, cond(1), cond(2), 5.0)
    torch.testing.assert_close(guider.denoiser()(x, sigma), neg + (pos - neg) * 5.0, **CLOSE)


@pytest.mark.parametrize("style, cfg_conds, cfg_negative", [("regular", 3.0, 5.0), ("regular", 2.0, 1.0),
                                                             ("regular", 1.0, 1.0), ("nested", 3.0, 5.0)])
def test_dual_cfg_guider(model, style, cfg_conds, cfg_negative):
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4)), torch.tensor([1.5])
    c1, c2, n = predictions(model, x, sigma, cond(1), cond(2), cond(3))
    if style == "nested":
        expected = n + cfg_negative * (c2 + (c1 - c2) * cfg_conds - n)
    else:
        expected = n + (c2 - n) * cfg_negative + (c1 - c2) * cfg_conds
    guider, = nodes_.DualCFGGuider().get_guider(model, cond(1), cond(2), cond(3), cfg_conds, cfg_negative, style)
    torch.testing.assert_close(guider.denoiser()(x, sigma), expected, **CLOSE)


@pytest.mark.parametrize("style", ["regular", "nested"])
def test_dual_guiders_combine_their_pairs_through_the_models_cfg_hooks(model, style):
    """As ComfyUI's Guider_DualCFG and Guider_DualModel: each pair goes through cfg_function, so a cfg function and
    post-cfg functions apply (here: a cfg function that keeps only the first of its pair, plus a post-cfg offset)."""
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(4)), torch.tensor([1.5])
    c1, c2, n = predictions(model, x, sigma, cond(1), cond(2), cond(3))
    patched = model.clone()
    patched.set_model_sampler_cfg_function(lambda args: args["cond"])  # noise of the first of the pair
    patched.set_model_sampler_post_cfg_function(lambda args: args["denoised"] + 0.25)
    guider, = nodes_.DualCFGGuider().get_guider(patched, cond(1), cond(2), cond(3), 3.0, 5.0, style)
    if style == "nested":  # the pair (c1, c2) gives c1 + 0.25, then the negative guidance
        expected = n + 5.0 * (c1 + 0.25 - n)
    else:  # the pair (c2, n) gives c2 + 0.25, then cond1's step away from cond2
        expected = c2 + 0.25 + (c1 - c2) * 3.0
    torch.testing.assert_close(guider.denoiser()(x, sigma), expected, **CLOSE)
    guider, = nodes_.DualModelGuider().get_guider(patched, cond(1), 4.0, model, cond(2))
    torch.testing.assert_close(guider.denoiser()(x, sigma), c1 + 0.25, **CLOSE)


def test_wrong_wires_are_named():
    with pytest.raises(InvalidNodeInput, match="guider must be a GUIDER"):
        nodes_.SamplerCustomAdvanced().sample(nodes_.DisableNoise().get_noise()[0], "cfg", None, None, None)
    with pytest.raises(InvalidNodeInput, match="model must be a MODEL"):
        nodes_.CFGGuider().get_guider("not a model", cond(1), cond(2), 5.0)


def test_guiders_report_the_negative_prediction_to_cfg_pp_samplers(model):
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5)), torch.tensor([2.5])
    c1, c2, n = predictions(model, x, sigma, cond(1), cond(2), cond(3))
    sink = {}
    guider, = nodes_.CFGGuider().get_guider(model, cond(1), cond(3), 1.0)  # even at cfg 1
    torch.testing.assert_close(guider.denoiser()(x, sigma, uncond_sink=sink), c1, **CLOSE)
    torch.testing.assert_close(sink["uncond"], n, **CLOSE)
    for style, reported in (("regular", n), ("nested", c2)):
        sink = {}
        guider, = nodes_.DualCFGGuider().get_guider(model, cond(1), cond(2), cond(3), 2.0, 3.0, style)
        guider.denoiser()(x, sigma, uncond_sink=sink)
        torch.testing.assert_close(sink["uncond"], reported, **CLOSE)


def test_dual_model_guider_predicts_the_negative_with_the_other_model(model):
    import copy

    other = copy.deepcopy(model.unet)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.mul_(0.9)
    negative_model = DiffusionModel(other, "SD1.x", "epsilon", "tiny, scaled")
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(6)), torch.tensor([2.0])
    pos, = predictions(model, x, sigma, cond(1))
    neg_own, = predictions(model, x, sigma, cond(2))
    neg_other, = predictions(negative_model, x, sigma, cond(2))
    assert (neg_own - neg_other).abs().mean() > 1e-3
    node = nodes_.DualModelGuider()
    guider, = node.get_guider(model, cond(1), 4.0, negative_model, cond(2))
    torch.testing.assert_close(guider.denoiser()(x, sigma), neg_other + (pos - neg_other) * 4.0, **CLOSE)
    guider, = node.get_guider(model, cond(1), 4.0, None, cond(2))  # without model_negative: ordinary CFG
    torch.testing.assert_close(guider.denoiser()(x, sigma), neg_own + (pos - neg_own) * 4.0, **CLOSE)
    guider, = node.get_guider(model, cond(1), 1.0, negative_model, cond(2))
    torch.testing.assert_close(guider.denoiser()(x, sigma), pos, **CLOSE)
    with pytest.raises(InvalidNodeInput, match="negative conditioning"):
        node.get_guider(model, cond(1), 4.0, negative_model, None)
