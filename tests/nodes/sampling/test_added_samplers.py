"""Samplers added for ComfyUI's full KSampler list, each step against its textbook form written out here."""
from __future__ import annotations

import pytest
import torch

from nodes.runtime.sampling import SAMPLERS
from tests.nodes.sampling.test_sampler_properties import gaussian_denoiser


def test_a_ddpm_step_is_the_posterior_mean_plus_the_posterior_noise():
    """Ho et al. (2020), eq. 7, in VP units: mean = sqrt(abar_prev) beta / (1 - abar) x0 + sqrt(a) (1 - abar_prev) /
    (1 - abar) x_t, variance beta (1 - abar_prev) / (1 - abar), with a = abar / abar_prev and beta = 1 - a."""
    sigma, sigma_prev = torch.tensor(3.0), torch.tensor(1.2)
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(0)) * 3.0
    fixed = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    got = SAMPLERS["ddpm"](gaussian_denoiser, x, torch.stack([sigma, sigma_prev]),
                           noise_sampler=lambda s, t: fixed)
    abar, abar_prev = 1 / (1 + sigma ** 2), 1 / (1 + sigma_prev ** 2)
    a = abar / abar_prev
    x0 = gaussian_denoiser(x, sigma.reshape(1))
    x_vp = x * abar.sqrt()
    mean = abar_prev.sqrt() * (1 - a) / (1 - abar) * x0 + a.sqrt() * (1 - abar_prev) / (1 - abar) * x_vp
    std = ((1 - a) * (1 - abar_prev) / (1 - abar)).sqrt()
    torch.testing.assert_close(got, (mean + std * fixed) / abar_prev.sqrt(), rtol=1e-5, atol=1e-5)


def test_ddpm_into_sigma_zero_adds_no_noise_and_returns_x0():
    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(2)) * 0.5
    got = SAMPLERS["ddpm"](gaussian_denoiser, x, torch.tensor([0.5, 0.0]), noise_sampler=lambda s, t: 1 / 0)
    torch.testing.assert_close(got, gaussian_denoiser(x, torch.tensor([0.5])), rtol=1e-5, atol=1e-6)


def test_ipndm_uses_adams_bashforth_weights_on_its_history():
    """With D = x - sigma * f(sigma) the slope is f(sigma) alone; three equal steps of -1 from sigma 4 take
    euler, then AB2 (3/2, -1/2), then AB3 (23, -16, 5) / 12."""
    def model(x, sigma):
        return x - sigma.view(-1, 1, 1, 1) * (sigma.view(-1, 1, 1, 1) ** 2)  # slope f(s) = s^2

    x = torch.zeros(1, 1, 1, 1)
    got = SAMPLERS["ipndm"](model, x, torch.tensor([4.0, 3.0, 2.0, 1.0]))
    f = {4: 16.0, 3: 9.0, 2: 4.0}
    expected = -(f[4]) - (1.5 * f[3] - 0.5 * f[4]) - (23 * f[2] - 16 * f[3] + 5 * f[4]) / 12
    assert abs(float(got) - expected) < 1e-5


def slope_model(x, sigma):
    """D = x - sigma * f(sigma) with f(s) = s^2: the ODE slope is f(sigma) whatever x is, so steps add up by hand."""
    s = sigma.view(-1, 1, 1, 1)
    return x - s * s ** 2


def test_heunpp2_weights_its_probe_slopes_by_sigma_over_the_start():
    got = SAMPLERS["heunpp2"](slope_model, torch.zeros(1, 1, 1, 1), torch.tensor([4.0, 2.0, 1.0, 0.5]))
    f = lambda s: s ** 2  # noqa: E731
    step_0 = ((1 - 2 / 12 - 1 / 12) * f(4) + 2 / 12 * f(2) + 1 / 12 * f(1)) * -2  # three slopes, weights s / (3 * 4)
    step_1 = ((1 - 1 / 8) * f(2) + 1 / 8 * f(1)) * -1  # two slopes near the end, weight s / (2 * 4)
    step_2 = f(1) * -0.5  # Euler into the last sigma
    assert abs(float(got) - (step_0 + step_1 + step_2)) < 1e-5


def test_gradient_estimation_adds_gamma_minus_one_times_the_slope_change():
    got = SAMPLERS["gradient_estimation"](slope_model, torch.zeros(1, 1, 1, 1), torch.tensor([3.0, 2.0, 1.0]),
                                          ge_gamma=2.5)
    f = lambda s: s ** 2  # noqa: E731
    expected = f(3) * -1 + f(2) * -1 + 1.5 * (f(2) - f(3)) * -1
    assert abs(float(got) - expected) < 1e-5


def test_res_multistep_second_step_is_the_exponential_integrator_with_phi_weights():
    """Step 2 from sigma 2 to 1 with h = log 2 and c2 = -log(4 / 2) / h = -1: x = e^-h x + h (b1 D + b2 D_old) with
    phi_1(-h) = (1 - e^-h) / h, phi_2(-h) = (1 - phi_1(-h)) / h, b1 = phi_1 - phi_2 / c2, b2 = phi_2 / c2."""
    import math

    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(3)) * 4.0
    d_0 = gaussian_denoiser(x, torch.tensor([4.0]))
    x_1 = x + (x - d_0) / 4.0 * (2.0 - 4.0)  # Euler first
    d_1 = gaussian_denoiser(x_1, torch.tensor([2.0]))
    h = math.log(2.0)
    phi_1 = (1 - math.exp(-h)) / h
    phi_2 = (1 - phi_1) / h
    c2 = -math.log(2.0) / h
    expected = math.exp(-h) * x_1 + h * ((phi_1 - phi_2 / c2) * d_1 + phi_2 / c2 * d_0)
    got = SAMPLERS["res_multistep"](gaussian_denoiser, x, torch.tensor([4.0, 2.0, 1.0]))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


CFG_PP = [("euler_cfg_pp", "euler"), ("euler_ancestral_cfg_pp", "euler_ancestral"),
          ("dpmpp_2s_ancestral_cfg_pp", "dpmpp_2s_ancestral"), ("dpmpp_2m_cfg_pp", "dpmpp_2m"),
          ("res_multistep_cfg_pp", "res_multistep"), ("res_multistep_ancestral_cfg_pp", "res_multistep_ancestral"),
          ("gradient_estimation_cfg_pp", "gradient_estimation")]


@pytest.mark.parametrize("cfg_pp, plain", CFG_PP)
def test_cfg_pp_without_a_separate_negative_is_the_plain_sampler(cfg_pp, plain):
    """A model that reports no negative prediction (no guidance): CFG++ re-noises along the guided x0 itself."""
    sigmas = torch.tensor([14.6, 6.0, 2.5, 1.0, 0.3, 0.0])
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(4)) * 14.6
    got = SAMPLERS[cfg_pp](gaussian_denoiser, x, sigmas, extra_args={"seed": 8})
    torch.testing.assert_close(got, SAMPLERS[plain](gaussian_denoiser, x, sigmas, extra_args={"seed": 8}),
                               rtol=1e-4, atol=1e-4)


def guided(x, sigma, uncond_sink=None):
    """A toy guided model: x0 = uncond + 3 (cond - uncond), with cond and uncond two Gaussian denoisers."""
    uncond = 0.8 * gaussian_denoiser(x, sigma)
    cond = gaussian_denoiser(x, sigma) + 0.1
    if uncond_sink is not None:
        uncond_sink["uncond"] = uncond
    return uncond + 3 * (cond - uncond)


def test_euler_cfg_pp_renoises_the_guided_x0_along_the_negatives_noise():
    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(5)) * 5.0
    got = SAMPLERS["euler_cfg_pp"](guided, x, torch.tensor([5.0, 2.0]))
    s = torch.tensor([5.0])
    uncond = 0.8 * gaussian_denoiser(x, s)
    torch.testing.assert_close(got, guided(x, s) + 2.0 * (x - uncond) / 5.0)


def test_dpmpp_2m_cfg_pp_second_step():
    """x_next = D + e^-h x - e^-h U - expm1(-h) / (2 r) (D - U_old), D guided, U negative, h and r in log sigma."""
    import math

    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(6)) * 6.0
    s0, s1, s2 = 6.0, 3.0, 1.0
    d0, u0 = guided(x, torch.tensor([s0])), 0.8 * gaussian_denoiser(x, torch.tensor([s0]))
    x1 = d0 - math.exp(-math.log(2)) * u0 + math.exp(-math.log(2)) * x  # first step: h = log 2, no history
    d1, u1 = guided(x1, torch.tensor([s1])), 0.8 * gaussian_denoiser(x1, torch.tensor([s1]))
    h, r = math.log(3), math.log(2) / math.log(3)
    expected = d1 + math.exp(-h) * x1 - math.exp(-h) * u1 - math.expm1(-h) / (2 * r) * (d1 - u0)
    got = SAMPLERS["dpmpp_2m_cfg_pp"](guided, x, torch.tensor([s0, s1, s2]))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_er_sde_first_step_keeps_the_scaler_ratio_of_x_and_adds_matching_noise():
    """Stage 1 from sigma 3 to 1: x' = r x + (1 - r) D + sqrt(1 - 9 r^2) * noise, r = phi(1) / phi(3)."""
    import math

    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(7)) * 3.0
    fixed = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(8))
    phi = lambda v: v * (math.exp(v ** 0.3) + 10.0)  # noqa: E731
    r = phi(1.0) / phi(3.0)
    denoised = gaussian_denoiser(x, torch.tensor([3.0]))
    got = SAMPLERS["er_sde"](gaussian_denoiser, x, torch.tensor([3.0, 1.0]), noise_sampler=lambda s, t: fixed)
    expected = r * x + (1 - r) * denoised + math.sqrt(1.0 - 9.0 * r * r) * fixed
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_er_sde_as_an_ode_converges_and_each_stage_improves_on_the_last():
    """With scaler(x) = x (no noise): stage 1 is first order; the difference stages cut the error several-fold (their
    integrals are 200-point Riemann sums, as in ComfyUI, which caps the order)."""
    from nodes.runtime.sampling import karras_sigmas
    from nodes.runtime.sampling.multistep import er_sde_noise_scaler

    mu, c = 0.5, 0.7
    z = torch.randn(16, 4, 4, 4, generator=torch.Generator().manual_seed(0))

    def error(steps: int, stages: int) -> float:
        sigmas = karras_sigmas(steps, 0.03, 14.6)
        x = mu + (c ** 2 + sigmas[0] ** 2) ** 0.5 * z
        out = SAMPLERS["er_sde"](gaussian_denoiser, x, sigmas, s_noise=0.0, noise_scaler=er_sde_noise_scaler(0.0),
                                 max_stage=stages)
        return float((out - (mu + c * z)).abs().max())

    one, two, three = (error(20, stages) for stages in (1, 2, 3))
    assert three < two < one / 5
    assert error(40, 3) < three / 2 and error(40, 3) < 0.01


def test_seeds_3_without_noise_is_exact_up_to_the_last_steps_x0_already_at_10_steps():
    """Third order: at 10 steps only the final jump to x0 from sigma_min (about 0.003 here) is left of the error."""
    from nodes.runtime.sampling import karras_sigmas

    mu, c = 0.5, 0.7
    z = torch.randn(16, 4, 4, 4, generator=torch.Generator().manual_seed(0))

    def error(steps: int) -> float:
        sigmas = karras_sigmas(steps, 0.03, 14.6)
        x = mu + (c ** 2 + sigmas[0] ** 2) ** 0.5 * z
        return float((SAMPLERS["seeds_3"](gaussian_denoiser, x, sigmas, eta=0.0) - (mu + c * z)).abs().max())

    assert error(10) < 0.004 and error(20) < 0.004  # euler: 0.5 and 0.25


def test_a_seeds_2_step_without_noise_blends_the_predictions_as_written():
    """phi_1 form, r = 1/2, eta = 0: x1 at the log-midpoint, then x' = (s'/s) x - expm1(-h) (D + (D1 - D) * 1 / 2r)."""
    import math

    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(9)) * 4.0
    s, s_next = 4.0, 1.0
    h = math.log(s / s_next)
    mid = math.sqrt(s * s_next)
    d0 = gaussian_denoiser(x, torch.tensor([s]))
    x1 = mid / s * x - math.expm1(-h / 2) * d0
    d1 = gaussian_denoiser(x1, torch.tensor([mid]))
    expected = s_next / s * x - math.expm1(-h) * d1  # lerp weight 1 / 2r = 1: the stage's prediction alone
    got = SAMPLERS["seeds_2"](gaussian_denoiser, x, torch.tensor([s, s_next]), eta=0.0, r=0.5)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_ipndm_v_on_equal_steps_is_ipndm_up_to_third_order():
    """(Its fourth-order weights are ComfyUI's, which are not Adams-Bashforth's 55, -59, 37, -9 / 24 on equal steps.)"""
    x = torch.randn(1, 4, 2, 2, generator=torch.Generator().manual_seed(10)) * 6.0
    sigmas = torch.tensor([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    torch.testing.assert_close(SAMPLERS["ipndm_v"](gaussian_denoiser, x, sigmas, max_order=3),
                               SAMPLERS["ipndm"](gaussian_denoiser, x, sigmas, max_order=3), rtol=1e-5, atol=1e-5)


def test_ipndm_v_second_order_integrates_a_linear_slope_exactly_on_uneven_steps():
    """Variable-step Adams-Bashforth 2 is exact for slopes linear in sigma: only the first (Euler) step errs."""
    f = lambda s: 1.5 * s - 2  # noqa: E731
    sigmas = [7.0, 5.0, 4.0, 2.5, 1.0]

    def model(x, sigma):
        s = sigma.view(-1, 1, 1, 1)
        return x - s * f(s)

    got = SAMPLERS["ipndm_v"](model, torch.zeros(1, 1, 1, 1), torch.tensor(sigmas), max_order=2)
    exact = lambda a, b: 0.75 * (b ** 2 - a ** 2) - 2 * (b - a)  # noqa: E731
    expected = f(7.0) * (5.0 - 7.0) + exact(5.0, 1.0)
    assert abs(float(got) - expected) < 1e-4
