"""Preparing an image and mask for inpainting with an ordinary model, as ComfyUI's VAEEncodeForInpaint does."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def prepare_inpaint(pixels: torch.Tensor, mask: torch.Tensor, grow_by: int,
                    multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixels to encode, noise mask [B, 1, H, W]).

    The image is centre-cropped to a multiple of the VAE's downscale; masked pixels are set to grey (0.5) so the
    encoder does not carry the old content into the latent; the noise mask is the rounded mask grown by `grow_by`
    pixels, so the new content blends across the seam in latent space.
    """
    height, width = pixels.shape[1] // multiple * multiple, pixels.shape[2] // multiple * multiple
    mask = F.interpolate(mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1]),
                         size=(pixels.shape[1], pixels.shape[2]), mode="bilinear")
    top, left = (pixels.shape[1] % multiple) // 2, (pixels.shape[2] % multiple) // 2
    pixels = pixels[:, top:top + height, left:left + width, :3].clone()
    mask = mask[:, :, top:top + height, left:left + width]
    hard = mask.round()
    grown = hard
    if grow_by > 0:
        kernel = torch.ones(1, 1, grow_by, grow_by)
        grown = F.conv2d(hard, kernel, padding=math.ceil((grow_by - 1) / 2)).clamp(0, 1)[:, :, :height, :width]
    keep = (1.0 - hard).squeeze(1).unsqueeze(-1)
    pixels = (pixels - 0.5) * keep + 0.5
    return pixels, grown.round()
