"""Image resizing nodes (ComfyUI's ImageScale and ImageScaleBy) on IMAGE tensors [B, H, W, C]."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate, ValueSize

from .resize import CROP_METHODS, IMAGE_METHODS, MAX_RESOLUTION, resize, scaled_size

RGB = 3


def new_image(batch: int, height: int, width: int, channels: int) -> NodeEstimate:
    """The estimate of a node whose one output is a freshly allocated float32 IMAGE [batch, height, width, channels]."""
    size = ValueSize.array((batch, height, width, channels))
    return NodeEstimate((size,), size.nbytes, f"an image of {batch} x {width} x {height} pixels ({channels} float32 "
                                              "channels)")


def image_target_size(old: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """ImageScale's (width, height) when one side is 0: it follows the other side's aspect ratio."""
    old_width, old_height = old
    if width == 0:
        return max(1, round(old_width * height / old_height)), height
    if height == 0:
        return width, max(1, round(old_height * width / old_width))
    return width, height


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

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known, width, height = sizes.get("image"), inputs.get("width"), inputs.get("height")
        if width is None or height is None:
            return None
        if width == 0 and height == 0:
            return NodeEstimate((known,))
        if known is None:  # an image of one RGB picture at least
            return new_image(1, height, width, RGB) if width and height else None
        batch, old_height, old_width, channels = known.shape
        width, height = image_target_size((old_width, old_height), width, height)
        return new_image(batch, height, width, channels)

    def upscale(self, image, upscale_method: str, width: int, height: int, crop: str):
        if width == 0 and height == 0:
            return (image,)
        samples = image.movedim(-1, 1)
        width, height = image_target_size((samples.shape[-1], samples.shape[-2]), width, height)
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

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known, scale = sizes.get("image"), inputs.get("scale_by")
        if known is None or scale is None:
            return None
        batch, height, width, channels = known.shape
        width, height = scaled_size(width, height, scale)
        return new_image(batch, height, width, channels)

    def upscale(self, image, upscale_method: str, scale_by: float):
        samples = image.movedim(-1, 1)
        width, height = scaled_size(samples.shape[-1], samples.shape[-2], scale_by)
        return (resize(samples, width, height, upscale_method, "disabled").movedim(1, -1),)


NODE_CLASS_MAPPINGS = {"ImageScale": ImageScale, "ImageScaleBy": ImageScaleBy}
NODE_DISPLAY_NAME_MAPPINGS = {"ImageScale": "Upscale Image", "ImageScaleBy": "Upscale Image By"}
