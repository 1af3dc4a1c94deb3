"""Latent nodes: an empty latent, latent resizing and the inpainting noise mask (ComfyUI's names and inputs)."""
from __future__ import annotations

from .resize import CROP_METHODS, LATENT_METHODS, MAX_RESOLUTION, resize

LATENT_CHANNELS = 4
LATENT_SCALE = 8


class EmptyLatentImage:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "generate"
    DESCRIPTION = "A batch of all-zero latents for an image of width x height pixels (1/8 of each side)."

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {"width": ("INT", dict(side)), "height": ("INT", dict(side)),
                             "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    def generate(self, width: int, height: int, batch_size: int = 1):
        import torch

        shape = [batch_size, LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE]
        return ({"samples": torch.zeros(shape, dtype=torch.float32, device="cpu")},)


class LatentUpscale:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"
    DESCRIPTION = ("Resize a latent to width x height pixels (1/8 in latent cells). A side set to 0 follows the "
                   "other side's aspect ratio; both 0 leaves the latent as it is.")

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 512, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {"samples": ("LATENT",), "upscale_method": (list(LATENT_METHODS),),
                             "width": ("INT", dict(side)), "height": ("INT", dict(side)),
                             "crop": (list(CROP_METHODS),)}}

    def upscale(self, samples: dict, upscale_method: str, width: int, height: int, crop: str):
        if width == 0 and height == 0:
            return (samples,)
        latent = samples["samples"]
        old_height, old_width = latent.shape[-2], latent.shape[-1]
        if width == 0:
            height = max(64, height)
            width = max(64, round(old_width * height / old_height))
        elif height == 0:
            width = max(64, width)
            height = max(64, round(old_height * width / old_width))
        else:
            width, height = max(64, width), max(64, height)
        out = dict(samples)
        out["samples"] = resize(latent, width // LATENT_SCALE, height // LATENT_SCALE, upscale_method, crop)
        return (out,)


class LatentUpscaleBy:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"
    DESCRIPTION = "Resize a latent by a factor (each side rounded to whole latent cells)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "upscale_method": (list(LATENT_METHODS),),
                             "scale_by": ("FLOAT", {"default": 1.5, "min": 0.01, "max": 8.0, "step": 0.01})}}

    def upscale(self, samples: dict, upscale_method: str, scale_by: float):
        latent = samples["samples"]
        width = max(1, round(latent.shape[-1] * scale_by))
        height = max(1, round(latent.shape[-2] * scale_by))
        out = dict(samples)
        out["samples"] = resize(latent, width, height, upscale_method, "disabled")
        return (out,)


class SetLatentNoiseMask:
    CATEGORY = "latent/inpaint"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "set_mask"
    DESCRIPTION = "Attach a mask to a latent so sampling only changes where the mask is above 0."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "mask": ("MASK",)}}

    def set_mask(self, samples: dict, mask):
        out = dict(samples)
        out["noise_mask"] = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        return (out,)


NODE_CLASS_MAPPINGS = {"EmptyLatentImage": EmptyLatentImage, "LatentUpscale": LatentUpscale,
                       "LatentUpscaleBy": LatentUpscaleBy, "SetLatentNoiseMask": SetLatentNoiseMask}
NODE_DISPLAY_NAME_MAPPINGS = {"EmptyLatentImage": "Empty Latent Image", "LatentUpscale": "Upscale Latent",
                              "LatentUpscaleBy": "Upscale Latent By", "SetLatentNoiseMask": "Set Latent Noise Mask"}
