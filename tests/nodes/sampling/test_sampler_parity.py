"""Our samplers against diffusers' schedulers implementing the same method: same toy UNet, same noise.

diffusers works in its own conventions (some in k-diffusion units, some in variance-preserving units);
each test converts at the edges only. Tolerance: 1e-4 absolute on latents of order 1, which a sigma
off by one training step or a wrong update coefficient exceeds by far (see the last test).
"""
from __future__ import annotations

import pytest
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, DPMSolverSDEScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       KDPM2AncestralDiscreteScheduler, KDPM2DiscreteScheduler, LCMScheduler,
                       LMSDiscreteScheduler, UniPCMultistepScheduler)

from nodes.runtime.sampling import SAMPLERS, Denoiser, ksampler_sigmas

from tests.nodes.sampling.toy_models import SD_CONFIG, comfy_timestep

# diffusers' schedulers trip numpy 2 deprecations on torch tensors; not ours to fix, and they drown the output.
pytestmark = pytest.mark.filterwarnings("ignore:__array:DeprecationWarning", "ignore:Should have:UserWarning")

ATOL = 1e-4
SEED = 77


def make(cls, **config):
    return cls.from_config({**SD_CONFIG, **config})


def diffusers_loop(scheduler, unet, x, generator=None):
    """diffusers' own denoising loop; returns the final sample and the last x0 prediction."""
    step_kwargs = {} if generator is None else {"generator": generator}
    x0 = None
    for t in scheduler.timesteps:
        out = unet(scheduler.scale_model_input(x, t), comfy_timestep(t).expand(x.shape[0]))
        result = scheduler.step(out, t, x, **step_kwargs)
        x, x0 = result.prev_sample, getattr(result, "pred_original_sample", None)
    return x, x0


def vp_scale(sigma: torch.Tensor) -> torch.Tensor:
    """k-diffusion latent -> variance-preserving latent at noise level sigma."""
    return 1.0 / (1.0 + sigma ** 2) ** 0.5


def generator_noise(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return lambda sigma, sigma_next: torch.randn(shape, generator=g)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("karras", [False, True])
def test_euler_matches_euler_discrete(unet, schedule, noise, prediction, karras):
    sched = make(EulerDiscreteScheduler, prediction_type=prediction, use_karras_sigmas=karras)
    sched.set_timesteps(12)
    x = noise * sched.init_noise_sigma
    ref, _ = diffusers_loop(sched, unet, x)
    ours = SAMPLERS["euler"](Denoiser(unet, schedule, prediction), x, sched.sigmas)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_euler_ancestral_matches_with_the_same_per_step_noise(unet, denoiser, noise):
    """ComfyUI seeds the per-step CPU generator with seed + 1; diffusers draws from whatever generator it is given."""
    sched = make(EulerAncestralDiscreteScheduler)
    sched.set_timesteps(10)
    x = noise * sched.init_noise_sigma
    ref, _ = diffusers_loop(sched, unet, x, generator=torch.Generator().manual_seed(SEED + 1))
    ours = SAMPLERS["euler_ancestral"](denoiser, x, sched.sigmas, extra_args={"seed": SEED})
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name, cls", [("heun", HeunDiscreteScheduler), ("dpm_2", KDPM2DiscreteScheduler)])
def test_second_order_samplers_match(unet, denoiser, noise, name, cls):
    sched = make(cls)
    sched.set_timesteps(8)
    x = noise * sched.init_noise_sigma
    ref, _ = diffusers_loop(sched, unet, x)
    sigmas = torch.unique_consecutive(sched.sigmas)  # diffusers repeats each sigma for its two half-steps
    ours = SAMPLERS[name](denoiser, x, sigmas)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_dpm_2_ancestral_matches_kdpm2_ancestral(unet, denoiser, noise):
    sched = make(KDPM2AncestralDiscreteScheduler)
    sched.set_timesteps(8)
    x = noise * sched.init_noise_sigma
    ref, _ = diffusers_loop(sched, unet, x, generator=torch.Generator().manual_seed(SEED + 1))
    ours = SAMPLERS["dpm_2_ancestral"](denoiser, x, torch.unique_consecutive(sched.sigmas), extra_args={"seed": SEED})
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_lms_matches_lms_discrete_until_the_final_step(unet, denoiser, noise):
    """ComfyUI's lms jumps to x0 on the last step; diffusers takes a full 4th-order step, so compare to its x0."""
    sched = make(LMSDiscreteScheduler)
    sched.set_timesteps(12)
    x = noise * sched.init_noise_sigma
    ref_x, ref_x0 = diffusers_loop(sched, unet, x)
    seen = []
    ours = SAMPLERS["lms"](denoiser, x, sched.sigmas, callback=seen.append)
    torch.testing.assert_close(ours, ref_x0, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours, seen[-1]["denoised"], atol=0, rtol=0)
    assert (ours - ref_x).abs().max() > ATOL  # the two conventions really differ on that step


@pytest.mark.parametrize("karras", [False, True])
def test_dpmpp_2m_matches_dpm_solver_multistep(unet, denoiser, noise, karras):
    sched = make(DPMSolverMultistepScheduler, algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
                 use_karras_sigmas=karras)
    sched.set_timesteps(12)
    ref, _ = diffusers_loop(sched, unet, noise.clone())  # starts from VP noise, ends at sigma 0 where units agree
    ours = SAMPLERS["dpmpp_2m"](denoiser, noise / vp_scale(sched.sigmas[0]), sched.sigmas)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_dpmpp_3m_sde_without_noise_matches_third_order_dpm_solver(unet, denoiser, noise):
    """eta = 0 turns DPM-Solver++(3M) SDE into the ODE solver; 16 steps so diffusers keeps order 3 to the end.

    Its second step is second order with the phi_2 ("heun") coefficient, not the midpoint one.
    """
    sched = make(DPMSolverMultistepScheduler, algorithm_type="dpmsolver++", solver_order=3, solver_type="heun")
    sched.set_timesteps(16)
    ref, _ = diffusers_loop(sched, unet, noise.clone())
    ours = SAMPLERS["dpmpp_3m_sde"](denoiser, noise / vp_scale(sched.sigmas[0]), sched.sigmas, eta=0.0)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_dpmpp_2m_sde_matches_sde_dpm_solver_with_the_same_noise(unet, denoiser, noise):
    sched = make(DPMSolverMultistepScheduler, algorithm_type="sde-dpmsolver++", solver_order=2, solver_type="midpoint")
    sched.set_timesteps(12)
    ref, _ = diffusers_loop(sched, unet, noise.clone(), generator=torch.Generator().manual_seed(SEED))
    ours = SAMPLERS["dpmpp_2m_sde"](denoiser, noise / vp_scale(sched.sigmas[0]), sched.sigmas,
                                    noise_sampler=generator_noise(noise.shape, SEED))
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_dpmpp_sde_matches_dpm_solver_sde_with_the_same_brownian_seed(unet, denoiser, noise):
    """Both draw from a torchsde Brownian tree seeded alike; only float rounding of the query times differs."""
    sched = make(DPMSolverSDEScheduler, noise_sampler_seed=SEED)
    sched.set_timesteps(8)
    x = noise * sched.init_noise_sigma
    ref, _ = diffusers_loop(sched, unet, x)
    ours = SAMPLERS["dpmpp_sde"](denoiser, x, torch.unique_consecutive(sched.sigmas), extra_args={"seed": SEED})
    torch.testing.assert_close(ours, ref, atol=1e-3, rtol=0)


def test_ddim_with_ddim_uniform_matches_ddim_scheduler(unet, denoiser, schedule, noise):
    """ComfyUI's ddim is Euler on the ddim_uniform sigmas: exactly DDIM with eta = 0 on the 'leading' timesteps."""
    sched = make(DDIMScheduler, timestep_spacing="leading", steps_offset=1, set_alpha_to_one=True, clip_sample=False)
    sched.set_timesteps(20)
    ref, _ = diffusers_loop(sched, unet, noise.clone())
    sigmas = ksampler_sigmas(schedule, "ddim_uniform", 20, sampler="ddim")
    expected_t = torch.tensor([float(schedule.sigmas[t]) for t in sched.timesteps])
    torch.testing.assert_close(sigmas[:-1], expected_t, atol=0, rtol=0)
    ours = SAMPLERS["ddim"](denoiser, noise / vp_scale(sigmas[0]), sigmas)
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name, variant", [("uni_pc", "bh1"), ("uni_pc_bh2", "bh2")])
def test_uni_pc_matches_unipc_multistep(unet, denoiser, noise, name, variant):
    """Ending at sigma_min (not 0) so both take the same last step; diffusers returns VP units there."""
    sched = make(UniPCMultistepScheduler, solver_order=3, solver_type=variant, predict_x0=True,
                 lower_order_final=True, final_sigmas_type="sigma_min")
    sched.set_timesteps(10)
    ref, _ = diffusers_loop(sched, unet, noise.clone())
    ours = SAMPLERS[name](denoiser, noise / vp_scale(sched.sigmas[0]), sched.sigmas)
    torch.testing.assert_close(ours * vp_scale(sched.sigmas[-1]), ref, atol=ATOL, rtol=0)


def test_lcm_matches_lcm_scheduler(unet, denoiser, noise):
    """LCMScheduler also blends in c_skip * x, about 1e-5 at these timesteps; the jumps and re-noising agree."""
    sched = make(LCMScheduler)
    sched.set_timesteps(4)
    g = torch.Generator().manual_seed(SEED + 1)
    ref, _ = diffusers_loop(sched, unet, noise.clone(), generator=g)
    sigmas = torch.tensor([float(((1 - sched.alphas_cumprod[t]) / sched.alphas_cumprod[t]) ** 0.5)
                           for t in sched.timesteps] + [0.0])
    ours = SAMPLERS["lcm"](denoiser, noise / vp_scale(sigmas[0]), sigmas, extra_args={"seed": SEED})
    torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0)


def test_the_tolerance_catches_sigmas_one_training_step_off(unet, denoiser, schedule, noise):
    sched = make(EulerDiscreteScheduler)
    sched.set_timesteps(12)
    x = noise * sched.init_noise_sigma
    ref, _ = diffusers_loop(sched, unet, x)

    def one_step_later(sigmas: torch.Tensor) -> torch.Tensor:
        return schedule.sigma(schedule.timestep(sigmas).float() - 1)

    all_off, one_off = sched.sigmas.clone(), sched.sigmas.clone()
    all_off[:-1] = one_step_later(all_off[:-1])
    one_off[9:10] = one_step_later(one_off[9:10])
    assert (SAMPLERS["euler"](denoiser, x, all_off) - ref).abs().max() > 10 * ATOL
    assert (SAMPLERS["euler"](denoiser, x, one_off) - ref).abs().max() > 2 * ATOL
