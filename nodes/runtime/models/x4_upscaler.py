"""Sampling the SD x4 upscaler (checkpoints/x4_upscaler.py): its latent format and training schedule, and the two
inputs its UNet reads beside the latent, built per conditioning entry as ComfyUI builds them.

- The image: the entry's "concat_image" (SD_4XUpscale_Conditioning: -1..1 pixels at the latent's size), scaled
  (bilinear, centre crop) to the latent's size, noised to level round(350 * "noise_augmentation") of the low-res
  schedule (the same betas as the model's own, 0.0001..0.02) with noise drawn from the sampling seed - 10, then
  matched to the latent's batch; zeros without an image, unnoised at level 0.
- The class label: that noise level, one per latent.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..checkpoints import x4_upscaler
from ..sampling import sd_schedule
from .latent_formats import LatentFormat

MAX_NOISE_LEVEL = 350  # the low-res noise levels the upscaler was trained with
SEED_OFFSET = 10
X4_FORMAT = LatentFormat(x4_upscaler.SCALING_FACTOR, ((-0.2340, -0.3863, -0.3257), (0.0994, 0.0885, -0.0908),
                                                      (-0.2833, -0.2349, -0.3741), (0.2523, -0.0055, -0.1651)))


def sampling_facts(unet_config: Mapping) -> dict[str, Any]:
    """The DiffusionModel fields that differ from its architecture's defaults: {} for every UNet but the x4's."""
    if not x4_upscaler.is_x4_unet_config(unet_config):
        return {}
    return {"schedule": sd_schedule(x4_upscaler.LINEAR_START, x4_upscaler.LINEAR_END), "latent_format": X4_FORMAT}


def noise_level(options: Mapping[str, Any]) -> int:
    """The low-res image's noise level for a conditioning entry (0 without augmentation)."""
    return round(MAX_NOISE_LEVEL * float(options.get("noise_augmentation", 0.0)))


def class_labels(entries: list[Any], size: int) -> torch.Tensor:
    """The UNet's class input for a batch of conditioning entries (CondEntry), `size` latents each: [len * size]."""
    return torch.tensor([noise_level(entry.options) for entry in entries for _ in range(size)], dtype=torch.long)


def low_res_schedule_at(level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(alpha_bar) and sqrt(1 - alpha_bar) at `level`, computed in float64 and rounded to float32."""
    alphas_cumprod = sd_schedule(x4_upscaler.LINEAR_START, x4_upscaler.LINEAR_END).alphas_cumprod[level]
    return alphas_cumprod.sqrt().float(), (1 - alphas_cumprod).sqrt().float()
