"""Image resizing nodes (ComfyUI's ImageScale and ImageScaleBy) on IMAGE tensors [B, H, W, C]."""
from __future__ import annotations

from .resize import CROP_METHODS, IMAGE_METHODS, MAX_RESOLUTION, resize


class ImageScale:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    DESCRIPTION = ("Resize images to width x height. A side set to 0 follows the other side's aspect ratio; "
                   "both 0 leaves the images as they are.")

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 1}
        return {"required": {"image": ("IMAGE",), "upscale_method": (list(IMAGE_METHODS),),
                             "width": ("INT", dict(side)), "height": ("INT", dict(side)),
                             "crop": (list(CROP_METHODS),)}}

    def upscale(self, image, upscale_method: str, width: int, height: int, crop: str):
        if width == 0 and height == 0:
            return (image,)
        samples = image.movedim(-1, 1)
        old_height, old_width = samples.shape[-2], samples.shape[-1]
        if width == 0:
            width = max(1, round(old_width * height / old_height))
        elif height == 0:
            height = max(1, round(old_height * width / old_width))
        return (resize(samples, width, height, upscale_method, crop).movedim(1, -1),)


class ImageScaleBy:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    DESCRIPTION = "Resize images by a factor (each side rounded to whole pixels)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "upscale_method": (list(IMAGE_METHODS),),
                             "scale_by": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01})}}

    def upscale(self, image, upscale_method: str, scale_by: float):
        samples = image.movedim(-1, 1)
        width = max(1, round(samples.shape[-1] * scale_by))
        height = max(1, round(samples.shape[-2] * scale_by))
        return (resize(samples, width, height, upscale_method, "disabled").movedim(1, -1),)


NODE_CLASS_MAPPINGS = {"ImageScale": ImageScale, "ImageScaleBy": ImageScaleBy}
NODE_DISPLAY_NAME_MAPPINGS = {"ImageScale": "Upscale Image", "ImageScaleBy": "Upscale Image By"}
