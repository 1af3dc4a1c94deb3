"""ComfyUI's `comfy.sample` for plugins: the starting noise for a seed, the empty-latent fix, and sampling as the
KSampler (`sample`) and SamplerCustom (`sample_custom`) nodes sample, over Latentloom's runtime.

Latents are LATENT samples ([batch, channels, h/8, w/8], as on a LATENT wire) and come back on the CPU in float32.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from nodes.comfy_compat.not_offered import attribute_not_offered

if TYPE_CHECKING:
    import torch


def prepare_noise(latent_image: "torch.Tensor", seed: int, noise_inds: Any = None) -> "torch.Tensor":
    """KSampler's starting noise for `seed`; with `noise_inds` (a LATENT's batch_index), each latent gets its
    original batch slot's noise."""
    from nodes.comfy_compat.sampling import prepare_noise as noise

    return noise(latent_image, seed, noise_inds)


def fix_empty_latent_channels(model: Any, latent_image: "torch.Tensor", downscale_ratio_spacial: int | None = None,
                              downscale_ratio_temporal: int | None = None) -> "torch.Tensor":
    """An empty (all-zero) latent with the model's channel count; any other latent as it is."""
    from nodes.comfy_compat.sampling import fix_empty_latent_channels as fix

    return fix(model, latent_image, downscale_ratio_spacial)


def sample(model: Any, noise: "torch.Tensor", steps: int, cfg: float, sampler_name: str, scheduler: str,
           positive: Any, negative: Any, latent_image: "torch.Tensor", denoise: float = 1.0,
           disable_noise: bool = False, start_step: int | None = None, last_step: int | None = None,
           force_full_denoise: bool = False, noise_mask: "torch.Tensor | None" = None,
           sigmas: "torch.Tensor | None" = None, callback: Callable | None = None, disable_pbar: bool = False,
           seed: int | None = None) -> "torch.Tensor":
    """The sampled latent samples, as KSampler(Advanced) samples them (`noise` zeros for disable_noise, as
    ComfyUI's common_ksampler makes it)."""
    import comfy.samplers

    sampler = comfy.samplers.KSampler(model, steps=steps, device=model.load_device, sampler=sampler_name,
                                      scheduler=scheduler, denoise=denoise, model_options=model.model_options)
    return sampler.sample(noise, positive, negative, cfg=cfg, latent_image=latent_image, start_step=start_step,
                          last_step=last_step, force_full_denoise=force_full_denoise, denoise_mask=noise_mask,
                          sigmas=sigmas, callback=callback, disable_pbar=disable_pbar, seed=seed)


def sample_custom(model: Any, noise: "torch.Tensor", cfg: float, sampler: Any, sigmas: "torch.Tensor",
                  positive: Any, negative: Any, latent_image: "torch.Tensor",
                  noise_mask: "torch.Tensor | None" = None, callback: Callable | None = None,
                  disable_pbar: bool = False, seed: int | None = None) -> "torch.Tensor":
    """The sampled latent samples for a SAMPLER and sigmas with CFG guidance, as SamplerCustom samples them."""
    from nodes.comfy_compat.sampling import sample_with_conds

    return sample_with_conds(model, noise, positive, negative, cfg, sampler, sigmas, latent_image, noise_mask,
                             callback, disable_pbar, seed)


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
