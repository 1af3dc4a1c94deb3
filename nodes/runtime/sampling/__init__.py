"""Sampling maths as ComfyUI does it: noise schedule, denoiser, schedulers, samplers, seeds, KSampler rules."""
from .ksampler import FRESH_INPAINT_NOISE, MaskedDenoiser, SamplerObject, inpaint_noise, run_sampler, sampler_object
from .noise import (BrownianNoiseSampler, NoiseSampler, SeededNoise, ZeroNoise, ancestral_noise_sampler,
                    brownian_noise_sampler, initial_noise, is_max_denoise, noise_latent)
from .samplers import SAMPLERS, ancestral_step, to_d
from .schedule import PREDICTION_TYPES, Denoiser, DiscreteSchedule, sd_schedule
from .schedulers import (DISCARD_PENULTIMATE_SIGMA, SCHEDULERS, advanced_sigmas, basic_sigmas, exponential_sigmas,
                         karras_sigmas, kl_optimal_sigmas, ksampler_sigmas, laplace_sigmas, loglinear_sigmas,
                         polyexponential_sigmas, vp_sigmas)

__all__ = [
    "BrownianNoiseSampler", "DISCARD_PENULTIMATE_SIGMA", "Denoiser", "DiscreteSchedule", "FRESH_INPAINT_NOISE",
    "MaskedDenoiser", "NoiseSampler", "PREDICTION_TYPES", "SAMPLERS", "SCHEDULERS", "SamplerObject", "SeededNoise",
    "ZeroNoise", "advanced_sigmas", "ancestral_noise_sampler", "ancestral_step", "basic_sigmas",
    "brownian_noise_sampler", "exponential_sigmas", "initial_noise", "inpaint_noise", "is_max_denoise",
    "karras_sigmas", "kl_optimal_sigmas", "ksampler_sigmas", "laplace_sigmas", "loglinear_sigmas", "noise_latent",
    "polyexponential_sigmas", "run_sampler", "sampler_object", "sd_schedule", "to_d", "vp_sigmas",
]
