"""Crop, flip and rotate (ComfyUI's comfy_extras.nodes_images): ImageCrop, ImageCropV2 with its BOUNDING_BOX,
PrimitiveBoundingBox, ImageFlip and ImageRotate. All work on IMAGE [batch, height, width, channels]."""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput

from ..latent.resize import MAX_RESOLUTION

PYTHON_MODULE = "comfy_extras.nodes_images"
BOX_DEFAULT = {"x": 0, "y": 0, "width": 512, "height": 512}
FLIP_METHODS = ("x-axis: vertically", "y-axis: horizontally")
ROTATIONS = ("none", "90 degrees", "180 degrees", "270 degrees")


def crop(image, x: int, y: int, width: int, height: int):
    """The width x height region at (x, y), as ComfyUI crops: a start past the edge moves onto the last row or
    column, and a region running off the image keeps only what is inside."""
    x = min(x, image.shape[2] - 1)
    y = min(y, image.shape[1] - 1)
    return image[:, y:y + height, x:x + width, :]


def box_values(box: Any, name: str) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a BOUNDING_BOX dict; missing keys take the default box's values."""
    if not isinstance(box, dict):
        raise InvalidNodeInput(f"{name} must be a bounding box {{x, y, width, height}}, got {type(box).__name__}")
    values = {**BOX_DEFAULT, **box}
    for key in BOX_DEFAULT:
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key in ("width", "height") else 0):
            raise InvalidNodeInput(f"{name}: {key} must be a whole number of at least "
                                   f"{1 if key in ('width', 'height') else 0}, got {value!r}")
    return values["x"], values["y"], values["width"], values["height"]


class ImageCrop:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "crop"
    DEPRECATED = True
    DESCRIPTION = "Keeps the width x height region at (x, y); use Crop Image (ImageCropV2) in new workflows."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "x": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
            "y": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 1}),
        }}

    def crop(self, image, width: int, height: int, x: int, y: int):
        return (crop(image, x, y, width, height),)


class ImageCropV2:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "crop"
    DESCRIPTION = "Crop an image to the specified dimensions."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "crop_region": ("BOUNDING_BOX", {"component": "ImageCrop", "default": dict(BOX_DEFAULT),
                                             "socketless": True}),
        }}

    def crop(self, image, crop_region):
        x, y, width, height = box_values(crop_region, "crop_region")
        return (crop(image, x, y, width, height),)


class PrimitiveBoundingBox:
    CATEGORY = "utilities/primitive"
    RETURN_TYPES = ("BOUNDING_BOX",)
    FUNCTION = "box"
    DESCRIPTION = "A bounding box {x, y, width, height} for the nodes that take one."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "x": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION}),
            "y": ("INT", {"default": 0, "min": 0, "max": MAX_RESOLUTION}),
            "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION}),
            "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION}),
        }}

    def box(self, x: int, y: int, width: int, height: int):
        return ({"x": x, "y": y, "width": width, "height": height},)


class ImageFlip:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "flip"
    DESCRIPTION = "Mirrors the images: across the x axis (upside down) or the y axis (left to right)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "flip_method": ("COMBO", {"options": list(FLIP_METHODS)})}}

    def flip(self, image, flip_method: str):
        import torch

        return (torch.flip(image, dims=[1 if flip_method == FLIP_METHODS[0] else 2]),)


class ImageRotate:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "rotate"
    DESCRIPTION = "Turns the images clockwise by a quarter, a half or three quarters."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "rotation": ("COMBO", {"options": list(ROTATIONS)})}}

    def rotate(self, image, rotation: str):
        import torch

        quarters = ROTATIONS.index(rotation)
        return (torch.rot90(image, k=quarters, dims=[2, 1]) if quarters else image,)


NODE_CLASS_MAPPINGS = {"ImageCrop": ImageCrop, "ImageCropV2": ImageCropV2, "PrimitiveBoundingBox": PrimitiveBoundingBox,
                       "ImageFlip": ImageFlip, "ImageRotate": ImageRotate}
NODE_DISPLAY_NAME_MAPPINGS = {"ImageCrop": "Crop Image (DEPRECATED)", "ImageCropV2": "Crop Image",
                              "PrimitiveBoundingBox": "Bounding Box", "ImageFlip": "Flip Image",
                              "ImageRotate": "Rotate Image"}
