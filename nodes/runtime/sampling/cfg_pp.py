"""CFG++ samplers (Chung et al. 2024, arXiv:2406.08070): the step re-noises the guided x0 along the negative
prediction's noise instead of the guided one, which keeps high cfg on the data manifold.

For SD's models (alpha = 1 in k-diffusion units) ComfyUI's formulas reduce to the ones here.
"""
from __future__ import annotations

import torch

from .noise import NoiseSampler, ancestral_noise_sampler
from .sampler_basics import (Callback, Denoise, ancestral_step, ancestral_steps_to_zero, report, steps_to_zero, to_d,
                             with_uncond_sink)


@torch.no_grad()
def sample_euler_ancestral_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                                  callback: Callback | None = None, noise_sampler: NoiseSampler | None = None,
                                  eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """Ancestral Euler with CFG++: from the guided x0, re-noised along the negative prediction's noise direction
    down to sigma_down, then fresh noise up to sigma_next."""
    kwargs, seed, uncond_of = with_uncond_sink(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        report(callback, i, x, sigmas[i], denoised)
        if to_zero[i]:
            x = denoised
            continue
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = denoised + sigma_down * to_d(x, sigmas[i], uncond)
        if eta > 0 and s_noise > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def sample_euler_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                        callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """Euler with CFG++ (no noise)."""
    return sample_euler_ancestral_cfg_pp(model, x, sigmas, extra_args, callback, None, eta=0.0, s_noise=0.0)


@torch.no_grad()
def sample_dpmpp_2s_ancestral_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor,
                                     extra_args: dict | None = None, callback: Callback | None = None,
                                     noise_sampler: NoiseSampler | None = None, eta: float = 1.0,
                                     s_noise: float = 1.0) -> torch.Tensor:
    """`dpmpp_2s_ancestral` with CFG++: each stage moves x by (guided - negative) x0 before the exponential step."""
    kwargs, seed, uncond_of = with_uncond_sink(extra_args)
    noise_sampler = noise_sampler or ancestral_noise_sampler(x, seed)
    s_in = x.new_ones([x.shape[0]])
    down_to_zero = ancestral_steps_to_zero(sigmas, eta)
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        report(callback, i, x, sigmas[i], denoised)
        if down_to_zero[i]:
            x = denoised + to_d(x, sigmas[i], uncond) * sigma_down
        else:
            h = sigmas[i].log() - sigma_down.log()
            sigma_s = (sigmas[i].log() - h / 2).exp()
            shifted = x + (denoised - uncond)
            x_2 = (sigma_s / sigmas[i]) * shifted - torch.expm1(-h / 2) * denoised
            denoised_2 = model(x_2, sigma_s * s_in, **kwargs)
            uncond_of(denoised_2)  # the second stage's negative is not used
            x = (sigma_down / sigmas[i]) * shifted - torch.expm1(-h) * denoised_2
        if not to_zero[i]:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2m_cfg_pp(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                           callback: Callback | None = None, noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) with CFG++: the exponential decay applies to the negative prediction, the guided one is
    kept whole, and the multistep correction uses the last negative prediction."""
    kwargs, _, uncond_of = with_uncond_sink(extra_args)
    s_in = x.new_ones([x.shape[0]])
    old_uncond = None
    to_zero = steps_to_zero(sigmas)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        report(callback, i, x, sigmas[i], denoised)
        h = sigmas[i].log() - sigmas[i + 1].log()
        mix = -torch.exp(-h) * uncond
        if old_uncond is not None and not to_zero[i]:
            r = (sigmas[i - 1].log() - sigmas[i].log()) / h
            mix = mix - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + torch.exp(-h) * x
        old_uncond = uncond
    return x


@torch.no_grad()
def sample_euler_cfg_pp_alternative(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor,
                                    extra_args: dict | None = None, callback: Callback | None = None,
                                    noise_sampler: NoiseSampler | None = None) -> torch.Tensor:
    """SamplerEulerCFG++'s "alternative": Euler with the slope (x - 2 guided + negative) / sigma, i.e. the guided
    slope plus the negative's offset from the guided x0."""
    kwargs, _, uncond_of = with_uncond_sink(extra_args)
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **kwargs)
        uncond = uncond_of(denoised)
        report(callback, i, x, sigmas[i], denoised)
        x = x + to_d(x - denoised + uncond, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
    return x
