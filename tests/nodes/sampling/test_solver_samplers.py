"""dpm_fast, dpm_adaptive, deis, sa_solver and sa_solver_pece: their steps against formulas and integrals computed
here (scipy quadrature, hand-written single steps), and their convergence on the Gaussian toy problem whose exact
flow is known (see test_sampler_properties.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from nodes.runtime.sampling import SAMPLERS, ksampler_sigmas, sd_schedule
from nodes.runtime.sampling.deis import deis_coefficients, vp_time
from nodes.runtime.sampling.dpm_solver import PIDStepSizeController, fast_orders
from nodes.runtime.sampling.sa_solver import adams_coefficients, sde_interval, simple_order_2_coefficients
from tests.nodes.sampling.test_sampler_properties import C, MU, gaussian_denoiser


@pytest.fixture(scope="module")
def z() -> torch.Tensor:
    return torch.randn(16, 4, 8, 8, generator=torch.Generator().manual_seed(0))


def start(sigmas: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return MU + (C ** 2 + sigmas[0] ** 2) ** 0.5 * z


def flow_at(sigma: float, z: torch.Tensor) -> torch.Tensor:
    """Where the probability-flow ODE from start() is at noise level sigma."""
    return MU + (C ** 2 + sigma ** 2) ** 0.5 * z


def counting(calls: list):
    def model(x, sigma, **kwargs):
        calls.append(float(sigma[0]))
        return gaussian_denoiser(x, sigma)
    return model


# dpm_fast ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nfe, orders", [(1, [1]), (2, [2]), (3, [2, 1]), (4, [3, 1]), (5, [3, 2]), (6, [3, 2, 1]),
                                         (10, [3, 3, 3, 1])])
def test_dpm_fast_spends_its_model_calls_on_third_order_steps_first(nfe, orders):
    assert fast_orders(nfe) == orders and sum(orders) == nfe


def test_a_first_order_dpm_fast_step_is_ddim():
    """DPM-Solver-1 from sigma 4 to 1: x - sigma_next (sigma / sigma_next - 1) eps = D + sigma_next eps."""
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(1)) * 4
    got = SAMPLERS["dpm_fast"](gaussian_denoiser, x, torch.tensor([4.0, 1.0]))
    d = gaussian_denoiser(x, torch.tensor([4.0]))
    torch.testing.assert_close(got, d + 1.0 * (x - d) / 4.0, rtol=1e-5, atol=1e-5)


def test_a_second_order_dpm_fast_step_takes_the_slope_at_the_geometric_midpoint():
    """sigmas [4, 2, 0]: two calls, one DPM-Solver-2 step from 4 to 2 (the last non-zero sigma). With r1 = 1/2 it is
    an Euler half step to sqrt(8) and the full step with the slope found there."""
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(2)) * 4
    calls = []
    got = SAMPLERS["dpm_fast"](counting(calls), x, torch.tensor([4.0, 2.0, 0.0]))
    mid = math.sqrt(8.0)
    eps = (x - gaussian_denoiser(x, torch.tensor([4.0]))) / 4.0
    u = x + (mid - 4.0) * eps
    eps_mid = (u - gaussian_denoiser(u, torch.tensor([mid]))) / mid
    torch.testing.assert_close(got, x + (2.0 - 4.0) * eps_mid, rtol=1e-5, atol=1e-5)
    assert calls == pytest.approx([4.0, mid])


def test_dpm_fast_reports_its_own_steps_evenly_spaced_in_log_sigma():
    sigmas = torch.tensor([8.0, 4.0, 2.0, 1.0, 0.5, 0.0])  # 5 calls: a third- and a second-order step
    seen = []
    SAMPLERS["dpm_fast"](gaussian_denoiser, torch.ones(1, 4, 2, 2) * 8, sigmas, callback=seen.append)
    assert [s["i"] for s in seen] == [0, 1] and set(seen[0]) == {"i", "x", "sigma", "denoised"}
    assert [float(s["sigma"]) for s in seen] == pytest.approx([8.0, 2.0])  # log sigma from log 8 to log 0.5


def test_dpm_fast_stops_at_the_last_nonzero_sigma_with_third_order_accuracy(z):
    schedule = sd_schedule()
    errors = []
    for steps in (24, 48):
        sigmas = ksampler_sigmas(schedule, "karras", steps)
        calls = []
        out = SAMPLERS["dpm_fast"](counting(calls), start(sigmas, z), sigmas)
        assert len(calls) == steps
        errors.append(float((out - flow_at(float(sigmas[-2]), z)).abs().max()))
    assert errors[0] < 0.005 and errors[1] < errors[0] / 8 * 1.3


# dpm_adaptive ---------------------------------------------------------------------------------------------------

def test_the_pid_controller_scales_the_step_by_the_softened_inverse_error():
    """Integral-only control of order 3: factor = 1 + atan((1 / error)^(1/3) - 1); accepted when it reaches 0.81.
    With P and D gains the earlier accepted errors enter with exponents -(p + 2d) / order and d / order."""
    pid = PIDStepSizeController(0.1, 0.0, 1.0, 0.0, 3, 0.81)
    assert pid.propose_step(0.5)
    h = 0.1 * (1 + math.atan(2 ** (1 / 3) - 1))
    assert pid.h == pytest.approx(h, rel=1e-7)
    assert not pid.propose_step(8.0)  # factor 1 + atan(-1/2) = 0.536
    assert pid.h == pytest.approx(h * (1 + math.atan(0.5 - 1)), rel=1e-7)

    pid = PIDStepSizeController(1.0, 0.5, 1.0, 0.25, 2, 0.81)
    inverse = [1 / (e + 1e-8) for e in (0.5, 0.25, 0.8)]
    for error in (0.5, 0.25):
        assert pid.propose_step(error)
    assert not pid.propose_step(0.8)  # rejected: factor 0.675, yet h still scales
    b1, b2, b3 = 1.75 / 2, -1.0 / 2, 0.25 / 2
    last = 1 + math.atan(inverse[2] ** b1 * inverse[1] ** b2 * inverse[0] ** b3 - 1)
    second = 1 + math.atan(inverse[1] ** b1 * inverse[0] ** b2 * inverse[0] ** b3 - 1)
    first = 1 + math.atan(inverse[0] ** (b1 + b2 + b3) - 1)
    assert pid.h == pytest.approx(first * second * last, rel=1e-7)


@pytest.mark.parametrize("order", [2, 3])
def test_dpm_adaptive_takes_more_steps_for_a_tighter_tolerance_and_lands_closer(z, order):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 10)
    end = flow_at(float(sigmas[-2]), z)
    results = []
    for rtol, atol in ((0.05, 0.0078), (0.001, 0.0001)):
        calls = []
        out = SAMPLERS["dpm_adaptive"](counting(calls), start(sigmas, z), sigmas, order=order, rtol=rtol, atol=atol)
        results.append((len(calls), float((out - end).abs().max())))
    (loose_calls, loose_error), (tight_calls, tight_error) = results
    assert tight_calls > loose_calls and tight_error < loose_error / 3
    assert tight_error < 0.05


def test_dpm_adaptive_retries_a_step_that_was_too_large_from_the_same_point(z):
    """Every try reports (rejected ones at the sigma they started from); the accepted sigmas fall to sigma_min,
    which the last accepted step reaches exactly, and a try costs `order` model calls."""
    sigmas = torch.tensor([14.6, 2.0, 0.5, 0.0])
    seen, calls = [], []
    SAMPLERS["dpm_adaptive"](counting(calls), start(sigmas, z), sigmas, callback=seen.append, order=3, h_init=4.0,
                             rtol=0.001, atol=0.0001)
    reported = [float(s["sigma"]) for s in seen]
    assert reported[0] == pytest.approx(14.6, rel=1e-5)  # the 4-unit first step in log sigma is rejected
    assert all(b <= a for a, b in zip(reported, reported[1:])) and reported[-1] == pytest.approx(0.5, rel=1e-5)
    assert [s["i"] for s in seen] == list(range(len(seen)))
    assert len(calls) <= 3 * len(seen) and calls[0] == pytest.approx(14.6, rel=1e-5)


def test_dpm_adaptive_refuses_options_that_never_finish():
    x = torch.zeros(1, 4, 2, 2)
    for options in ({"h_init": 0.0}, {"rtol": 0.0, "atol": 0.0}, {"accept_safety": 3.0}, {"order": 4}):
        with pytest.raises(ValueError):
            SAMPLERS["dpm_adaptive"](gaussian_denoiser, x, torch.tensor([2.0, 1.0, 0.0]), **options)


def test_dpm_adaptive_with_eta_adds_noise_yet_keeps_the_distribution(z):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 10)
    out = SAMPLERS["dpm_adaptive"](gaussian_denoiser, start(sigmas, z), sigmas, extra_args={"seed": 4}, eta=1.0,
                                   rtol=0.01, atol=0.001)
    ode = SAMPLERS["dpm_adaptive"](gaussian_denoiser, start(sigmas, z), sigmas, rtol=0.01, atol=0.001)
    assert (out - ode).abs().max() > 0.1
    spread = (C ** 2 + float(sigmas[-2]) ** 2) ** 0.5
    assert abs(float(out.mean()) - MU) < 0.03 and abs(float(out.std()) / spread - 1) < 0.05


# deis -------------------------------------------------------------------------------------------------------------

def exact_deis_coefficient(sigmas: np.ndarray, i: int, order: int, j: int) -> float:
    """The integral over sigma of the j-th Lagrange basis polynomial in the VP time, with the VP SDE written out
    here: log(1 + sigma^2) = b t + d t^2 / 2 through sigma(1e-3) = 0.002 and sigma(1) = 80."""
    low, high = math.log(1 + 0.002 ** 2), math.log(1 + 80.0 ** 2)
    d = 2 * (high - low / 1e-3) / (1 - 1e-3)
    b = high - d / 2

    def time(sigma):
        return (-b + math.sqrt(b * b + 2 * d * math.log(1 + sigma * sigma))) / d

    nodes = [time(sigmas[i - k]) for k in range(order)]

    def basis(sigma):
        t = time(sigma)
        return math.prod((t - nodes[k]) / (nodes[j] - nodes[k]) for k in range(order) if k != j)

    value, _ = integrate.quad(basis, sigmas[i], sigmas[i + 1], epsabs=1e-12, epsrel=1e-10)
    return value


@pytest.mark.parametrize("i, order", [(1, 2), (2, 3), (5, 3), (6, 4)])
def test_deis_coefficients_are_the_integrals_of_the_lagrange_basis_over_sigma(i, order):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 10).double().numpy()
    got = deis_coefficients(vp_time(sigmas), i, order)
    expected = [exact_deis_coefficient(sigmas, i, order, j) for j in range(order)]
    # ComfyUI's 10,000-point sum is within about 1e-5 of the integral, relative to the largest coefficient
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * max(1.0, max(map(abs, expected))))
    assert sum(got) == pytest.approx(sigmas[i + 1] - sigmas[i], rel=5e-5)  # a constant eps is integrated exactly


def test_deis_second_step_combines_two_slopes_with_its_coefficients():
    sigmas = torch.tensor([6.0, 3.0, 1.5])
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(3)) * 6
    d0 = (x - gaussian_denoiser(x, sigmas[:1])) / 6.0
    x1 = x + (3.0 - 6.0) * d0
    d1 = (x1 - gaussian_denoiser(x1, sigmas[1:2])) / 3.0
    c = [exact_deis_coefficient(sigmas.double().numpy(), 1, 2, j) for j in range(2)]
    got = SAMPLERS["deis"](gaussian_denoiser, x, sigmas)
    torch.testing.assert_close(got, x1 + c[0] * d1 + c[1] * d0, rtol=0, atol=2e-4)


def test_deis_converges_to_the_exact_flow(z):
    schedule = sd_schedule()
    errors = []
    for steps in (10, 20, 40):
        sigmas = ksampler_sigmas(schedule, "karras", steps)
        errors.append(float((SAMPLERS["deis"](gaussian_denoiser, start(sigmas, z), sigmas) - flow_at(0.0, z))
                            .abs().max()))
    assert errors[2] < 0.01 and errors[1] < errors[0] / 4


# sa_solver ----------------------------------------------------------------------------------------------------------

def exact_adams_coefficient(lambdas, lambda_s, lambda_t, tau, k) -> float:
    a = 1 + tau ** 2

    def integrand(lam):
        basis = math.prod((lam - lambdas[m]) / (lambdas[k] - lambdas[m]) for m in range(len(lambdas)) if m != k)
        return a * math.exp(-a * (lambda_t - lam)) * basis

    value, _ = integrate.quad(integrand, lambda_s, lambda_t, epsabs=1e-13, epsrel=1e-11)
    return value


@pytest.mark.parametrize("lambdas, lambda_s, lambda_t, tau", [
    ([0.3], 0.3, 0.9, 0.0), ([-1.0, -0.4], -0.4, 0.1, 1.0), ([-2.0, -1.2, -0.5], -0.5, 0.4, 0.7),
    ([0.5, 1.0, 1.4, 1.9], 1.4, 1.9, 0.0), ([1.0, 1.3, 1.7, 2.0, 2.4, 2.9], 2.4, 2.9, 1.0),
    ([0.5, 1.0], 0.5, 1.0, 1.0)])  # the last: a corrector's nodes, at both ends of its step
def test_sa_solver_coefficients_integrate_the_weighted_lagrange_basis(lambdas, lambda_s, lambda_t, tau):
    got = adams_coefficients(lambdas, lambda_s, lambda_t, tau)
    expected = [exact_adams_coefficient(lambdas, lambda_s, lambda_t, tau, k) for k in range(len(lambdas))]
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def test_sa_solver_simple_order_2_coefficients_are_the_papers():
    a, h = 1 + 0.5 ** 2, 0.6
    total = 1 - math.exp(-a * h)
    assert simple_order_2_coefficients([0.1, 0.3], 0.3, 0.9, 0.5, corrector=False) == pytest.approx(
        [a * h * h / 2 / (0.1 - 0.3), total - a * h * h / 2 / (0.1 - 0.3)])
    assert simple_order_2_coefficients([0.3, 0.9], 0.3, 0.9, 0.5, corrector=True) == pytest.approx(
        [total - a * h / 2, a * h / 2])


def test_the_sde_interval_is_inclusive_and_eta_zero_is_the_ode():
    tau = sde_interval(5.0, 1.0, eta=0.7)
    assert [tau(s) for s in (6.0, 5.0, 2.0, 1.0, 0.5)] == [0.0, 0.7, 0.7, 0.7, 0.0]
    assert sde_interval(5.0, 1.0, eta=0.0)(2.0) == 0.0
    assert tau(torch.tensor(3.0)) == 0.7


def test_first_order_sa_solver_without_noise_is_euler(z):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 8)
    got = SAMPLERS["sa_solver"](gaussian_denoiser, start(sigmas, z), sigmas, tau_func=lambda s: 0.0,
                                predictor_order=1, corrector_order=0)
    torch.testing.assert_close(got, SAMPLERS["euler"](gaussian_denoiser, start(sigmas, z), sigmas), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["sa_solver", "sa_solver_pece"])
def test_sa_solver_without_noise_converges_to_the_exact_flow(z, name):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 20)
    out = SAMPLERS[name](gaussian_denoiser, start(sigmas, z), sigmas, tau_func=lambda s: 0.0)
    assert (out - flow_at(0.0, z)).abs().max() < 0.01


def test_sa_solver_pece_evaluates_each_corrected_latent_once_more(z):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 10)
    plain_calls, pece_calls = [], []
    SAMPLERS["sa_solver"](counting(plain_calls), start(sigmas, z), sigmas, extra_args={"seed": 1})
    SAMPLERS["sa_solver_pece"](counting(pece_calls), start(sigmas, z), sigmas, extra_args={"seed": 1})
    assert len(plain_calls) == 10 and len(pece_calls) == 10 + 9  # no corrector before the first step


def test_sa_solver_takes_its_default_sde_interval_from_the_models_schedule(z):
    """20% to 80% of the way through the schedule KSampler hands over (here not SD's), stochastic with tau 1."""
    from nodes.runtime.sampling import sampler_object

    schedule = sd_schedule(linear_start=0.0001, linear_end=0.02)
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 12)
    noise = z[:2]
    via_ksampler = sampler_object("sa_solver").sample(gaussian_denoiser, schedule, sigmas, torch.zeros_like(noise),
                                                      noise, 7)
    x = noise * sigmas[0]  # sigmas[0] is below this schedule's largest: not a start from pure noise
    runs = {}
    for name, levels in (("given", schedule), ("sd", sd_schedule())):
        interval = sde_interval(levels.percent_to_sigma(0.2), levels.percent_to_sigma(0.8), 1.0)
        runs[name] = SAMPLERS["sa_solver"](gaussian_denoiser, x, sigmas, extra_args={"seed": 7}, tau_func=interval)
    torch.testing.assert_close(via_ksampler, runs["given"])
    assert (runs["given"] - runs["sd"]).abs().max() > 0.01


@pytest.mark.parametrize("name", ["sa_solver", "sa_solver_pece"])
def test_stochastic_sa_solver_reproduces_the_data_distribution(z, name):
    sigmas = ksampler_sigmas(sd_schedule(), "karras", 30)
    out = SAMPLERS[name](gaussian_denoiser, start(sigmas, z), sigmas, extra_args={"seed": 3},
                         tau_func=sde_interval(100.0, 0.0, 1.0))
    assert abs(float(out.mean()) - MU) < 0.02 and abs(float(out.std()) / C - 1) < 0.03
