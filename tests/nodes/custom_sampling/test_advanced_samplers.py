"""comfy_extras.nodes_advanced_samplers: LCM's noise options, LCM upscaling while sampling, Euler CFG++ versions."""
from __future__ import annotations

import torch

from nodes.custom_sampling.advanced_samplers import SamplerEulerCFGpp, SamplerLCM, SamplerLCMUpscale
from nodes.runtime.sampling import SAMPLERS
from tests.nodes.sampling.test_added_samplers import guided
from tests.nodes.sampling.test_sampler_properties import gaussian_denoiser


def zero_model(x, sigma, **kwargs):
    return torch.zeros_like(x)


def run(sampler, x, sigmas, seed=3, model=zero_model):
    return sampler.sampler_function(model, x, sigmas, extra_args={"seed": seed}, **sampler.extra_options)


def test_lcm_noise_goes_linearly_from_s_noise_to_s_noise_end_and_is_clamped():
    sampler, = SamplerLCM().get_sampler(0.5, 2.0, 0.0)
    fixed = torch.tensor([[-3.0, -1.0, 0.5, 3.0]]).view(1, 1, 2, 2)
    seen = []
    out = sampler.sampler_function(zero_model, torch.zeros(1, 1, 2, 2), torch.tensor([3.0, 2.0, 1.0]),
                                   callback=seen.append, noise_sampler=lambda s, t: fixed, **sampler.extra_options)
    torch.testing.assert_close(seen[1]["x"], 2.0 * 0.5 * fixed)  # first step: sigma 2, strength 0.5
    torch.testing.assert_close(out, 1.0 * 2.0 * fixed)  # last step: sigma 1, strength 2
    clipped, = SamplerLCM().get_sampler(1.0, 1.0, 1.0)
    limit = float(fixed.std())
    out = clipped.sampler_function(zero_model, torch.zeros(1, 1, 2, 2), torch.tensor([1.0, 0.5]),
                                   noise_sampler=lambda s, t: fixed, **clipped.extra_options)
    torch.testing.assert_close(out, 0.5 * fixed.clamp(-limit, limit))


def test_lcm_node_defaults_are_ksamplers_lcm():
    sampler, = SamplerLCM().get_sampler(1.0, 1.0, 0.0)
    x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1)) * 5
    sigmas = torch.tensor([5.0, 2.0, 0.5, 0])
    model = lambda x, sigma, **k: 0.3 * x  # noqa: E731
    torch.testing.assert_close(run(sampler, x, sigmas, model=model),
                               SAMPLERS["lcm"](model, x, sigmas, extra_args={"seed": 3}), rtol=0, atol=0)


def test_lcm_upscale_grows_the_latent_in_equal_factors_over_half_the_steps():
    sampler, = SamplerLCMUpscale().get_sampler(2.0, -1, "bilinear")
    sizes = []
    model = lambda x, sigma, **k: (sizes.append(tuple(x.shape[-2:])), torch.ones_like(x))[1]  # noqa: E731
    out = run(sampler, torch.zeros(1, 4, 8, 6), torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0]), model=model)
    assert sizes == [(8, 6), (12, 9), (16, 12), (16, 12)]  # 5 sigmas: factors 1.5 then 2, over 3 - 1 steps
    torch.testing.assert_close(out, torch.ones(1, 4, 16, 12))  # the last x0 prediction
    again = run(sampler, torch.zeros(1, 4, 8, 6), torch.tensor([4.0, 3.0, 0.5]), model=zero_model, seed=9)
    assert torch.equal(again, run(sampler, torch.zeros(1, 4, 8, 6), torch.tensor([4.0, 3.0, 0.5]), seed=9))
    sampler, = SamplerLCMUpscale().get_sampler(3.0, 1, "nearest-exact")  # all of it in the first step
    sizes.clear()
    run(sampler, torch.zeros(1, 4, 4, 4), torch.tensor([4.0, 3.0, 2.0, 0.0]), model=model)
    assert sizes == [(4, 4), (12, 12), (12, 12)]


def test_euler_cfg_pp_versions():
    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(5)) * 5.0
    sigmas = torch.tensor([5.0, 2.0])
    regular, = SamplerEulerCFGpp().get_sampler("regular")
    assert regular.sampler_function is SAMPLERS["euler_cfg_pp"]
    alternative, = SamplerEulerCFGpp().get_sampler("alternative")
    s = torch.tensor([5.0])
    guided_x0 = guided(x, s)
    uncond = 0.8 * gaussian_denoiser(x, s)
    expected = x + (x - 2 * guided_x0 + uncond) / 5.0 * (2.0 - 5.0)
    torch.testing.assert_close(run(alternative, x, sigmas, model=guided), expected)
