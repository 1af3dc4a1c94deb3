"""CLIPTextEncodeSDXL and CLIPTextEncodeSDXLRefiner: SDXL prompts with their size (and aesthetic) conditioning.

SDXL's UNet is told the original size, the crop and the target size of its training image; these nodes set them
(ComfyUI's option names) beside the pooled output, and guidance builds the UNet's time ids from them.
"""
from __future__ import annotations

from graph_engine import InvalidNodeInput
from nodes.latent.resize import MAX_RESOLUTION

from .text import prompt_too_long, refuse_long_prompts

PYTHON_MODULE = "comfy_extras.nodes_clip_sdxl"
CATEGORY = "model/conditioning/stable diffusion"
PROMPT = ("STRING", {"multiline": True, "dynamicPrompts": True})


def _size(default: int, **more) -> tuple:
    return ("INT", {"default": default, "min": 0, "max": MAX_RESOLUTION, **more})


def encode_with_options(clip, text, options: dict) -> list:
    """CONDITIONING for `text` (one string, or one per encoder name) with `options` beside the pooled output."""
    if clip is None:
        raise InvalidNodeInput("clip input is invalid: None. If the CLIP came from a checkpoint loader, the "
                               "checkpoint has no text encoder.")
    for one in [text] if isinstance(text, str) else text.values():
        problem = prompt_too_long(len(one))
        if problem is not None:
            raise InvalidNodeInput(problem)
    return [[tensor, {**encoded, **options}] for tensor, encoded in clip.encode(text)]


class CLIPTextEncodeSDXL:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes text_g with SDXL's OpenCLIP bigG and text_l with its CLIP-L (the shorter is padded with "
                   "empty chunks), with the size, crop and target size SDXL is conditioned on.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP", {}), "width": _size(1024), "height": _size(1024),
                             "crop_w": _size(0, advanced=True), "crop_h": _size(0, advanced=True),
                             "target_width": _size(1024), "target_height": _size(1024),
                             "text_g": PROMPT, "text_l": PROMPT}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        refuse_long_prompts(sizes, ("text_g", "text_l"))
        return None

    def encode(self, clip, width: int, height: int, crop_w: int, crop_h: int, target_width: int,
               target_height: int, text_g: str, text_l: str):
        sizes = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                 "target_width": target_width, "target_height": target_height}
        return (encode_with_options(clip, {"clip_g": text_g, "clip_l": text_l}, sizes),)


class CLIPTextEncodeSDXLRefiner:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes a prompt with the aesthetic score and size the SDXL refiner is conditioned on (an SDXL "
                   "base model reads the size and ignores the score).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ascore": ("FLOAT", {"default": 6.0, "min": 0.0, "max": 1000.0, "step": 0.01}),
                             "width": _size(1024), "height": _size(1024), "text": PROMPT, "clip": ("CLIP", {})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        refuse_long_prompts(sizes, ("text",))
        return None

    def encode(self, clip, ascore: float, width: int, height: int, text: str):
        return (encode_with_options(clip, text, {"aesthetic_score": ascore, "width": width, "height": height}),)


NODE_CLASS_MAPPINGS = {"CLIPTextEncodeSDXL": CLIPTextEncodeSDXL, "CLIPTextEncodeSDXLRefiner": CLIPTextEncodeSDXLRefiner}
NODE_DISPLAY_NAME_MAPPINGS = {"CLIPTextEncodeSDXL": "CLIP Text Encode (SDXL)",
                              "CLIPTextEncodeSDXLRefiner": "CLIP Text Encode (SDXL Refiner)"}
