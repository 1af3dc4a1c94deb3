"""ComfyUI's mask nodes (comfy_extras.nodes_mask): making, converting, cropping, growing, combining, pasting and
previewing MASK values.

A MASK is a float tensor [batch, height, width], 1 where an image is to change (ComfyUI's convention). The
method names are ComfyUI's, so plugins that call e.g. `GrowMask().expand_mask(...)` work with ours; so is
`composite`, ComfyUI's pasting function, which plugins import from this module.
"""
from __future__ import annotations

from graph_engine import InvalidNodeInput

from ..images.save import PreviewImage
from ..latent.resize import MAX_RESOLUTION
from .batches import image_batch, mask_batch
from .mask_edges import feather_mask, grow_mask
from .paste import MASK_OPERATIONS, combine_masks, composite

PYTHON_MODULE = "comfy_extras.nodes_mask"
CHANNELS = ("red", "green", "blue", "alpha")
WHITE = 0xFFFFFF


def _offset(default: int = 0, minimum: int = 0) -> tuple:
    return ("INT", {"default": default, "min": minimum, "max": MAX_RESOLUTION, "step": 1})


class InvertMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "invert"
    DESCRIPTION = "1 - mask: what was kept changes, what changed is kept."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",)}}

    def invert(self, mask):
        return (1.0 - mask,)


class SolidMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "solid"
    DESCRIPTION = "A mask of width x height with every value set to `value`."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
                             "width": _offset(512, 1), "height": _offset(512, 1)}}

    def solid(self, value: float, width: int, height: int):
        import torch

        return (torch.full((1, height, width), value, dtype=torch.float32, device="cpu"),)


class ImageToMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "image_to_mask"
    DESCRIPTION = "One channel of an image as a mask."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "channel": (list(CHANNELS),)}}

    def image_to_mask(self, image, channel: str):
        image = image_batch(image)
        index = CHANNELS.index(channel)
        if index >= image.shape[-1]:
            raise InvalidNodeInput(f"channel {channel!r}: the image has only {image.shape[-1]} channels (no alpha); "
                                   "LoadImage gives an image's alpha as its MASK output")
        return (image[..., index],)


class ImageColorToMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "image_to_mask"
    DESCRIPTION = "1 where a pixel's 8-bit RGB colour is exactly `color` (0xRRGGBB), 0 elsewhere."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",),
                             "color": ("INT", {"default": 0, "min": 0, "max": WHITE, "step": 1, "display": "number"})}}

    def image_to_mask(self, image, color: int):
        import torch

        image = image_batch(image)
        if image.shape[-1] < 3:
            raise InvalidNodeInput(f"image has {image.shape[-1]} channel(s); matching a colour needs RGB")
        levels = (image[..., :3].clamp(0.0, 1.0) * 255.0).round().to(torch.int64)
        packed = (levels[..., 0] << 16) | (levels[..., 1] << 8) | levels[..., 2]
        return ((packed == color).to(torch.float32),)


class MaskToImage:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mask_to_image"
    DESCRIPTION = "A mask as a grey image (the same value in red, green and blue)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",)}}

    def mask_to_image(self, mask):
        return (mask_batch(mask)[..., None].expand(-1, -1, -1, 3),)


class ThresholdMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "image_to_mask"
    DESCRIPTION = "1 where the mask is above `value`, 0 elsewhere."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",),
                             "value": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def image_to_mask(self, mask, value: float):
        return ((mask > value).float(),)


class CropMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "crop"
    DESCRIPTION = "The part of the mask from (x, y), width x height, cut short at the mask's edges."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",), "x": _offset(), "y": _offset(),
                             "width": _offset(512, 1), "height": _offset(512, 1)}}

    def crop(self, mask, x: int, y: int, width: int, height: int):
        mask = mask_batch(mask)
        mask_height, mask_width = mask.shape[-2:]
        if x >= mask_width or y >= mask_height:
            raise InvalidNodeInput(f"x, y ({x}, {y}): the crop starts outside the {mask_width}x{mask_height} mask; "
                                   f"use x below {mask_width} and y below {mask_height}")
        return (mask[:, y:y + height, x:x + width],)


class GrowMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "expand_mask"
    DESCRIPTION = "Grow the mask by `expand` pixels (shrink it when negative); tapered corners round them off."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",), "expand": _offset(0, -MAX_RESOLUTION),
                             "tapered_corners": ("BOOLEAN", {"default": True, "advanced": True})}}

    def expand_mask(self, mask, expand: int, tapered_corners: bool):
        return (grow_mask(mask, expand, tapered_corners),)


class FeatherMask:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "feather"
    DESCRIPTION = "Fade the mask out linearly towards each edge over that edge's number of pixels."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",), "left": _offset(), "top": _offset(), "right": _offset(),
                             "bottom": _offset()}}

    def feather(self, mask, left: int, top: int, right: int, bottom: int):
        return (feather_mask(mask, left, top, right, bottom),)


class MaskComposite:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "combine"
    DESCRIPTION = "Combine the source mask into the destination at (x, y); the result is clamped to 0..1."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"destination": ("MASK",), "source": ("MASK",), "x": _offset(), "y": _offset(),
                             "operation": (list(MASK_OPERATIONS),)}}

    def combine(self, destination, source, x: int, y: int, operation: str):
        return (combine_masks(destination, source, x, y, operation),)


def _match_channels(destination, source):
    """`source` with the destination's channels: extra ones dropped, a missing alpha added as opaque (1)."""
    import torch

    wanted, present = destination.shape[-1], source.shape[-1]
    if present >= wanted:
        return source[..., :wanted]
    opaque = torch.ones((*source.shape[:-1], wanted - present), dtype=source.dtype, device=source.device)
    return torch.cat((source, opaque), dim=-1)


def _paste_inputs(step: int) -> dict:
    offset = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": step}
    return {"x": ("INT", dict(offset)), "y": ("INT", dict(offset)),
            "resize_source": ("BOOLEAN", {"default": False})}


class ImageCompositeMasked:
    CATEGORY = "image/compositing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "composite"
    DESCRIPTION = ("Paste the source image onto the destination at (x, y), through the mask when one is given "
                   "(resized to the source); resize_source first scales the source to the destination's size.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"destination": ("IMAGE",), "source": ("IMAGE",), **_paste_inputs(1)},
                "optional": {"mask": ("MASK",)}}

    def composite(self, destination, source, x: int, y: int, resize_source: bool, mask=None):
        destination = image_batch(destination, "destination")
        source = _match_channels(destination, image_batch(source, "source"))
        # the module's composite function, on channel-first views
        pasted = composite(destination.clone().movedim(-1, 1), source.movedim(-1, 1), x, y, mask, 1, resize_source)
        return (pasted.movedim(1, -1),)


class LatentCompositeMasked:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "composite"
    DESCRIPTION = ("Paste the source latent onto the destination at (x, y) in pixels (whole latent cells of 8), "
                   "through the mask when one is given; the destination's other entries are kept.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"destination": ("LATENT",), "source": ("LATENT",), **_paste_inputs(8)},
                "optional": {"mask": ("MASK",)}}

    def composite(self, destination: dict, source: dict, x: int, y: int, resize_source: bool, mask=None):
        below, above = destination["samples"], source["samples"]
        if above.ndim != below.ndim or above.shape[1] != below.shape[1]:
            raise InvalidNodeInput(f"source: a latent of shape {tuple(above.shape)} cannot be pasted into the "
                                   f"destination's {tuple(below.shape)}; both must come from the same kind of model")
        output = dict(destination)
        output["samples"] = composite(below.clone(), above, x, y, mask, 8, resize_source)
        return (output,)


class MaskPreview:
    CATEGORY = "image/mask"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("mask",)
    FUNCTION = "execute"
    OUTPUT_NODE = True
    DESCRIPTION = "Shows the masks as grey images, kept in the temp folder only (not saved to the output folder)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def execute(self, mask, prompt=None, extra_pnginfo=None) -> dict:
        (grey,) = MaskToImage().mask_to_image(mask)
        shown = PreviewImage().save_images(grey, prompt, extra_pnginfo)
        return {"ui": {**shown["ui"], "animated": (False,)}, "result": (mask,)}


NODE_CLASS_MAPPINGS = {
    "InvertMask": InvertMask, "SolidMask": SolidMask, "ImageToMask": ImageToMask,
    "ImageColorToMask": ImageColorToMask, "MaskToImage": MaskToImage, "ThresholdMask": ThresholdMask,
    "CropMask": CropMask, "GrowMask": GrowMask, "FeatherMask": FeatherMask, "MaskComposite": MaskComposite,
    "ImageCompositeMasked": ImageCompositeMasked, "LatentCompositeMasked": LatentCompositeMasked,
    "MaskPreview": MaskPreview,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "InvertMask": "Invert Mask", "SolidMask": "Create Solid Mask", "ImageToMask": "Convert Image to Mask",
    "ImageColorToMask": "Convert Image Color to Mask", "MaskToImage": "Convert Mask to Image",
    "ThresholdMask": "Threshold Mask", "CropMask": "Crop Mask", "GrowMask": "Grow Mask",
    "FeatherMask": "Feather Mask", "MaskComposite": "Combine Masks", "ImageCompositeMasked": "Image Composite Masked",
    "LatentCompositeMasked": "Latent Composite Masked", "MaskPreview": "Preview Mask",
}
