"""Latent nodes: an empty latent, latent resizing and the inpainting noise mask (ComfyUI's names and inputs)."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate, ValueSize

from .resize import CROP_METHODS, LATENT_METHODS, MAX_RESOLUTION, resize, scaled_size

LATENT_CHANNELS = 4
LATENT_SCALE = 8


def new_latent(shape: tuple[int, ...]) -> NodeEstimate:
    """The estimate of a node whose one output is a freshly allocated float32 latent of `shape`."""
    size = ValueSize.array(shape)
    return NodeEstimate((size,), size.nbytes, f"a latent of {' x '.join(map(str, shape))} float32 values")


def latent_target_size(old: tuple[int, int] | None, width: int, height: int) -> tuple[int, int] | None:
    """LatentUpscale's (width, height) in pixels; `old` is the latent's (width, height) in cells, when known."""
    if width and height:
        return max(64, width), max(64, height)
    if old is None:
        return None
    old_width, old_height = old
    if width == 0:
        return max(64, round(old_width * max(64, height) / old_height)), max(64, height)
    return max(64, width), max(64, round(old_height * max(64, width) / old_width))


class EmptyLatentImage:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "generate"
    DESCRIPTION = "A batch of all-zero latents for an image of width x height pixels (1/8 of each side)."

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 512, "min": 16, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {"width": ("INT", dict(side)), "height": ("INT", dict(side)),
                             "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        width, height, batch = inputs.get("width"), inputs.get("height"), inputs.get("batch_size")
        if None in (width, height, batch):
            return None  # linked sizes are known only when the graph runs
        return new_latent((batch, LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE))

    def generate(self, width: int, height: int, batch_size: int = 1):
        import torch

        shape = [batch_size, LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE]
        return ({"samples": torch.zeros(shape, dtype=torch.float32, device="cpu")},)


class LatentUpscale:
    CATEGORY = "model/latent"
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

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known = sizes.get("samples")
        new_width, new_height = inputs.get("width"), inputs.get("height")
        if new_width is None or new_height is None:
            return None
        if new_width == 0 and new_height == 0:
            return NodeEstimate((known,))
        # an unknown source counts as one latent of 4 channels: the least any model family has
        batch, channels, height, width = known.shape if known is not None else (1, LATENT_CHANNELS, None, None)
        target = latent_target_size((width, height) if known is not None else None, new_width, new_height)
        if target is None:
            return None
        return new_latent((batch, channels, target[1] // LATENT_SCALE, target[0] // LATENT_SCALE))

    def upscale(self, samples: dict, upscale_method: str, width: int, height: int, crop: str):
        if width == 0 and height == 0:
            return (samples,)
        latent = samples["samples"]
        width, height = latent_target_size((latent.shape[-1], latent.shape[-2]), width, height)
        out = dict(samples)
        out["samples"] = resize(latent, width // LATENT_SCALE, height // LATENT_SCALE, upscale_method, crop)
        return (out,)


class LatentUpscaleBy:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "upscale"
    DESCRIPTION = "Resize a latent by a factor (each side rounded to whole latent cells)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "upscale_method": (list(LATENT_METHODS),),
                             "scale_by": ("FLOAT", {"default": 1.5, "min": 0.01, "max": 8.0, "step": 0.01})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known, scale = sizes.get("samples"), inputs.get("scale_by")
        if known is None or scale is None:
            return None
        batch, channels, height, width = known.shape
        width, height = scaled_size(width, height, scale)
        return new_latent((batch, channels, height, width))

    def upscale(self, samples: dict, upscale_method: str, scale_by: float):
        latent = samples["samples"]
        width, height = scaled_size(latent.shape[-1], latent.shape[-2], scale_by)
        out = dict(samples)
        out["samples"] = resize(latent, width, height, upscale_method, "disabled")
        return (out,)


class SetLatentNoiseMask:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "set_mask"
    DESCRIPTION = "Attach a mask to a latent so sampling only changes where the mask is above 0."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "mask": ("MASK",)}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return NodeEstimate((sizes.get("samples"),))  # the same tensors, passed on

    def set_mask(self, samples: dict, mask):
        out = dict(samples)
        out["noise_mask"] = mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        return (out,)


NODE_CLASS_MAPPINGS = {"EmptyLatentImage": EmptyLatentImage, "LatentUpscale": LatentUpscale,
                       "LatentUpscaleBy": LatentUpscaleBy, "SetLatentNoiseMask": SetLatentNoiseMask}
NODE_DISPLAY_NAME_MAPPINGS = {"EmptyLatentImage": "Empty Latent Image", "LatentUpscale": "Upscale Latent",
                              "LatentUpscaleBy": "Upscale Latent By", "SetLatentNoiseMask": "Set Latent Noise Mask"}
