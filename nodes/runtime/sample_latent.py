"""KSampler's and SamplerCustom's work: noise, sigmas, a guider and a sampler, and the latent back in LATENT units."""
from __future__ import annotations

from typing import Any, Callable

import torch

from graph_engine import InvalidNodeInput

from .guiders import CFGGuider
from .models import DiffusionModel
from .sampling import (SAMPLERS, SCHEDULERS, SamplerObject, SeededNoise, ZeroNoise, advanced_sigmas, ksampler_sigmas,
                       sampler_object)

StepCallback = Callable[[int, int, torch.Tensor], None]  # (step done, steps, denoised latent in model units)


def sample_latent(model: DiffusionModel, latent: dict[str, Any], positive: Any, negative: Any, *, seed: int,
                  steps: int, cfg: float, sampler_name: str, scheduler: str, denoise: float = 1.0,
                  add_noise: bool = True, start_step: int | None = None, last_step: int | None = None,
                  force_full_denoise: bool = False, on_step: StepCallback | None = None) -> dict[str, Any]:
    """The sampled LATENT: a copy of `latent` (noise_mask, batch_index kept) with new samples, as ComfyUI does."""
    if sampler_name not in SAMPLERS:
        raise InvalidNodeInput(f"unknown sampler '{sampler_name}'; choose one of {', '.join(SAMPLERS)}")
    if scheduler not in SCHEDULERS:
        raise InvalidNodeInput(f"unknown scheduler '{scheduler}'; choose one of {', '.join(SCHEDULERS)}")
    check_latent(latent, model)
    sigmas = ksampler_sigmas(model.schedule, scheduler, steps, denoise, sampler_name)
    sigmas = advanced_sigmas(sigmas, start_step, last_step, force_full_denoise)
    noise = SeededNoise(seed) if add_noise else ZeroNoise()
    out, _ = sample_with_guider(CFGGuider(model, positive, negative, cfg), noise.generate_noise(latent), seed,
                                sampler_object(sampler_name), sigmas, latent, on_step)
    return out


def sample_with_guider(guider: Any, noise: torch.Tensor, seed: int, sampler: SamplerObject, sigmas: torch.Tensor,
                       latent: dict[str, Any], on_step: StepCallback | None = None
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """SamplerCustom's outputs: the sampled LATENT and the last step's x0 prediction (the sampled one if no step
    ran)."""
    last: dict[str, torch.Tensor] = {}

    def callback(step: int, denoised: torch.Tensor, x: torch.Tensor, total: int) -> None:
        last["x0"] = denoised
        if on_step is not None:
            on_step(step + 1, total, denoised)

    samples = guider.sample(noise, latent["samples"], sampler, sigmas, denoise_mask=latent.get("noise_mask"),
                            callback=callback, seed=seed)
    out = dict(latent)
    out["samples"] = samples
    if "x0" not in last:
        return out, out
    denoised = dict(latent)
    denoised["samples"] = guider.model.latent_format.from_model(last["x0"].float().cpu())
    return out, denoised


def check_latent(latent: Any, model: DiffusionModel) -> torch.Tensor:
    """The latent's samples, checked against the model's channel count."""
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise InvalidNodeInput("latent_image must be a LATENT ({'samples': tensor}), e.g. from EmptyLatentImage")
    samples = latent["samples"].float()
    channels = model.latent_channels
    if samples.ndim != 4 or samples.shape[1] != channels:
        raise InvalidNodeInput(f"{model.source} samples latents of {channels} channels; this latent has shape "
                               f"{tuple(samples.shape)}. Was it made by another model family's VAE?")
    return samples
