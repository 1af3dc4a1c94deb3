"""Preparing an image and mask for inpainting, as ComfyUI's VAEEncodeForInpaint and InpaintModelConditioning do."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def crop_with_mask(pixels: torch.Tensor, mask: torch.Tensor, multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels, mask [B, 1, H, W]) centre-cropped to a multiple of the VAE's downscale; the mask is first scaled
    (bilinear) to the image's size, so its soft edges are kept."""
    height, width = pixels.shape[1] // multiple * multiple, pixels.shape[2] // multiple * multiple
    mask = F.interpolate(mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1]),
                         size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
    top, left = (pixels.shape[1] % multiple) // 2, (pixels.shape[2] % multiple) // 2
    return pixels[:, top:top + height, left:left + width], mask[:, :, top:top + height, left:left + width]


def grey_out(pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A copy of the RGB pixels with those under the rounded mask [B, 1, H, W] set to grey (0.5), so the encoder
    does not carry the old content into the latent."""
    keep = (1.0 - mask.round()).squeeze(1).unsqueeze(-1)
    return (pixels[..., :3] - 0.5) * keep + 0.5


def prepare_inpaint(pixels: torch.Tensor, mask: torch.Tensor, grow_by: int,
                    multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels to encode, noise mask [B, 1, H, W]) for an ordinary model.

    The image is cropped and greyed out where masked; the noise mask is the rounded mask grown by `grow_by`
    pixels, so the new content blends across the seam in latent space.
    """
    pixels, mask = crop_with_mask(pixels, mask, multiple)
    height, width = pixels.shape[1:3]
    hard = mask.round()
    grown = hard
    if grow_by > 0:
        kernel = torch.ones(1, 1, grow_by, grow_by)
        grown = F.conv2d(hard, kernel, padding=math.ceil((grow_by - 1) / 2)).clamp(0, 1)[:, :, :height, :width]
    return grey_out(pixels, hard), grown.round()
