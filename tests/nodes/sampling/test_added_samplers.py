"""Samplers added for ComfyUI's full KSampler list, each step against its textbook form written out here."""
from __future__ import annotations

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
