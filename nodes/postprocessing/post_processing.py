"""ComfyUI's image filter nodes (comfy_extras.nodes_post_processing): blend, blur, sharpen, quantize, and scaling
to a total pixel count. IMAGE tensors are [B, H, W, C] floats in 0..1; torch, numpy and Pillow load when a node runs.
"""
from __future__ import annotations

import math
from typing import Any

from graph_engine import InvalidNodeInput

from ..latent.image_scale import new_image
from ..latent.resize import INTERPOLATE_METHODS, resize
from .filters import relative_gaussian, separable_filter
from .quantize import DITHERS, quantize_rgb

PYTHON_MODULE = "comfy_extras.nodes_post_processing"
SCALE_METHODS = (*INTERPOLATE_METHODS, "lanczos")  # ComfyUI's order here, which /object_info shows
BLEND_MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")


def total_pixels_size(width: int, height: int, megapixels: float, steps: int = 1) -> tuple[int, int]:
    """(width, height) scaled, aspect kept, to about `megapixels` x 2^20 pixels, each side a multiple of `steps`."""
    scale = math.sqrt(megapixels * 1024 * 1024 / (width * height))
    return round(width * scale / steps) * steps, round(height * scale / steps) * steps


def _soft_light_curve(x: Any) -> Any:
    """The W3C soft-light helper: a cubic below 1/4, the square root above."""
    import torch

    return torch.where(x <= 0.25, ((16 * x - 12) * x + 4) * x, torch.sqrt(x))


def blend_layers(base: Any, layer: Any, mode: str) -> Any:
    """`layer` composited onto `base` by one of BLEND_MODES, before the blend factor mixes it in."""
    import torch

    if mode == "normal":
        return layer
    if mode == "multiply":
        return base * layer
    if mode == "screen":
        return 1 - (1 - base) * (1 - layer)
    if mode == "overlay":
        return torch.where(base <= 0.5, 2 * base * layer, 1 - 2 * (1 - base) * (1 - layer))
    if mode == "soft_light":
        darker = base - (1 - 2 * layer) * base * (1 - base)
        lighter = base + (2 * layer - 1) * (_soft_light_curve(base) - base)
        return torch.where(layer <= 0.5, darker, lighter)
    if mode == "difference":
        return base - layer
    raise InvalidNodeInput(f"unknown blend_mode {mode!r}: use one of {', '.join(BLEND_MODES)}")


def _match_channels(image: Any, channels: int) -> Any:
    """`image` with `channels` channels: extra ones dropped, missing ones (alpha) added fully opaque."""
    import torch

    have = image.shape[-1]
    if have >= channels:
        return image[..., :channels]
    return torch.cat([image, image.new_ones((*image.shape[:-1], channels - have))], dim=-1)


def _gaussian_blur(image: Any, radius: int, sigma: float, name: str) -> Any:
    """[B, H, W, C] blurred by ComfyUI's Gaussian of `radius`, the border mirrored; `name` is the radius input."""
    height, width = image.shape[1], image.shape[2]
    if radius >= height or radius >= width:
        raise InvalidNodeInput(f"{name} {radius} is too large for an image of {width}x{height} pixels: the border is "
                               f"mirrored, so it must be smaller than both sides; use at most {min(height, width) - 1}")
    weights = relative_gaussian(radius, sigma)
    return separable_filter(image.movedim(-1, 1), weights, "reflect").movedim(1, -1)


class ImageBlend:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blend_images"
    DESCRIPTION = ("Blend image2 onto image1 by a blend mode, mixed in by blend_factor; image2 is resized (bicubic, "
                   "centre crop) to image1's size when they differ.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image1": ("IMAGE",), "image2": ("IMAGE",),
            "blend_factor": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
            "blend_mode": ("COMBO", {"options": list(BLEND_MODES)})}}

    def blend_images(self, image1, image2, blend_factor: float, blend_mode: str):
        import torch

        image2 = _match_channels(image2.to(image1.device), image1.shape[-1])
        if image2.shape[1:3] != image1.shape[1:3]:
            image2 = resize(image2.movedim(-1, 1), image1.shape[2], image1.shape[1], "bicubic", "center").movedim(1, -1)
        if image1.shape[0] != image2.shape[0] and 1 not in (image1.shape[0], image2.shape[0]):
            raise InvalidNodeInput(f"image1 holds {image1.shape[0]} images and image2 {image2.shape[0]}: blend batches "
                                   "of the same size, or a single image2 onto every image1")
        blended = blend_layers(image1, image2, blend_mode)
        return (torch.clamp(image1 * (1 - blend_factor) + blended * blend_factor, 0, 1),)


class ImageBlur:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "blur"
    DESCRIPTION = "Gaussian blur over 2 x blur_radius + 1 pixels; sigma is relative to the radius."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "blur_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1}),
            "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1})}}

    def blur(self, image, blur_radius: int, sigma: float):
        return (_gaussian_blur(image, blur_radius, sigma, "blur_radius"),)


class ImageSharpen:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "sharpen"
    DESCRIPTION = "Unsharp mask: the image pushed away from its Gaussian blur by 10 x alpha."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "sharpen_radius": ("INT", {"default": 1, "min": 1, "max": 31, "step": 1, "advanced": True}),
            "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.01, "advanced": True}),
            "alpha": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 5.0, "step": 0.01, "advanced": True})}}

    def sharpen(self, image, sharpen_radius: int, sigma: float, alpha: float):
        import torch

        # ComfyUI's kernel is -10 alpha x Gaussian with 1 + 10 alpha added at its centre: the same, split in two
        blurred = _gaussian_blur(image, sharpen_radius, sigma, "sharpen_radius")
        return (torch.clamp((1 + 10 * alpha) * image - 10 * alpha * blurred, 0, 1),)


class ImageQuantize:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "quantize"
    DESCRIPTION = ("Reduce each image to a palette of at most `colors` colours taken from it, optionally dithered. "
                   "An alpha channel is kept as it is.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "colors": ("INT", {"default": 256, "min": 1, "max": 256, "step": 1}),
            "dither": ("COMBO", {"options": list(DITHERS)})}}

    def quantize(self, image, colors: int, dither: str):
        import numpy as np
        import torch

        from ..images.conversion import to_uint8_batch

        if dither not in DITHERS:
            raise InvalidNodeInput(f"unknown dither {dither!r}: use one of {', '.join(DITHERS)}")
        channels = image.shape[-1]
        if channels not in (1, 3, 4):
            raise InvalidNodeInput(f"image has {channels} channels; ImageQuantize takes grey, RGB or RGBA images")
        result = image.clone()
        for index, pixels in enumerate(to_uint8_batch(image)):
            rgb = np.repeat(pixels[..., None], 3, axis=-1) if channels == 1 else pixels[..., :3]
            mapped = torch.from_numpy(quantize_rgb(np.ascontiguousarray(rgb), colors, dither).astype(np.float32) / 255)
            result[index, ..., :min(channels, 3)] = mapped[..., :min(channels, 3)].to(result)
        return (result,)


class ImageScaleToTotalPixels:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    DESCRIPTION = ("Resize images, aspect ratio kept, to about megapixels x 1024 x 1024 pixels, each side rounded to "
                   "a multiple of resolution_steps.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "upscale_method": ("COMBO", {"options": list(SCALE_METHODS)}),
            "megapixels": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 16.0, "step": 0.01}),
            "resolution_steps": ("INT", {"default": 1, "min": 1, "max": 256, "advanced": True})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known, megapixels, steps = sizes.get("image"), inputs.get("megapixels"), inputs.get("resolution_steps", 1)
        if known is None or megapixels is None or len(known.shape) != 4:
            return None
        batch, height, width, channels = known.shape
        width, height = total_pixels_size(width, height, megapixels, steps)
        return new_image(batch, height, width, channels) if width > 0 and height > 0 else None

    def upscale(self, image, upscale_method: str, megapixels: float, resolution_steps: int = 1):
        samples = image.movedim(-1, 1)
        width, height = total_pixels_size(samples.shape[-1], samples.shape[-2], megapixels, resolution_steps)
        if width < 1 or height < 1:
            raise InvalidNodeInput(f"{megapixels} megapixels in steps of {resolution_steps} rounds a side of this "
                                   f"{samples.shape[-1]}x{samples.shape[-2]} image to 0 pixels: raise megapixels or "
                                   "lower resolution_steps")
        return (resize(samples, width, height, upscale_method, "disabled").movedim(1, -1),)


NODE_CLASS_MAPPINGS = {
    "ImageBlend": ImageBlend, "ImageBlur": ImageBlur, "ImageQuantize": ImageQuantize, "ImageSharpen": ImageSharpen,
    "ImageScaleToTotalPixels": ImageScaleToTotalPixels,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "ImageBlend": "Blend Images", "ImageBlur": "Blur Image", "ImageQuantize": "Quantize Image",
    "ImageSharpen": "Sharpen Image", "ImageScaleToTotalPixels": "Scale Image to Total Pixels",
}
