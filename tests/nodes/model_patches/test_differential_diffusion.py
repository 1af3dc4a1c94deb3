"""Differential Diffusion: the step mask against thresholds computed here from SD's sigma table, and the masked
sampler (CFGGuider on the tiny SD1 UNet) using it each step."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.model_patches.differential_diffusion import DifferentialDiffusion
from nodes.runtime.guiders import CFGGuider
from nodes.runtime.sampling import MaskedDenoiser, sampler_object
from tests.nodes.model_patches.predictions import cond
from tests.nodes.model_patches.test_model_sampling import nearest_step, sd_sigmas

MASK = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0]).view(1, 1, 1, 5)


def step_masks(model, strength: float, sigmas: torch.Tensor, at: list[float]) -> list[torch.Tensor]:
    patched, = DifferentialDiffusion().apply(model, strength)
    bound = CFGGuider(patched, cond(1)).mask_function(sigmas)
    return [bound(torch.tensor([sigma]), MASK) for sigma in at]


def test_the_mask_opens_as_sampling_progresses(model):
    """progress = (t(sigma) - t(end)) / (t(first) - t(end)), end = max(last sigma, sigma_min); mask >= progress."""
    table = sd_sigmas()
    sigmas = torch.tensor([14.0, 6.0, 2.0, 0.0])
    first, end = nearest_step(table, 14.0), 0  # the last sigma is 0: the table's smallest (step 0)
    at = [14.0, 6.0, 2.0, 0.3]
    for sigma, mask in zip(at, step_masks(model, 1.0, sigmas, at)):
        progress = (nearest_step(table, sigma) - end) / (first - end)
        assert torch.equal(mask, (MASK >= progress).float()), sigma
    assert step_masks(model, 1.0, sigmas, [14.0])[0].tolist() == [[[[0.0, 0.0, 0.0, 0.0, 1.0]]]]


@pytest.mark.parametrize("strength", [0.25, 0.0])
def test_strength_blends_with_the_soft_mask_and_0_counts_as_1(model, strength):
    sigmas = torch.tensor([14.0, 6.0, 0.0])
    binary = step_masks(model, 1.0, sigmas, [6.0])[0]
    blended = step_masks(model, strength, sigmas, [6.0])[0]
    expected = binary if strength == 0 else strength * binary + (1 - strength) * MASK
    torch.testing.assert_close(blended, expected)


def test_the_masked_denoiser_uses_the_step_mask(model):
    latent, noise = torch.full((1, 1, 1, 5), 2.0), torch.ones(1, 1, 1, 5)
    masks = step_masks(model, 1.0, torch.tensor([14.0, 6.0, 0.0]), [6.0])
    patched, = DifferentialDiffusion().apply(model)
    bound = CFGGuider(patched, cond(1)).mask_function(torch.tensor([14.0, 6.0, 0.0]))
    masked = MaskedDenoiser(lambda x, sigma: torch.zeros_like(x), latent, noise, MASK, mask_function=bound)
    torch.testing.assert_close(masked(torch.zeros(1, 1, 1, 5), torch.tensor([6.0])), latent * (1 - masks[0]))


def test_one_step_keeps_what_the_mask_does_not_fully_open(model):
    """At the first sigma only mask 1 may change: one euler step to 0 returns the latent where the mask is below 1."""
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    mask = torch.full((1, 8, 8), 0.6)
    mask[:, :, :4] = 1.0
    sigmas = torch.tensor([8.0, 0.0])
    patched, = DifferentialDiffusion().apply(model)

    def sample(m):
        return CFGGuider(m, cond(1)).sample(noise, latent, sampler_object("euler"), sigmas, denoise_mask=mask)

    soft = sample(patched)
    torch.testing.assert_close(soft[..., 4:], latent[..., 4:])
    assert not torch.allclose(soft[..., :4], latent[..., :4], atol=1e-2)  # mask 1 was sampled
    assert not torch.allclose(sample(model)[..., 4:], latent[..., 4:], atol=1e-2)  # without it, 0.6 is sampled too
