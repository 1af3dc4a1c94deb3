"""The SAMPLER nodes: each gives the named sampler with its options, checked by what the options must do on the
Gaussian toy problem whose exact denoiser is known (tests/nodes/sampling/test_sampler_properties.py)."""
from __future__ import annotations

import math

import pytest
import torch

from nodes.custom_sampling import samplers as nodes_
from nodes.runtime.sampling import SAMPLERS, karras_sigmas, sd_schedule
from tests.nodes.sampling.test_sampler_properties import gaussian_denoiser

SIGMAS = karras_sigmas(12, 0.03, 14.6)


@pytest.fixture(scope="module")
def noise() -> torch.Tensor:
    return torch.randn(16, 4, 4, 4, generator=torch.Generator().manual_seed(2))


def sample(sampler, noise, seed: int = 5) -> torch.Tensor:
    """Through the SAMPLER object, from an empty latent: it starts at noise * sigmas[0]."""
    return sampler.sample(gaussian_denoiser, sd_schedule(), SIGMAS, torch.zeros_like(noise), noise, seed)


def plain(name: str, noise, seed: int = 5, **options) -> torch.Tensor:
    """The sampler function called directly."""
    return SAMPLERS[name](gaussian_denoiser, noise * SIGMAS[0], SIGMAS, extra_args={"seed": seed}, **options)


def test_ksampler_select_gives_the_named_sampler(noise):
    sampler, = nodes_.KSamplerSelect().get_sampler("dpmpp_2m")
    assert sampler.sampler_function is SAMPLERS["dpmpp_2m"] and not sampler.extra_options
    torch.testing.assert_close(sample(sampler, noise), plain("dpmpp_2m", noise))
    assert nodes_.KSamplerSelect().get_sampler("ddim")[0].inpaint_options == {"random": True}


@pytest.mark.parametrize("node, args, deterministic", [
    (nodes_.SamplerEulerAncestral, (0.0, 1.0), "euler"),
    (nodes_.SamplerDPMPP_2S_Ancestral, (1.0, 0.0), None),
    (nodes_.SamplerLMS, (1,), "euler"),
    (nodes_.SamplerEulerAncestralCFGPP, (0.0, 1.0), "euler_cfg_pp"),
])
def test_options_that_remove_the_noise_or_the_history_give_the_simpler_sampler(noise, node, args, deterministic):
    sampler, = node().get_sampler(*args)
    got = sample(sampler, noise)
    if deterministic is not None:
        torch.testing.assert_close(got, plain(deterministic, noise), atol=1e-5, rtol=0)
    else:  # s_noise 0: the same for every seed
        torch.testing.assert_close(got, sample(sampler, noise, seed=6), atol=0, rtol=0)


def test_euler_ancestral_eta_scales_the_fresh_noise(noise):
    half, = nodes_.SamplerEulerAncestral().get_sampler(0.5, 1.0)
    assert half.extra_options == {"eta": 0.5, "s_noise": 1.0}
    torch.testing.assert_close(sample(half, noise), plain("euler_ancestral", noise, eta=0.5))
    assert (sample(half, noise) - plain("euler_ancestral", noise)).abs().max() > 0.01


@pytest.mark.parametrize("device, name", [("cpu", "dpmpp_2m_sde"), ("gpu", "dpmpp_2m_sde_gpu")])
def test_dpmpp_2m_sde_node_picks_the_tree_device_and_the_correction(noise, device, name):
    midpoint, = nodes_.SamplerDPMPP_2M_SDE().get_sampler("midpoint", 0.7, 1.0, device)
    heun, = nodes_.SamplerDPMPP_2M_SDE().get_sampler("heun", 0.7, 1.0, device)
    assert midpoint.sampler_function is heun.sampler_function is SAMPLERS[name]
    torch.testing.assert_close(sample(midpoint, noise), plain("dpmpp_2m_sde", noise, eta=0.7))
    torch.testing.assert_close(sample(heun, noise), plain("dpmpp_2m_sde_heun", noise, eta=0.7))
    assert (sample(heun, noise) - sample(midpoint, noise)).abs().max() > 1e-3


def test_dpmpp_sde_and_3m_sde_nodes_pass_their_options(noise):
    sampler, = nodes_.SamplerDPMPP_SDE().get_sampler(0.0, 1.0, 0.3, "cpu")
    assert sampler.sampler_function is SAMPLERS["dpmpp_sde"] and sampler.extra_options["r"] == 0.3
    torch.testing.assert_close(sample(sampler, noise), plain("dpmpp_sde", noise, eta=0.0, r=0.3))
    assert (sample(sampler, noise) - plain("dpmpp_sde", noise, eta=0.0)).abs().max() > 1e-4  # r matters
    sampler, = nodes_.SamplerDPMPP_3M_SDE().get_sampler(0.0, 1.0, "gpu")
    assert sampler.sampler_function is SAMPLERS["dpmpp_3m_sde_gpu"]
    torch.testing.assert_close(sample(sampler, noise), plain("dpmpp_3m_sde", noise, eta=0.0))


def test_er_sde_node_picks_the_noise_scaler():
    from nodes.runtime.sampling.multistep import er_sde_noise_scaler

    ode, = nodes_.SamplerER_SDE().get_sampler("ODE", 3, 1.0, 1.0)
    assert ode.extra_options["s_noise"] == 0.0 and float(ode.extra_options["noise_scaler"](torch.tensor(2.0))) == 2.0
    no_eta, = nodes_.SamplerER_SDE().get_sampler("ER-SDE", 2, 0.0, 1.0)
    assert no_eta.extra_options["s_noise"] == 0.0 and no_eta.extra_options["max_stage"] == 2
    reverse, = nodes_.SamplerER_SDE().get_sampler("Reverse-time SDE", 3, 1.0, 1.0)
    assert float(reverse.extra_options["noise_scaler"](torch.tensor(2.0))) == 4.0  # x^(eta + 1)
    er, = nodes_.SamplerER_SDE().get_sampler("ER-SDE", 3, 0.5, 1.0)
    value = float(er.extra_options["noise_scaler"](torch.tensor(2.0)))
    assert abs(value - 2.0 * (math.exp(2.0 ** 0.3) + 10.0) ** 0.5) < 1e-4  # x (e^(x^0.3) + 10)^eta
    assert float(er_sde_noise_scaler(0.0)(torch.tensor(3.0))) == 3.0


def test_seeds2_node_with_exp_heun_settings_is_exp_heun(noise):
    sampler, = nodes_.SamplerSEEDS2().get_sampler("phi_2", 0.0, 1.0, 1.0)
    assert sampler.sampler_function is SAMPLERS["seeds_2"]
    torch.testing.assert_close(sample(sampler, noise), plain("exp_heun_2_x0", noise), rtol=0, atol=0)
    sde, = nodes_.SamplerSEEDS2().get_sampler("phi_2", 1.0, 1.0, 1.0)
    torch.testing.assert_close(sample(sde, noise), plain("exp_heun_2_x0_sde", noise), rtol=0, atol=0)
