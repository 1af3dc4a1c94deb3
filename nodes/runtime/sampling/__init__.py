"""Sampling maths as ComfyUI does it: noise schedule, denoiser, schedulers, samplers, seeds, KSampler rules."""
from .ksampler import FRESH_INPAINT_NOISE, MaskedDenoiser, inpaint_noise, run_sampler
from .noise import (BrownianNoiseSampler, NoiseSampler, ancestral_noise_sampler, brownian_noise_sampler,
                    initial_noise, is_max_denoise, noise_latent)
from .samplers import SAMPLERS, ancestral_step, to_d
from .schedule import PREDICTION_TYPES, Denoiser, DiscreteSchedule, sd_schedule
from .schedulers import (DISCARD_PENULTIMATE_SIGMA, SCHEDULERS, advanced_sigmas, exponential_sigmas, karras_sigmas,
                         ksampler_sigmas)

__all__ = [
    "BrownianNoiseSampler", "DISCARD_PENULTIMATE_SIGMA", "Denoiser", "DiscreteSchedule", "FRESH_INPAINT_NOISE",
    "MaskedDenoiser", "NoiseSampler", "PREDICTION_TYPES", "SAMPLERS", "SCHEDULERS", "advanced_sigmas",
    "ancestral_noise_sampler", "ancestral_step", "brownian_noise_sampler", "exponential_sigmas", "initial_noise",
    "inpaint_noise", "is_max_denoise", "karras_sigmas", "ksampler_sigmas", "noise_latent", "run_sampler",
    "sd_schedule", "to_d",
]
