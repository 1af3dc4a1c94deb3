"""Linear filters on channel-first images [B, C, H, W]: Gaussian kernels and a depthwise separable convolution.

ComfyUI's blur and sharpen place their Gaussian on a grid from -1 to 1 across the kernel (so sigma is relative to
the radius), kornia's Canny on whole pixels; both kernels are separable, so images are filtered one axis at a time.
"""
from __future__ import annotations

from typing import Any


def relative_gaussian(radius: int, sigma: float) -> Any:
    """ComfyUI's blur weights, one axis: exp(-x^2 / 2 sigma^2) at 2*radius + 1 points from -1 to 1, summing to 1."""
    import torch

    points = torch.linspace(-1.0, 1.0, 2 * radius + 1)
    weights = torch.exp(-(points * points) / (2.0 * sigma * sigma))
    return weights / weights.sum()


def pixel_gaussian(size: int, sigma: float) -> Any:
    """kornia's Gaussian weights, one axis: exp(-d^2 / 2 sigma^2) at whole-pixel distances d from the centre."""
    import torch

    distances = torch.arange(size, dtype=torch.float32) - size // 2
    weights = torch.exp(-(distances * distances) / (2.0 * sigma * sigma))
    return weights / weights.sum()


def separable_filter(images: Any, weights: Any, padding: str) -> Any:
    """Convolve each channel of `images` [B, C, H, W] with `weights` along x, then along y; the border is padded
    by `padding` (a torch pad mode: "reflect", "replicate"), so the output keeps the input's size."""
    import torch.nn.functional as F

    channels = images.shape[1]
    reach = weights.shape[0] // 2
    weights = weights.to(images.device, images.dtype)
    along_x = weights.reshape(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    along_y = weights.reshape(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    out = F.conv2d(F.pad(images, (reach, reach, 0, 0), mode=padding), along_x, groups=channels)
    return F.conv2d(F.pad(out, (0, 0, reach, reach), mode=padding), along_y, groups=channels)
