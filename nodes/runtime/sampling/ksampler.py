"""What ComfyUI's KSampler does around a sampler: the starting noise level, the inpaint mask, the per-step seed.

The caller brings a denoiser (with CFG already folded in), the schedule it was trained with, the sigmas
from `ksampler_sigmas`, the latent and the noise from `initial_noise`.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from .noise import is_max_denoise, noise_latent
from .parameterization import as_model_sampling
from .samplers import SAMPLERS, Sampler
from .schedule import DiscreteSchedule

# a model's denoise_mask_function bound to its options: (sigma, denoise mask) -> the mask for this step
MaskFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# ComfyUI's ddim keeps the unmasked region noised with fresh noise (seed + 1) rather than the sampling noise.
FRESH_INPAINT_NOISE = frozenset({"ddim"})


class MaskedDenoiser:
    """Inpainting: where the mask is 0 the model sees the original latent at the current sigma and x0 is kept.

    `noise_scaling` noises the kept region (the model sampling's); `mask_function(sigma, mask)` (a model's
    denoise_mask_function, bound to its options) may change the mask each step, as Differential Diffusion does."""

    def __init__(self, denoiser: Callable[..., torch.Tensor], latent: torch.Tensor, noise: torch.Tensor,
                 mask: torch.Tensor, noise_scaling: Callable[..., torch.Tensor] = noise_latent,
                 mask_function: MaskFunction | None = None) -> None:
        self.denoiser, self.latent, self.noise, self.mask = denoiser, latent, noise, mask
        self.noise_scaling, self.mask_function = noise_scaling, mask_function

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        mask = self.mask if self.mask_function is None else self.mask_function(sigma, self.mask)
        keep = 1.0 - mask
        s = sigma.reshape(sigma.shape[:1] + (1,) * (x.ndim - 1))
        x = x * mask + self.noise_scaling(s, self.noise, self.latent) * keep
        return self.denoiser(x, sigma, **kwargs) * mask + self.latent * keep


def inpaint_noise(sampler: str, noise: torch.Tensor, seed: int) -> torch.Tensor:
    """The noise that re-noises the kept region each step."""
    return fresh_inpaint_noise(noise, seed) if sampler in FRESH_INPAINT_NOISE else noise


def fresh_inpaint_noise(noise: torch.Tensor, seed: int) -> torch.Tensor:
    """Noise drawn anew from seed + 1, for samplers whose inpaint option "random" asks for it."""
    generator = torch.Generator(device="cpu").manual_seed(seed + 1)
    return torch.randn(noise.shape, generator=generator, device="cpu").to(dtype=noise.dtype, device=noise.device)


@dataclass(frozen=True, eq=False)
class SamplerObject:
    """What flows on a SAMPLER wire: a sampler function with its options (ComfyUI's KSAMPLER, same attributes)."""

    sampler_function: Sampler
    extra_options: Mapping[str, Any] = field(default_factory=dict)
    inpaint_options: Mapping[str, Any] = field(default_factory=dict)

    def sample(self, denoiser: Callable[..., torch.Tensor], schedule: DiscreteSchedule, sigmas: torch.Tensor,
               latent: torch.Tensor, noise: torch.Tensor, seed: int,
               callback: Callable[[dict[str, Any]], None] | None = None,
               denoise_mask: torch.Tensor | None = None, mask_function: MaskFunction | None = None) -> torch.Tensor:
        """Sample `latent` (zeros for text-to-image) over `sigmas`, starting from `noise` at sigmas[0], noised and
        read back as the schedule's model sampling says (plain sigma-scaled noise for eps and v models)."""
        if len(sigmas) == 0:
            return latent
        sampling = as_model_sampling(schedule, "epsilon")  # eps and v models add noise alike
        model = denoiser
        if denoise_mask is not None:
            kept_noise = fresh_inpaint_noise(noise, seed) if self.inpaint_options.get("random") else noise
            model = MaskedDenoiser(denoiser, latent, kept_noise, denoise_mask, sampling.noise_scaling, mask_function)
        x = sampling.noise_scaling(sigmas[0], noise, latent, is_max_denoise(schedule, sigmas))
        options = dict(self.extra_options)
        if takes_schedule(self.sampler_function):
            options.setdefault("schedule", schedule)  # samplers whose defaults depend on the model's noise levels
        out = self.sampler_function(model, x, sigmas, extra_args={"seed": seed}, callback=callback, **options)
        return sampling.inverse_noise_scaling(sigmas[-1], out)


@functools.cache
def takes_schedule(sampler_function: Sampler) -> bool:
    """Whether the sampler has a `schedule` parameter; read once per function (inspect.signature costs more than a
    sampling step's own Python)."""
    return "schedule" in inspect.signature(sampler_function).parameters


def sampler_object(name: str, **options: Any) -> SamplerObject:
    """The SAMPLER ComfyUI means by a KSampler sampler name, with optional sampler options."""
    inpaint = {"random": True} if name in FRESH_INPAINT_NOISE else {}
    return SamplerObject(SAMPLERS[name], options, inpaint)


def run_sampler(denoiser: Callable[..., torch.Tensor], schedule: DiscreteSchedule, sampler: str,
                sigmas: torch.Tensor, latent: torch.Tensor, noise: torch.Tensor, seed: int,
                callback: Callable[[dict[str, Any]], None] | None = None,
                denoise_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sample `latent` (zeros for text-to-image) over `sigmas` with the sampler ComfyUI calls `sampler`."""
    return sampler_object(sampler).sample(denoiser, schedule, sigmas, latent, noise, seed, callback, denoise_mask)
