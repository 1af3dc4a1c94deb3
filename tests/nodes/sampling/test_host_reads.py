"""Every sampler's loop reads no tensor value on the host per step (see tests/fixtures/host_reads.py): its branches
("does this step end at sigma 0?") are decided from the sigmas read once before the loop."""
from __future__ import annotations

import pytest
import torch

from nodes.runtime.sampling import SAMPLERS, Denoiser, ksampler_sigmas
from nodes.runtime.sampling.ksampler import run_sampler
from tests.fixtures.host_reads import counting_host_reads
from tests.nodes.sampling.toy_models import LATENT_SHAPE

# Samplers whose maths is done on the host each step, as ComfyUI's is: the Brownian tree of the SDE samplers picks
# its intervals from sigma values; SA-Solver and UniPC compute their step coefficients from them.
READS_EACH_STEP = {"dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun",
                   "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "sa_solver", "sa_solver_pece",
                   "uni_pc", "uni_pc_bh2"}


def reads(denoiser, schedule, name: str, steps: int, noise: torch.Tensor):
    sigmas = ksampler_sigmas(schedule, "normal", steps, 1.0, name)
    with counting_host_reads() as counts:
        run_sampler(denoiser, schedule, name, sigmas, torch.zeros(LATENT_SHAPE), noise, 1)
    return counts


@pytest.mark.parametrize("name", sorted(set(SAMPLERS) - READS_EACH_STEP))
def test_host_reads_do_not_grow_with_the_step_count(name, unet, schedule, noise):
    denoiser = Denoiser(unet, schedule)

    def model(x, sigma, uncond_sink=None, **kwargs):  # a CFG++ sampler's sink stays empty: no separate negative
        return denoiser(x, sigma, **kwargs)

    few, many = reads(model, schedule, name, 3, noise), reads(model, schedule, name, 7, noise)
    grown = {key: (few.get(key, 0), count) for key, count in many.items() if count > few.get(key, 0)}
    assert not grown, f"{name}: host reads per step (method, caller): (3 steps, 7 steps) {grown}"


def test_the_listed_exceptions_do_read_each_step(unet, schedule, noise):
    """The exception list stays honest: a sampler that stops reading leaves it."""
    denoiser = Denoiser(unet, schedule)
    for name in sorted(READS_EACH_STEP):
        few, many = reads(denoiser, schedule, name, 3, noise), reads(denoiser, schedule, name, 7, noise)
        assert sum(many.values()) > sum(few.values()), name
