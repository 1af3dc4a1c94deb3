"""Fitting images to a size (ComfyUI's comfy_extras.nodes_images): ImageScaleToMaxDimension and ResizeAndPadImage,
both through the shared resize of nodes/latent/resize.py."""
from __future__ import annotations

from graph_engine import InvalidNodeInput

from ..latent.resize import MAX_RESOLUTION, resize

PYTHON_MODULE = "comfy_extras.nodes_images"
# as ComfyUI lists them, "bilinear" twice
MAX_DIMENSION_METHODS = ("area", "lanczos", "bilinear", "nearest-exact", "bilinear", "bicubic")
PAD_METHODS = ("area", "bicubic", "nearest-exact", "bilinear", "lanczos")
PAD_COLORS = {"white": 1.0, "black": 0.0}


def max_dimension_size(width: int, height: int, largest_size: int) -> tuple[int, int]:
    """(width, height) with the longer side `largest_size` and the aspect ratio kept (the shorter side rounded)."""
    if height > width:
        return max(1, round(width / height * largest_size)), largest_size
    if width > height:
        return largest_size, max(1, round(height / width * largest_size))
    return largest_size, largest_size


class ImageScaleToMaxDimension:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    DESCRIPTION = "Resizes the images so that their longer side is `largest_size`, keeping the aspect ratio."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "upscale_method": ("COMBO", {"options": list(MAX_DIMENSION_METHODS)}),
            "largest_size": ("INT", {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
        }}

    def upscale(self, image, upscale_method: str, largest_size: int):
        if largest_size < 1:
            raise InvalidNodeInput("largest_size is 0: give the size of the longer side in pixels, at least 1")
        width, height = max_dimension_size(image.shape[2], image.shape[1], largest_size)
        return (resize(image.movedim(-1, 1), width, height, upscale_method).movedim(1, -1),)


def fit_inside(width: int, height: int, target_width: int, target_height: int) -> tuple[int, int]:
    """The largest size of the same aspect ratio inside the target, each side truncated to whole pixels."""
    scale = min(target_width / width, target_height / height)
    return int(width * scale), int(height * scale)


class ResizeAndPadImage:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "resize_and_pad"
    DESCRIPTION = ("Fits the images inside target_width x target_height, keeping their aspect ratio, and centres "
                   "them on a white or black background of that size.")

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}
        return {"required": {
            "image": ("IMAGE",),
            "target_width": ("INT", dict(side)),
            "target_height": ("INT", dict(side)),
            "padding_color": ("COMBO", {"options": list(PAD_COLORS), "advanced": True}),
            "interpolation": ("COMBO", {"options": list(PAD_METHODS), "advanced": True}),
        }}

    def resize_and_pad(self, image, target_width: int, target_height: int, padding_color: str, interpolation: str):
        import torch

        batch, height, width, channels = image.shape
        new_width, new_height = fit_inside(width, height, target_width, target_height)
        if new_width < 1 or new_height < 1:
            raise InvalidNodeInput(f"a {width}x{height} image fitted into {target_width}x{target_height} would be "
                                   "less than a pixel on one side: choose a target nearer the image's aspect ratio")
        resized = resize(image.movedim(-1, 1), new_width, new_height, interpolation).movedim(1, -1)
        padded = torch.full((batch, target_height, target_width, channels), PAD_COLORS[padding_color],
                            dtype=image.dtype, device=image.device)
        top, left = (target_height - new_height) // 2, (target_width - new_width) // 2
        padded[:, top:top + new_height, left:left + new_width, :] = resized
        return (padded,)


NODE_CLASS_MAPPINGS = {"ImageScaleToMaxDimension": ImageScaleToMaxDimension, "ResizeAndPadImage": ResizeAndPadImage}
NODE_DISPLAY_NAME_MAPPINGS = {"ImageScaleToMaxDimension": "Scale Image to Max Dimension",
                              "ResizeAndPadImage": "Resize And Pad Image"}
