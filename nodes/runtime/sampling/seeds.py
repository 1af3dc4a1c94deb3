"""SEEDS (Gonzalez et al. 2023, arXiv:2305.14267): stochastic explicit exponential derivative-free solvers in data
prediction, with stages at fractions r of each step in lambda = -log(sigma), and the exponential Heun methods that
are SEEDS-2 with r = 1.

Every stage decays x by e^(-r h eta) (its share of the SDE's contraction), adds alpha (1 - e^(-r h (1 + eta))) times
a blend of x0 predictions, and noise that stays correlated across the stages of a step. alpha = 1 for SD's models.
"""
from __future__ import annotations

import torch

from .noise import NoiseSampler, ancestral_noise_sampler
from .sampler_basics import Callback, Denoise, report, split_args, steps_to_zero


def _h_phi_1(h: torch.Tensor) -> torch.Tensor:
    return torch.expm1(h)


def _h_phi_2(h: torch.Tensor) -> torch.Tensor:
    return (torch.expm1(h) - h) / h


class _StageNoise:
    """The noise of one step's stages: each stage's share carries the last stage's decayed by e^((r_prev - r) h eta)."""

    def __init__(self, noise_sampler: NoiseSampler, h: torch.Tensor, eta: float) -> None:
        self.noise_sampler, self.h, self.eta = noise_sampler, h, eta
        self.noise, self.r, self.sigma = None, 0.0, None

    def at(self, sigma_from: torch.Tensor, sigma_to: torch.Tensor, r: float) -> torch.Tensor:
        segment = (self.r - r) * self.h * self.eta
        fresh = segment.mul(2).expm1().neg().sqrt() * self.noise_sampler(sigma_from, sigma_to)
        self.noise = fresh if self.noise is None else self.noise * segment.exp() + fresh
        self.r = r
        return self.noise


def _lambda_point(sigma: torch.Tensor, sigma_next: torch.Tensor, r: float) -> tuple[torch.Tensor, torch.Tensor]:
    """sigma and alpha at the fraction r of the step in lambda (alpha computed as ComfyUI rounds it)."""
    lam = torch.lerp(sigma.log().neg(), sigma_next.log().neg(), r)
    point = lam.neg().exp()
    return point, point * lam.exp()


@torch.no_grad()
def sample_seeds_2(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback | None = None, noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                   s_noise: float = 1.0, r: float = 0.5, solver_type: str = "phi_1") -> torch.Tensor:
    """SEEDS-2: one stage at r, then the step with the two predictions blended (phi_1: 1 / 2r of the way to the
    stage's; phi_2: weights from the phi_2 function)."""
    if solver_type not in ("phi_1", "phi_2"):
        raise ValueError(f"solver_type must be 'phi_1' or 'phi_2', not {solver_type!r}")
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    inject = eta > 0 and s_noise > 0
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in, **kwargs)
        report(callback, i, x, sigma, denoised)
        if to_zero[i]:
            x = denoised
            continue
        h = sigma.log() - sigma_next.log()
        h_eta = h * (eta + 1)
        noise = _StageNoise(noise_sampler, h, eta)
        sigma_1, alpha_1 = _lambda_point(sigma, sigma_next, r)
        x_1 = sigma_1 / sigma * (-r * h * eta).exp() * x - alpha_1 * _h_phi_1(-r * h_eta) * denoised
        if inject:
            x_1 = x_1 + noise.at(sigma, sigma_1, r) * sigma_1 * s_noise
        denoised_1 = model(x_1, sigma_1 * s_in, **kwargs)
        alpha_t = sigma_next * sigma_next.log().neg().exp()
        if solver_type == "phi_1":
            blend = _h_phi_1(-h_eta) * torch.lerp(denoised, denoised_1, 1 / (2 * r))
        else:
            b_2 = _h_phi_2(-h_eta) / r
            blend = (_h_phi_1(-h_eta) - b_2) * denoised + b_2 * denoised_1
        x = sigma_next / sigma * (-h * eta).exp() * x - alpha_t * blend
        if inject:
            x = x + noise.at(sigma_1, sigma_next, 1.0) * sigma_next * s_noise
    return x


def sample_exp_heun_2_x0(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                         callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                         solver_type: str = "phi_2") -> torch.Tensor:
    """Exponential Heun in x0 prediction and log-SNR time: SEEDS-2 with r = 1 and no noise."""
    return sample_seeds_2(model, x, sigmas, extra_args, callback, None, eta=0.0, s_noise=0.0, r=1.0,
                          solver_type=solver_type)


def sample_exp_heun_2_x0_sde(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                             callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                             eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "phi_2") -> torch.Tensor:
    """Stochastic exponential Heun: SEEDS-2 with r = 1."""
    return sample_seeds_2(model, x, sigmas, extra_args, callback, noise_sampler, eta=eta, s_noise=s_noise, r=1.0,
                          solver_type=solver_type)


@torch.no_grad()
def sample_seeds_3(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback | None = None, noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                   s_noise: float = 1.0, r_1: float = 1 / 3, r_2: float = 2 / 3) -> torch.Tensor:
    """SEEDS-3: stages at r_1 and r_2, the step taken with the first and the r_2 stage's predictions."""
    kwargs, seed = split_args(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    inject = eta > 0 and s_noise > 0
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, sigma * s_in, **kwargs)
        report(callback, i, x, sigma, denoised)
        if to_zero[i]:
            x = denoised
            continue
        h = sigma.log() - sigma_next.log()
        h_eta = h * (eta + 1)
        noise = _StageNoise(noise_sampler, h, eta)
        sigma_1, alpha_1 = _lambda_point(sigma, sigma_next, r_1)
        sigma_2, alpha_2 = _lambda_point(sigma, sigma_next, r_2)
        x_1 = sigma_1 / sigma * (-r_1 * h * eta).exp() * x - alpha_1 * _h_phi_1(-r_1 * h_eta) * denoised
        if inject:
            x_1 = x_1 + noise.at(sigma, sigma_1, r_1) * sigma_1 * s_noise
        denoised_1 = model(x_1, sigma_1 * s_in, **kwargs)
        a_2 = r_2 / r_1 * _h_phi_2(-r_2 * h_eta)
        a_1 = _h_phi_1(-r_2 * h_eta) - a_2
        x_2 = sigma_2 / sigma * (-r_2 * h * eta).exp() * x - alpha_2 * (a_1 * denoised + a_2 * denoised_1)
        if inject:
            x_2 = x_2 + noise.at(sigma_1, sigma_2, r_2) * sigma_2 * s_noise
        denoised_2 = model(x_2, sigma_2 * s_in, **kwargs)
        alpha_t = sigma_next * sigma_next.log().neg().exp()
        b_3 = _h_phi_2(-h_eta) / r_2
        x = sigma_next / sigma * (-h * eta).exp() * x - alpha_t * ((_h_phi_1(-h_eta) - b_3) * denoised
                                                                   + b_3 * denoised_2)
        if inject:
            x = x + noise.at(sigma_2, sigma_next, 1.0) * sigma_next * s_noise
    return x
