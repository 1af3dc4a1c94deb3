"""ComfyUI's comfy_extras.nodes_model_downscale: Kohya's "Deep Shrink", which samples the UNet's deep features at a
smaller size early in sampling (where composition is decided) so that large images keep one subject."""
from __future__ import annotations

from typing import Any

from ..latent.resize import resize
from .unet_patch_node import UNetPatchNode

PYTHON_MODULE = "comfy_extras.nodes_model_downscale"
METHODS = ["bicubic", "nearest-exact", "bilinear", "area", "bislerp"]  # resize's latent methods, in ComfyUI's order


def shrink_patches(block_number: int, downscale_factor: float, sigma_start: float, sigma_end: float,
                   downscale_method: str, upscale_method: str) -> tuple:
    """(input block patch, output block patch): the first shrinks input block `block_number`'s output by the factor
    while sigma lies in [sigma_end, sigma_start]; the second brings a decoder feature back to its skip's size."""
    def input_block_patch(h: Any, transformer_options: dict) -> Any:
        if transformer_options["block"][1] != block_number:
            return h
        sigma = float(transformer_options["sigmas"][0])
        if not sigma_end <= sigma <= sigma_start:
            return h
        width, height = round(h.shape[-1] / downscale_factor), round(h.shape[-2] / downscale_factor)
        return resize(h, width, height, downscale_method)

    def output_block_patch(h: Any, skip: Any, transformer_options: dict) -> tuple:
        if h.shape[2] != skip.shape[2]:
            h = resize(h, skip.shape[-1], skip.shape[-2], upscale_method)
        return h, skip

    return input_block_patch, output_block_patch


class PatchModelAddDownscale(UNetPatchNode):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {}),
            "block_number": ("INT", {"default": 3, "min": 1, "max": 32, "step": 1, "advanced": True}),
            "downscale_factor": ("FLOAT", {"default": 2.0, "min": 0.1, "max": 9.0, "step": 0.001}),
            "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001, "advanced": True}),
            "end_percent": ("FLOAT", {"default": 0.35, "min": 0.0, "max": 1.0, "step": 0.001, "advanced": True}),
            "downscale_after_skip": ("BOOLEAN", {"default": True, "advanced": True}),
            "downscale_method": (METHODS, {}),
            "upscale_method": (METHODS, {}),
        }}

    def patch(self, model: Any, block_number: int, downscale_factor: float, start_percent: float,
              end_percent: float, downscale_after_skip: bool, downscale_method: str, upscale_method: str):
        """A clone whose input block `block_number` is shrunk between start and end percent of sampling (after its
        skip is kept, or before), and whose decoder features are scaled back to meet each skip."""
        schedule = model.schedule
        shrink, restore = shrink_patches(int(block_number), float(downscale_factor),
                                         schedule.percent_to_sigma(float(start_percent)),
                                         schedule.percent_to_sigma(float(end_percent)),
                                         downscale_method, upscale_method)
        patched = model.clone()
        if downscale_after_skip:
            patched.set_model_input_block_patch_after_skip(shrink)
        else:
            patched.set_model_input_block_patch(shrink)
        patched.set_model_output_block_patch(restore)
        return (patched,)


NODE_CLASS_MAPPINGS = {"PatchModelAddDownscale": PatchModelAddDownscale}
NODE_DISPLAY_NAME_MAPPINGS = {"PatchModelAddDownscale": "PatchModelAddDownscale (Kohya Deep Shrink)"}
