"""The scheduler nodes against their formulas written out here with numpy, and against the model's sigma table."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaincinv

from nodes.custom_sampling import schedulers as nodes_
from nodes.runtime.sampling import ksampler_sigmas, sd_schedule
from tests.nodes.custom_sampling.conftest import table


def check(got, expected, rtol=1e-5):
    np.testing.assert_allclose(got.double().numpy(), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=1e-7)


def test_karras_spaces_sigma_to_the_one_over_rho_evenly():
    got, = nodes_.KarrasScheduler().get_sigmas(5, 10.0, 0.1, 3.0)
    expected = [(10 ** (1 / 3) + i / 4 * (0.1 ** (1 / 3) - 10 ** (1 / 3))) ** 3 for i in range(5)] + [0]
    check(got, expected)


def test_exponential_and_polyexponential_space_log_sigma():
    got, = nodes_.ExponentialScheduler().get_sigmas(4, 8.0, 0.5)
    check(got, [8.0, 8.0 / 16 ** (1 / 3), 8.0 / 16 ** (2 / 3), 0.5, 0])  # log-even from 8 to 0.5
    got, = nodes_.PolyexponentialScheduler().get_sigmas(3, 8.0, 0.5, 2.0)
    # ramp (1, 0.5, 0) squared: log sigma = log 0.5 + (1, 0.25, 0) * log 16
    check(got, [8.0, 0.5 * 16 ** 0.25, 0.5, 0])


def test_vp_scheduler_is_the_continuous_vp_sde():
    got, = nodes_.VPScheduler().get_sigmas(3, 19.9, 0.1, 0.001)
    t = np.array([1.0, 0.5005, 0.001])
    check(got, list(np.sqrt(np.expm1(19.9 * t ** 2 / 2 + 0.1 * t))) + [0], rtol=1e-4)


def test_laplace_has_no_trailing_zero_and_stays_in_range():
    got, = nodes_.LaplaceScheduler().get_sigmas(5, 14.6, 0.03, 0.0, 0.5)
    x = np.linspace(0, 1, 5)
    lam = -0.5 * np.sign(0.5 - x) * np.log(1 - 2 * np.abs(0.5 - x) + 1e-5)
    check(got, np.clip(np.exp(lam), 0.03, 14.6), rtol=1e-4)
    assert len(got) == 5 and float(got[-1]) > 0


def test_sd_turbo_takes_every_hundredth_training_sigma_from_the_top(model):
    sigmas = table()
    got, = nodes_.SDTurboScheduler().get_sigmas(model, 4, 1.0)
    check(got, [sigmas[999], sigmas[899], sigmas[799], sigmas[699], 0])
    got, = nodes_.SDTurboScheduler().get_sigmas(model, 2, 0.5)  # starts 5 of the 10 turbo steps in
    check(got, [sigmas[499], sigmas[399], 0])
    got, = nodes_.SDTurboScheduler().get_sigmas(model, 10, 0.3)  # only 3 turbo steps are left
    check(got, [sigmas[299], sigmas[199], sigmas[99], 0])


@pytest.mark.parametrize("scheduler", ["karras", "simple", "normal", "beta"])
def test_basic_scheduler_is_ksamplers_schedule_and_denoise_keeps_its_tail(model, scheduler):
    got, = nodes_.BasicScheduler().get_sigmas(model, scheduler, 6, 1.0)
    check(got, ksampler_sigmas(sd_schedule(), scheduler, 6).numpy(), rtol=0)
    got, = nodes_.BasicScheduler().get_sigmas(model, scheduler, 4, 0.5)
    full, = nodes_.BasicScheduler().get_sigmas(model, scheduler, 8, 1.0)
    check(got, full[-5:].numpy(), rtol=0)
    assert len(nodes_.BasicScheduler().get_sigmas(model, scheduler, 4, 0.0)[0]) == 0


def test_basic_scheduler_linear_quadratic_and_kl_optimal(model):
    sigma_max, sigma_min = table()[999], table()[0]
    got, = nodes_.BasicScheduler().get_sigmas(model, "kl_optimal", 4, 1.0)
    w = np.arange(4) / 3
    check(got, list(np.tan(w * math.atan(sigma_min) + (1 - w) * math.atan(sigma_max))) + [0])
    # 4 steps: linear 0, 0.0125 over two steps, then the quadratic through (2, 0.025) with slope 0.0125 to (4, 1)
    got, = nodes_.BasicScheduler().get_sigmas(model, "linear_quadratic", 4, 1.0)
    a = (1 - 0.025 - 2 * 0.0125) / 4  # s(i) = 0.025 + 0.0125 (i - 2) + a (i - 2)^2, s(4) = 1
    rising = [0, 0.0125, 0.025, 0.025 + 0.0125 + a, 1.0]
    check(got, [(1 - s) * sigma_max for s in rising])
    check(nodes_.BasicScheduler().get_sigmas(model, "linear_quadratic", 1, 1.0)[0], [sigma_max, 0])


def test_beta_sampling_scheduler_puts_timesteps_at_beta_quantiles(model):
    got, = nodes_.BetaSamplingScheduler().get_sigmas(model, 5, 2.0, 3.0)
    t = np.rint(betaincinv(2.0, 3.0, 1 - np.arange(5) / 5) * 999).astype(int)
    check(got, list(table()[t]) + [0])
