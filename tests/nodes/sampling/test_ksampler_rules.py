"""KSampler's rules around a sampler: starting noise level, denoise, KSamplerAdvanced steps, inpaint mask."""
from __future__ import annotations

import math

import torch

from nodes.runtime.sampling import (SAMPLERS, SCHEDULERS, advanced_sigmas, initial_noise, inpaint_noise,
                                    ksampler_sigmas, run_sampler)

SHAPE = (1, 4, 8, 8)


def test_text_to_image_starts_from_noise_scaled_to_the_top_of_the_schedule(denoiser, schedule):
    sigmas = ksampler_sigmas(schedule, "normal", 6)
    noise, latent = initial_noise(torch.zeros(SHAPE), 3), torch.zeros(SHAPE)
    out = run_sampler(denoiser, schedule, "euler", sigmas, latent, noise, seed=3)
    s0 = float(sigmas[0])
    torch.testing.assert_close(out, SAMPLERS["euler"](denoiser, noise * math.sqrt(1 + s0 * s0), sigmas))


def test_img2img_starts_from_the_latent_plus_sigma_times_noise(denoiser, schedule):
    sigmas = ksampler_sigmas(schedule, "karras", 6, denoise=0.5)
    noise, latent = initial_noise(torch.zeros(SHAPE), 3), torch.full(SHAPE, 0.3)
    out = run_sampler(denoiser, schedule, "dpmpp_2m", sigmas, latent, noise, seed=3)
    torch.testing.assert_close(out, SAMPLERS["dpmpp_2m"](denoiser, latent + noise * sigmas[0], sigmas))


def test_nothing_to_do_returns_the_latent(denoiser, schedule):
    latent = torch.full(SHAPE, 0.3)
    sigmas = ksampler_sigmas(schedule, "normal", 6, denoise=0.0)
    assert run_sampler(denoiser, schedule, "euler", sigmas, latent, torch.zeros(SHAPE), seed=0) is latent


def test_advanced_steps_slice_the_schedule():
    sigmas = torch.tensor([8.0, 4.0, 2.0, 1.0, 0.5, 0.0])
    torch.testing.assert_close(advanced_sigmas(sigmas, start_step=2), sigmas[2:])
    torch.testing.assert_close(advanced_sigmas(sigmas, last_step=3), sigmas[:4])
    torch.testing.assert_close(advanced_sigmas(sigmas, 1, 3, force_full_denoise=True), torch.tensor([4.0, 2.0, 0.0]))
    assert len(advanced_sigmas(sigmas, start_step=5)) == 0
    assert sigmas[3] == 1.0  # the caller's schedule is left alone


def test_an_inpaint_mask_keeps_the_unmasked_latent(denoiser, schedule):
    sigmas = SCHEDULERS["karras"](schedule, 8)
    noise, latent = initial_noise(torch.zeros(SHAPE), 5), torch.randn(SHAPE, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(SHAPE)
    mask[..., :4] = 1.0
    out = run_sampler(denoiser, schedule, "euler", sigmas, latent, noise, seed=5, denoise_mask=mask)
    torch.testing.assert_close(out[..., 4:], latent[..., 4:], atol=1e-5, rtol=0)
    free = run_sampler(denoiser, schedule, "euler", sigmas, latent, noise, seed=5)
    assert (out[..., :4] - latent[..., :4]).abs().max() > 0.1 and not torch.allclose(out, free)
    everywhere = run_sampler(denoiser, schedule, "euler", sigmas, latent, noise, seed=5, denoise_mask=torch.ones(SHAPE))
    torch.testing.assert_close(everywhere, free)


def test_ddim_renoises_the_kept_region_with_fresh_noise_from_seed_plus_one():
    noise = torch.randn(SHAPE)
    assert inpaint_noise("euler", noise, 5) is noise
    expected = torch.randn(SHAPE, generator=torch.Generator().manual_seed(6))
    assert torch.equal(inpaint_noise("ddim", noise, 5), expected)
