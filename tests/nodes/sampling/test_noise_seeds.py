"""What a seed means: initial noise, per-step ancestral noise, Brownian-tree noise, and how noise meets sigma."""
from __future__ import annotations

import math

import pytest
import torch

from nodes.runtime.sampling import (SAMPLERS, SCHEDULERS, ancestral_noise_sampler, brownian_noise_sampler,
                                    initial_noise, is_max_denoise, ksampler_sigmas, noise_latent)

LATENT = torch.zeros(2, 4, 8, 8)


def test_initial_noise_is_one_randn_after_torch_manual_seed():
    with torch.random.fork_rng():
        torch.manual_seed(42)
        expected = torch.randn(LATENT.shape)
    noise = initial_noise(LATENT, 42)
    assert torch.equal(noise, expected)
    assert noise.dtype == torch.float32 and noise.device.type == "cpu"
    assert not torch.equal(initial_noise(LATENT, 43), noise)


def test_initial_noise_does_not_touch_the_global_generator():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        initial_noise(LATENT, 42)
        after = torch.randn(3)
        torch.manual_seed(0)
        assert torch.equal(torch.randn(3), after)


def test_a_batch_index_picks_the_noise_of_that_slot():
    g = torch.Generator().manual_seed(7)
    slots = [torch.randn([1, 4, 8, 8], generator=g) for _ in range(3)]
    noise = initial_noise(torch.zeros(3, 4, 8, 8), 7, batch_index=[2, 0, 2])
    assert torch.equal(noise, torch.cat([slots[2], slots[0], slots[2]]))


def test_ancestral_noise_on_the_cpu_comes_from_seed_plus_one():
    x = torch.zeros(1, 4, 8, 8)
    draw = ancestral_noise_sampler(x, 42)
    g = torch.Generator().manual_seed(43)
    for _ in range(3):
        assert torch.equal(draw(torch.tensor(2.0), torch.tensor(1.0)), torch.randn(x.shape, generator=g))


def test_ancestral_samplers_use_the_seed_from_extra_args(schedule):
    sigmas = SCHEDULERS["karras"](schedule, 5)
    x = initial_noise(LATENT, 42) * sigmas[0]
    model = lambda x, sigma: 0.5 * x  # noqa: E731
    by_seed = SAMPLERS["euler_ancestral"](model, x, sigmas, extra_args={"seed": 42})
    g = torch.Generator().manual_seed(43)
    explicit = SAMPLERS["euler_ancestral"](model, x, sigmas,
                                           noise_sampler=lambda s, t: torch.randn(x.shape, generator=g))
    assert torch.equal(by_seed, explicit)


def test_full_denoise_scales_noise_by_sqrt_1_plus_sigma_squared(schedule):
    noise, latent = torch.ones(1, 4, 2, 2), torch.full((1, 4, 2, 2), 0.25)
    full = SCHEDULERS["normal"](schedule, 10)
    assert is_max_denoise(schedule, full)
    s = float(full[0])
    torch.testing.assert_close(noise_latent(full[0], noise, latent, True), latent + math.sqrt(1 + s * s))

    partial = ksampler_sigmas(schedule, "normal", 10, denoise=0.5)
    assert not is_max_denoise(schedule, partial)
    torch.testing.assert_close(noise_latent(partial[0], noise, latent, False), latent + float(partial[0]))


def test_karras_and_exponential_also_start_at_sigma_max(schedule):
    for name in ("karras", "exponential", "simple", "sgm_uniform", "beta"):
        assert is_max_denoise(schedule, SCHEDULERS[name](schedule, 10)), name
    assert not is_max_denoise(schedule, SCHEDULERS["ddim_uniform"](schedule, 10))


@pytest.fixture
def sigmas(schedule):
    return SCHEDULERS["karras"](schedule, 10)


def test_brownian_noise_is_reproducible_per_seed(sigmas):
    x = torch.zeros(1, 4, 16, 16)
    a = brownian_noise_sampler(x, sigmas, seed=5)(sigmas[2], sigmas[3])
    b = brownian_noise_sampler(x, sigmas, seed=5)(sigmas[2], sigmas[3])
    c = brownian_noise_sampler(x, sigmas, seed=6)(sigmas[2], sigmas[3])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_brownian_increments_are_unit_normal_and_add_up(sigmas):
    """W is one Brownian path: increments over adjacent intervals sum to the increment over their union."""
    draw = brownian_noise_sampler(torch.zeros(1, 4, 32, 32), sigmas, seed=11)
    a, b, c = sigmas[1], sigmas[2], sigmas[3]
    w_ab, w_bc, w_ac = draw(a, b), draw(b, c), draw(a, c)
    assert abs(float(w_ab.std()) - 1) < 0.05 and abs(float(w_ab.mean())) < 0.05
    whole = w_ac * (a - c).sqrt()
    parts = w_ab * (a - b).sqrt() + w_bc * (b - c).sqrt()
    torch.testing.assert_close(whole, parts, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(draw(b, a), -w_ab)


def test_brownian_seeds_per_batch_item_are_independent_trees(sigmas):
    one = brownian_noise_sampler(torch.zeros(1, 4, 8, 8), sigmas, seed=[5])(sigmas[2], sigmas[3])
    two = brownian_noise_sampler(torch.zeros(2, 4, 8, 8), sigmas, seed=[5, 6])(sigmas[2], sigmas[3])
    assert two.shape == (2, 4, 8, 8)
    torch.testing.assert_close(two[0], one[0])
    with pytest.raises(ValueError, match="batch item"):
        brownian_noise_sampler(torch.zeros(2, 4, 8, 8), sigmas, seed=[5])


@pytest.mark.parametrize("name", ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"])
def test_sde_samplers_draw_from_the_tree_seeded_with_the_seed(sigmas, name):
    x = initial_noise(LATENT, 42) * sigmas[0]
    model = lambda x, sigma: 0.5 * x  # noqa: E731
    by_seed = SAMPLERS[name](model, x, sigmas, extra_args={"seed": 42})
    explicit = SAMPLERS[name](model, x, sigmas, noise_sampler=brownian_noise_sampler(x, sigmas, seed=42))
    assert torch.equal(by_seed, explicit)
    assert not torch.equal(by_seed, SAMPLERS[name](model, x, sigmas, extra_args={"seed": 43}))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_ancestral_noise_comes_from_the_seed_itself():
    x = torch.zeros(1, 4, 8, 8, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(42)
    expected = torch.randn(x.shape, generator=g, device="cuda")
    assert torch.equal(ancestral_noise_sampler(x, 42)(torch.tensor(2.0), torch.tensor(1.0)), expected)
