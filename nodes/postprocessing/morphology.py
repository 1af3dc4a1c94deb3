"""ComfyUI's morphology and YUV nodes (comfy_extras.nodes_morphology), written with torch instead of kornia.

Morphology uses a flat square window of kernel_size and kornia's conventions: pixels outside the image take no part
("geodesic" border); dilation reflects the window about its origin (kernel_size // 2) and erosion does not, which
only matters for even sizes. YUV is kornia's YCbCr on 0..1 values (chroma centred on 0.5).
"""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput

PYTHON_MODULE = "comfy_extras.nodes_morphology"
OPERATIONS = ("erode", "dilate", "open", "close", "gradient", "bottom_hat", "top_hat")
LUMA = (0.299, 0.587, 0.114)


def _window_max(images: Any, before: int, after: int) -> Any:
    """Max over the window from `before` pixels above/left to `after` below/right of each pixel of [B, C, H, W],
    pixels outside the image ignored; a square's max is taken along rows, then columns (2k compares, not k^2)."""
    import torch.nn.functional as F

    size = before + after + 1
    rows = F.pad(images, (before, after, 0, 0), mode="constant", value=float("-inf"))
    rows = F.max_pool2d(rows, kernel_size=(1, size), stride=1)
    columns = F.pad(rows, (0, 0, before, after), mode="constant", value=float("-inf"))
    return F.max_pool2d(columns, kernel_size=(size, 1), stride=1)


def dilate(images: Any, size: int) -> Any:
    """Grey dilation by a size x size square; the window is reflected, so for even sizes it reaches further down."""
    return _window_max(images, size - 1 - size // 2, size // 2)


def erode(images: Any, size: int) -> Any:
    """Grey erosion by a size x size square anchored at size // 2 (for even sizes it reaches further up)."""
    return -_window_max(-images, size // 2, size - 1 - size // 2)


def morphology(images: Any, operation: str, size: int) -> Any:
    """One of OPERATIONS on [B, C, H, W]: opening is erosion then dilation, closing the reverse, the gradient their
    difference, the top hat what opening removes and the bottom hat what closing adds."""
    if operation == "erode":
        return erode(images, size)
    if operation == "dilate":
        return dilate(images, size)
    if operation == "open":
        return dilate(erode(images, size), size)
    if operation == "close":
        return erode(dilate(images, size), size)
    if operation == "gradient":
        return dilate(images, size) - erode(images, size)
    if operation == "top_hat":
        return images - dilate(erode(images, size), size)
    if operation == "bottom_hat":
        return erode(dilate(images, size), size) - images
    raise InvalidNodeInput(f"unknown morphology operation {operation!r}: use one of {', '.join(OPERATIONS)}")


def rgb_to_yuv(image: Any) -> Any:
    """[..., 3] RGB -> [..., 3] Y, U (Cb), V (Cr): luma, then scaled blue and red differences centred on 0.5."""
    import torch

    red, green, blue = image.unbind(-1)
    luma = LUMA[0] * red + LUMA[1] * green + LUMA[2] * blue
    return torch.stack([luma, (blue - luma) * 0.564 + 0.5, (red - luma) * 0.713 + 0.5], dim=-1)


def yuv_to_rgb(luma: Any, u: Any, v: Any) -> Any:
    """Y, U, V planes [...] back to RGB [..., 3], clamped to 0..1 (the inverse of rgb_to_yuv, rounded as kornia)."""
    import torch

    u, v = u - 0.5, v - 0.5
    rgb = torch.stack([luma + 1.403 * v, luma - 0.714 * v - 0.344 * u, luma + 1.773 * u], dim=-1)
    return rgb.clamp(0, 1)


class Morphology:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "process"
    DESCRIPTION = "Grey-level morphology with a square window of kernel_size pixels, per channel."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "operation": ("COMBO", {"options": list(OPERATIONS)}),
            "kernel_size": ("INT", {"default": 3, "min": 3, "max": 999, "step": 1})}}

    def process(self, image, operation: str, kernel_size: int):
        return (morphology(image.movedim(-1, 1), operation, kernel_size).movedim(1, -1),)


class ImageRGBToYUV:
    CATEGORY = "image/color"
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE")
    RETURN_NAMES = ("Y", "U", "V")
    FUNCTION = "execute"
    DESCRIPTION = "Split an RGB image into its Y, U and V planes, each shown as a grey image."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    def execute(self, image):
        if image.shape[-1] != 3:
            raise InvalidNodeInput(f"image has {image.shape[-1]} channels; RGB to YUV needs an RGB image (3 channels)")
        yuv = rgb_to_yuv(image)
        return tuple(yuv[..., index:index + 1].expand_as(image) for index in range(3))


class ImageYUVToRGB:
    CATEGORY = "image/color"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "execute"
    DESCRIPTION = "Join Y, U and V planes (each the mean of its image's channels) into an RGB image."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"Y": ("IMAGE",), "U": ("IMAGE",), "V": ("IMAGE",)}}

    def execute(self, Y, U, V):
        shapes = {tuple(plane.shape[:-1]) for plane in (Y, U, V)}
        if len(shapes) != 1:
            raise InvalidNodeInput("Y, U and V must be images of the same batch and size, got "
                                   + ", ".join(f"{tuple(p.shape)}" for p in (Y, U, V)))
        return (yuv_to_rgb(Y.mean(dim=-1), U.mean(dim=-1), V.mean(dim=-1)),)


NODE_CLASS_MAPPINGS = {"Morphology": Morphology, "ImageRGBToYUV": ImageRGBToYUV, "ImageYUVToRGB": ImageYUVToRGB}
NODE_DISPLAY_NAME_MAPPINGS = {"Morphology": "Apply Morphology", "ImageRGBToYUV": "Image RGB to YUV",
                              "ImageYUVToRGB": "Image YUV to RGB"}
