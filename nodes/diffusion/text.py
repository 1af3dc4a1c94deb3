"""CLIPTextEncode and CLIPSetLastLayer."""
from __future__ import annotations


class CLIPTextEncode:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    OUTPUT_TOOLTIPS = ("The encoded text that guides the diffusion model.",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes a prompt with the checkpoint's CLIP: (word:1.2) weights, (word) and [word] emphasis, "
                   "escaped \\( \\), embedding:name, and prompts longer than 75 tokens.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True, "dynamicPrompts": True,
                                                 "tooltip": "The text to be encoded."}),
                             "clip": ("CLIP", {"tooltip": "The CLIP model used for encoding the text."})}}

    def encode(self, clip, text: str):
        if clip is None:
            raise ValueError("clip input is invalid: None. If the CLIP came from a checkpoint loader, the checkpoint "
                             "has no text encoder.")
        return (clip.encode(text),)


class CLIPSetLastLayer:
    CATEGORY = "conditioning"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "set_last_layer"
    DESCRIPTION = "Clip skip: -1 uses CLIP's last layer, -2 the one before it (what many anime models expect)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",),
                             "stop_at_clip_layer": ("INT", {"default": -1, "min": -24, "max": -1, "step": 1})}}

    def set_last_layer(self, clip, stop_at_clip_layer: int):
        return (clip.with_clip_skip(stop_at_clip_layer),)


NODE_CLASS_MAPPINGS = {"CLIPTextEncode": CLIPTextEncode, "CLIPSetLastLayer": CLIPSetLastLayer}
NODE_DISPLAY_NAME_MAPPINGS = {"CLIPTextEncode": "CLIP Text Encode (Prompt)", "CLIPSetLastLayer": "CLIP Set Last Layer"}
