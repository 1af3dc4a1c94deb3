"""ComfyUI's Canny node (comfy_extras.nodes_canny): kornia's Canny edge detector, written here in torch.

The steps and constants are kornia's, so edges land on the same pixels: grey (0.299, 0.587, 0.114), a 5x5
Gaussian of sigma 1 with the border mirrored, 3x3 Sobel gradients with the border replicated, non-maximum
suppression along the gradient rounded to 45 degrees (a pixel must beat both neighbours; outside counts as 0),
then double thresholds with hysteresis: weak pixels (above low) are kept when 8-connected to a strong one.
"""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput

from .filters import pixel_gaussian, separable_filter

PYTHON_MODULE = "comfy_extras.nodes_canny"
GREY = (0.299, 0.587, 0.114)
BLUR_SIZE, BLUR_SIGMA = 5, 1.0
# (dy, dx) of the neighbour for each gradient direction 0, 45, ..., 315 degrees (y grows downwards)
NEIGHBOURS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
EPSILON = 1e-6  # kornia's, under the square root of the magnitude


def _grey(images: Any) -> Any:
    """[B, C, H, W] -> [B, 1, H, W]: RGB (an alpha channel ignored) by luma weights; one channel as it is."""
    if images.shape[1] == 1:
        return images
    red, green, blue = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    return GREY[0] * red + GREY[1] * green + GREY[2] * blue


def _sobel(grey: Any) -> tuple[Any, Any]:
    """Horizontal and vertical Sobel responses (right minus left, bottom minus top), border replicated."""
    import torch
    import torch.nn.functional as F

    along_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=grey.dtype, device=grey.device)
    kernels = torch.stack([along_x, along_x.T]).unsqueeze(1)
    gradients = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels)
    return gradients[:, 0:1], gradients[:, 1:2]


def _thin(magnitude: Any, gx: Any, gy: Any) -> Any:
    """Non-maximum suppression: the magnitude where it beats both neighbours along the rounded gradient, else 0."""
    import torch
    import torch.nn.functional as F

    height, width = magnitude.shape[-2:]
    padded = F.pad(magnitude, (1, 1, 1, 1))
    neighbours = torch.cat([padded[..., 1 + dy:1 + dy + height, 1 + dx:1 + dx + width] for dy, dx in NEIGHBOURS], 1)
    direction = torch.round(torch.rad2deg(torch.atan2(gy, gx)) / 45)
    ahead = torch.remainder(direction, 8).long()
    behind = torch.remainder(direction + 4, 8).long()
    is_peak = (magnitude > neighbours.gather(1, ahead)) & (magnitude > neighbours.gather(1, behind))
    return magnitude * is_peak


def _hysteresis(strong: Any, weak: Any) -> Any:
    """Grow `strong` into 8-connected `weak` pixels until nothing changes."""
    import torch.nn.functional as F

    while True:
        reached = F.max_pool2d(strong.float(), kernel_size=3, stride=1, padding=1) > 0
        grown = strong | (weak & reached)
        if bool((grown == strong).all()):
            return strong
        strong = grown


def canny_edges(images: Any, low_threshold: float, high_threshold: float) -> Any:
    """[B, C, H, W] -> [B, 1, H, W] edges of 0 and 1."""
    import torch

    grey = separable_filter(_grey(images), pixel_gaussian(BLUR_SIZE, BLUR_SIGMA), "reflect")
    gx, gy = _sobel(grey)
    magnitude = _thin(torch.sqrt(gx * gx + gy * gy + EPSILON), gx, gy)
    strong = magnitude > high_threshold
    return _hysteresis(strong, magnitude > low_threshold).to(images.dtype)


class Canny:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "detect_edge"
    DESCRIPTION = ("Canny edge detection: white edges on black. Edges above high_threshold are kept, and those above "
                   "low_threshold that connect to them.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "low_threshold": ("FLOAT", {"default": 0.4, "min": 0.01, "max": 0.99, "step": 0.01}),
            "high_threshold": ("FLOAT", {"default": 0.8, "min": 0.01, "max": 0.99, "step": 0.01})}}

    def detect_edge(self, image, low_threshold: float, high_threshold: float):
        import torch

        if low_threshold > high_threshold:
            raise InvalidNodeInput(f"low_threshold {low_threshold} is above high_threshold {high_threshold}: the low "
                                   "threshold must not be the higher one")
        height, width, channels = image.shape[1:]
        if channels not in (1, 3, 4):
            raise InvalidNodeInput(f"image has {channels} channels; Canny takes grey, RGB or RGBA images")
        if min(height, width) <= BLUR_SIZE // 2:
            raise InvalidNodeInput(f"Canny needs an image of at least 3x3 pixels, got {width}x{height}")
        edges = canny_edges(image.movedim(-1, 1).to(torch.float32), low_threshold, high_threshold)
        return (edges.repeat(1, 3, 1, 1).movedim(1, -1),)


NODE_CLASS_MAPPINGS = {"Canny": Canny}
NODE_DISPLAY_NAME_MAPPINGS = {"Canny": "Detect Edges (Canny)"}
