"""Properties every sampler must have, using Gaussian data whose exact denoiser is known in closed form.

For x0 ~ N(mu, c^2) the best denoiser is D(x, sigma) = mu + c^2 / (c^2 + sigma^2) * (x - mu), and the
probability-flow ODE maps x_T to mu + c / sqrt(c^2 + sigma_T^2) * (x_T - mu) exactly.
"""
from __future__ import annotations

import pytest
import torch

from nodes.runtime.sampling import SAMPLERS, SCHEDULERS, ksampler_sigmas

MU, C = 0.5, 0.7
SHAPE = (64, 4, 8, 8)
ODE_SAMPLERS = ["euler", "heun", "heunpp2", "exp_heun_2_x0", "dpm_2", "lms", "dpmpp_2m", "ipndm", "ipndm_v",
                "res_multistep",
                "gradient_estimation", "ddim", "uni_pc", "uni_pc_bh2", "deis"]
# Heun++'s weights and gradient estimation's correction do not raise the order on this problem.
FIRST_ORDER = ("euler", "ddim", "heunpp2", "gradient_estimation")
STOCHASTIC = ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
              "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "ddpm", "res_multistep_ancestral", "er_sde", "seeds_2", "seeds_3",
              "exp_heun_2_x0_sde", "sa_solver", "sa_solver_pece"]
# DPM-Solver's fast and adaptive samplers choose their own steps (and report those): test_solver_samplers.py
OWN_STEPS = ("dpm_fast", "dpm_adaptive")


def gaussian_denoiser(x: torch.Tensor, sigma: torch.Tensor, **kwargs) -> torch.Tensor:
    s2 = sigma.view(-1, 1, 1, 1) ** 2
    return MU + C ** 2 / (C ** 2 + s2) * (x - MU)


@pytest.fixture(scope="module")
def z() -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(0))


def run(name, schedule, z, steps, scheduler="karras", model=gaussian_denoiser, **kwargs):
    sigmas = ksampler_sigmas(schedule, scheduler, steps, sampler=name)
    x_T = MU + (C ** 2 + sigmas[0] ** 2) ** 0.5 * z  # the exact marginal at sigma_T
    ode_end = MU + C * z
    return SAMPLERS[name](model, x_T, sigmas, extra_args={"seed": 3}, **kwargs), ode_end


@pytest.mark.parametrize("name", ODE_SAMPLERS)
def test_ode_samplers_land_on_the_exact_flow_solution(schedule, z, name):
    out, exact = run(name, schedule, z, 40)
    assert (out - exact).abs().max() < (0.15 if name in FIRST_ORDER else 0.02 if name in ("res_multistep", "exp_heun_2_x0") else 0.01)


@pytest.mark.parametrize("name, order", [("euler", 1), ("heun", 2), ("dpm_2", 2), ("dpmpp_2m", 2), ("lms", 2),
                                         ("ipndm", 2), ("res_multistep", 2), ("exp_heun_2_x0", 2)])
def test_doubling_the_steps_shrinks_the_error_by_the_method_order(schedule, z, name, order):
    err = [(lambda o: (o[0] - o[1]).abs().max())(run(name, schedule, z, n)) for n in (10, 20)]
    assert err[1] < err[0] / 2 ** order * 1.3


@pytest.mark.parametrize("name", STOCHASTIC)
def test_stochastic_samplers_reproduce_the_data_distribution(schedule, z, name):
    out, _ = run(name, schedule, z, 50)
    assert abs(float(out.mean()) - MU) < 0.02
    tolerance = 0.1 if name in ("euler_ancestral", "ddpm") else 0.03  # first order: its variance converges slowly
    assert abs(float(out.std()) / C - 1) < tolerance


def test_lcm_with_a_posterior_sampling_model_reproduces_the_data_distribution(schedule, z):
    """LCM expects a consistency model, whose output is a sample of x0, not its mean."""
    g = torch.Generator().manual_seed(5)

    def consistency_model(x, sigma, **kwargs):
        s2 = sigma.view(-1, 1, 1, 1) ** 2
        spread = (C ** 2 * s2 / (C ** 2 + s2)) ** 0.5
        return gaussian_denoiser(x, sigma) + spread * torch.randn(x.shape, generator=g)

    out, _ = run("lcm", schedule, z, 8, model=consistency_model)
    assert abs(float(out.mean()) - MU) < 0.02
    assert abs(float(out.std()) / C - 1) < 0.03


@pytest.mark.parametrize("ancestral, deterministic", [("euler_ancestral", "euler"), ("dpm_2_ancestral", "dpm_2"),
                                                      ("dpmpp_2m_sde", "dpmpp_2m"),
                                                      ("res_multistep_ancestral", "res_multistep")])
def test_without_noise_the_stochastic_variant_is_the_deterministic_sampler(schedule, z, ancestral, deterministic):
    a, _ = run(ancestral, schedule, z, 12, eta=0.0)
    b, _ = run(deterministic, schedule, z, 12)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["dpmpp_2m_sde", "dpmpp_2m_sde_heun"])
def test_without_noise_the_2m_sde_corrections_are_second_order_ode_solvers(schedule, z, name):
    err = [(lambda o: (o[0] - o[1]).abs().max())(run(name, schedule, z, n, eta=0.0)) for n in (20, 40)]
    assert err[1] < 0.02 and err[1] < err[0] / 4 * 1.3


@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - set(OWN_STEPS)))
def test_the_callback_sees_every_step_once(schedule, name):
    sigmas = SCHEDULERS["karras"](schedule, 6)
    seen = []
    x = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1)) * sigmas[0]
    SAMPLERS[name](gaussian_denoiser, x, sigmas, extra_args={"seed": 1}, callback=seen.append)
    assert [s["i"] for s in seen] == list(range(6))
    assert all(set(s) == {"i", "x", "sigma", "denoised"} for s in seen)
    assert [float(s["sigma"]) for s in seen] == [float(v) for v in sigmas[:-1]]
    assert all(s["x"].shape == x.shape and s["denoised"].shape == x.shape for s in seen)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_extra_args_reach_the_model_but_the_seed_does_not(schedule, name):
    sigmas = SCHEDULERS["normal"](schedule, 3)
    received = []

    def model(x, sigma, cond=None, uncond_sink=None):  # a 'seed' keyword would raise TypeError (CFG++ passes a sink)
        received.append(cond)
        return gaussian_denoiser(x, sigma)

    SAMPLERS[name](model, torch.ones(1, 4, 2, 2), sigmas, extra_args={"seed": 9, "cond": "c"})
    assert received and set(received) == {"c"}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_an_empty_schedule_returns_the_input(name):
    x = torch.ones(1, 4, 2, 2)
    assert torch.equal(SAMPLERS[name](gaussian_denoiser, x, torch.tensor([1.0]), extra_args={"seed": 0}), x)


def test_uni_pc_stops_at_sigma_0_001_and_leaves_the_callers_sigmas_alone(schedule, z):
    sigmas = ksampler_sigmas(schedule, "karras", 20, sampler="uni_pc")
    before = sigmas.clone()
    x_T = MU + (C ** 2 + sigmas[0] ** 2) ** 0.5 * z
    out = SAMPLERS["uni_pc"](gaussian_denoiser, x_T, sigmas)
    assert torch.equal(sigmas, before)
    at_0_001 = MU + (C ** 2 + 1e-6) ** 0.5 * z
    assert (out - at_0_001).abs().max() < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ODE_SAMPLERS + ["dpmpp_sde_gpu", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde_gpu"])
def test_samplers_run_on_cuda_like_on_the_cpu(schedule, z, name):
    sigmas = ksampler_sigmas(schedule, "karras", 20, sampler=name)
    x_T = MU + (C ** 2 + sigmas[0] ** 2) ** 0.5 * z
    out = SAMPLERS[name](gaussian_denoiser, x_T.cuda(), sigmas.cuda(), extra_args={"seed": 3})
    assert out.device.type == "cuda"
    if name in ODE_SAMPLERS:
        torch.testing.assert_close(out.cpu(), SAMPLERS[name](gaussian_denoiser, x_T, sigmas), atol=1e-4, rtol=0)
    else:
        assert abs(float(out.std()) / C - 1) < 0.05
