"""KSampler's work: noise from the seed, the schedule, guidance, the sampler, and the latent back in LATENT units."""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from graph_engine import InvalidNodeInput

from .guidance import GuidedDenoiser, read_conditioning
from .models import DiffusionModel
from .sampling import SAMPLERS, SCHEDULERS, advanced_sigmas, initial_noise, ksampler_sigmas, run_sampler

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
    samples = _check_latent(latent, model)
    model.prepare()
    device = model.device
    noise = (initial_noise(samples, seed, latent.get("batch_index")) if add_noise
             else torch.zeros(samples.shape, dtype=torch.float32))
    sigmas = ksampler_sigmas(model.schedule, scheduler, steps, denoise, sampler_name)
    sigmas = advanced_sigmas(sigmas, start_step, last_step, force_full_denoise).to(device)
    mask = latent.get("noise_mask")
    latent_image = model.latent_format.to_model(samples).to(device)
    denoise_mask = _latent_mask(mask, samples.shape).to(device) if mask is not None else None
    guided = GuidedDenoiser(model, read_conditioning(positive, "positive"), read_conditioning(negative, "negative"),
                            cfg, latent_image=latent_image, denoise_mask=denoise_mask)
    total = max(len(sigmas) - 1, 0)

    def callback(state: dict[str, Any]) -> None:
        if on_step is not None:
            on_step(state["i"] + 1, total, state["denoised"])

    out = run_sampler(guided, model.schedule, sampler_name, sigmas, latent_image, noise.to(device), seed,
                      callback=callback, denoise_mask=denoise_mask)
    result = dict(latent)
    result["samples"] = model.latent_format.from_model(out).float().cpu()
    return result


def _check_latent(latent: Any, model: DiffusionModel) -> torch.Tensor:
    if not isinstance(latent, dict) or not isinstance(latent.get("samples"), torch.Tensor):
        raise InvalidNodeInput("latent_image must be a LATENT ({'samples': tensor}), e.g. from EmptyLatentImage")
    samples = latent["samples"].float()
    channels = model.latent_channels
    if samples.ndim != 4 or samples.shape[1] != channels:
        raise InvalidNodeInput(f"{model.source} samples latents of {channels} channels; this latent has shape "
                               f"{tuple(samples.shape)}. Was it made by another model family's VAE?")
    return samples


def _latent_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A pixel or latent mask [B?, H, W] resized (bilinear) to the latent and repeated over channels and batch."""
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    mask = F.interpolate(mask, size=tuple(shape[-2:]), mode="bilinear")
    mask = mask.expand(-1, shape[1], -1, -1)
    if mask.shape[0] < shape[0]:
        mask = mask.repeat((shape[0] + mask.shape[0] - 1) // mask.shape[0], 1, 1, 1)
    return mask[:shape[0]]
