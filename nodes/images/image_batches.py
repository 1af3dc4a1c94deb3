"""Batch and size nodes of ComfyUI's comfy_extras.nodes_images: GetImageSize, RepeatImageBatch, ImageFromBatch and
ImageAddNoise."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate, ValueSize

from ..latent.resize import MAX_RESOLUTION

PYTHON_MODULE = "comfy_extras.nodes_images"


class GetImageSize:
    CATEGORY = "image"
    RETURN_TYPES = ("INT", "INT", "INT")
    RETURN_NAMES = ("width", "height", "batch_size")
    FUNCTION = "get_size"
    DESCRIPTION = "Returns width and height of the image, and passes it through unchanged."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}, "hidden": {"unique_id": "UNIQUE_ID"}}

    def get_size(self, image, unique_id=None):
        batch, height, width = image.shape[:3]
        return (int(width), int(height), int(batch))


class RepeatImageBatch:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "repeat"
    DESCRIPTION = "The whole batch repeated `amount` times, one copy after another."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "amount": ("INT", {"default": 1, "min": 1, "max": 4096})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known, amount = sizes.get("image"), inputs.get("amount")
        if known is None or amount is None:
            return None
        batch, *rest = known.shape
        size = ValueSize.array((batch * amount, *rest))
        return NodeEstimate((size,), size.nbytes, f"{amount} copies of the batch")

    def repeat(self, image, amount: int):
        return (image.repeat((amount, 1, 1, 1)),)


def batch_slice(size: int, batch_index: int, length: int) -> slice:
    """Which images ImageFromBatch keeps: a negative index counts from the end, the start is clamped into the
    batch and the length to what is left of it."""
    if batch_index < 0:
        batch_index += size
    start = max(0, min(size - 1, batch_index))
    return slice(start, start + min(size - start, length))


class ImageFromBatch:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "frombatch"
    DESCRIPTION = "`length` images from the batch, starting at `batch_index` (negative counts from the end)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "batch_index": ("INT", {"default": 0, "min": -MAX_RESOLUTION, "max": MAX_RESOLUTION}),
            "length": ("INT", {"default": 1, "min": 1, "max": 4096}),
        }}

    def frombatch(self, image, batch_index: int, length: int):
        return (image[batch_slice(image.shape[0], batch_index, length)].clone(),)


class ImageAddNoise:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "add_noise"
    DESCRIPTION = "Adds seeded Gaussian noise times `strength` to the images, clipped to 0..1."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "image": ("IMAGE",),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                             "tooltip": "The random seed used for creating the noise."}),
            "strength": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01}),
        }}

    def add_noise(self, image, seed: int, strength: float):
        import torch

        # the CPU generator ComfyUI seeds, so a seed gives the same grain there and here
        generator = torch.Generator(device="cpu").manual_seed(seed)
        noise = torch.randn(image.size(), generator=generator, device="cpu").to(image)
        return (torch.clip(image + strength * noise, min=0.0, max=1.0),)


NODE_CLASS_MAPPINGS = {"GetImageSize": GetImageSize, "RepeatImageBatch": RepeatImageBatch,
                       "ImageFromBatch": ImageFromBatch, "ImageAddNoise": ImageAddNoise}
NODE_DISPLAY_NAME_MAPPINGS = {"GetImageSize": "Get Image Size", "RepeatImageBatch": "Repeat Image Batch",
                              "ImageFromBatch": "Get Image from Batch", "ImageAddNoise": "Add Noise to Image"}
