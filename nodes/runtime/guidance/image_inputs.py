"""The image an inpainting or InstructPix2Pix UNet reads beside the latent, built per conditioning entry as ComfyUI.

- inpainting (9 channels): the mask (1 channel, rounded) then the masked image's latent (4), from the entry's
  "concat_mask" and "concat_latent_image" (InpaintModelConditioning), else the latent's noise mask and the latent
  being sampled; with no mask at all, a mask of ones and the latent of a black image.
- InstructPix2Pix (8 channels): the entry's "concat_latent_image" as the VAE gave it, else zeros.
- the SD x4 upscaler (7 channels): the noised low-res image (models/x4_upscaler.py), drawn from the sampling `seed`.
Each is scaled (bilinear, centre crop) to the latent's size and matched to its batch.
"""
from __future__ import annotations

from typing import Any

import torch

from nodes.latent.resize import resize

from ..checkpoints.x4_upscaler import IMAGE_CHANNELS
from ..models import x4_upscaler as x4
from ..models.latent_formats import LatentFormat

BLACK_IMAGE_LATENT = (0.8223, -0.6876, 0.6364, 0.1380)  # a black image encoded by the SD VAE, in model units


def image_input(kind: str, options: dict[str, Any], like: torch.Tensor, latent_format: LatentFormat,
                latent_image: torch.Tensor | None, denoise_mask: torch.Tensor | None,
                seed: int | None = None) -> torch.Tensor:
    """The extra UNet input [batch, channels, height, width] for one entry, for latents shaped like `like`."""
    if kind == "x4_upscale":
        return _x4_low_res_image(options, like, seed)
    if kind == "instruct_pix2pix":
        image = options.get("concat_latent_image")
        return torch.zeros_like(like) if image is None else fit_to(image.to(like), like)
    mask = options.get("concat_mask", denoise_mask)
    if mask is None:
        black = torch.tensor(BLACK_IMAGE_LATENT, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)
        return torch.cat([torch.ones_like(like[:, :1]), black.expand_as(like)], dim=1)
    image = options.get("concat_latent_image")
    image = latent_image if image is None else latent_format.to_model(image.to(like))
    if mask.ndim == like.ndim:
        mask = mask[:, :1]
    mask = mask.to(like).reshape(-1, 1, *mask.shape[-2:])
    return torch.cat([fit_to(mask, like).round(), fit_to(image.to(like), like)], dim=1)


def fit_to(tensor: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`tensor` at `like`'s height and width and batch (ComfyUI spreads a different batch evenly over it)."""
    if tensor.shape[-2:] != like.shape[-2:]:
        tensor = resize(tensor, like.shape[-1], like.shape[-2], "bilinear", "center")
    have, want = tensor.shape[0], like.shape[0]
    if have == want:
        return tensor
    if want < have:
        picks = [min(round(i * (have - 1) / max(want - 1, 1)), have - 1) for i in range(want)]
    else:
        picks = [min(int((i + 0.5) * have / want), have - 1) for i in range(want)]
    return tensor[picks]


def _x4_low_res_image(options: dict[str, Any], like: torch.Tensor, seed: int | None) -> torch.Tensor:
    """The noised low-res image [like's batch, 3, height, width] for one entry, for latents shaped like `like`."""
    image = options.get("concat_image")
    if image is None:
        image = torch.zeros(like.shape[0], IMAGE_CHANNELS, *like.shape[-2:])
    image = image.float().cpu()
    if image.shape[-2:] != like.shape[-2:]:
        image = resize(image, like.shape[-1], like.shape[-2], "bilinear", "center")
    if float(options.get("noise_augmentation", 0.0)) > 0:
        keep, noise_scale = x4.low_res_schedule_at(x4.noise_level(options))
        seed = (0 if seed is None else seed) - x4.SEED_OFFSET
        noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
        image = keep * image + noise_scale * noise
    return fit_to(image.to(like), like)
