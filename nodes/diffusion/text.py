"""CLIPTextEncode and CLIPSetLastLayer."""
from __future__ import annotations

from graph_engine import InvalidNodeInput
from graph_engine.estimate import InputTooLarge

# CLIP reads 75 tokens at a time and every chunk joins the conditioning each sampling step attends to. 50,000
# characters is ten times the longest prompts people write, and at most about 670 chunks (under 0.5 GB of SDXL
# conditioning); a longer text only makes a run slower and bigger, and megabytes of it take the machine's memory.
MAX_PROMPT_CHARACTERS = 50_000


def prompt_too_long(length: int) -> str | None:
    """The message for a prompt of `length` characters over the cap, else None."""
    if length <= MAX_PROMPT_CHARACTERS:
        return None
    return (f"The prompt is {length:,} characters long, more than the limit of {MAX_PROMPT_CHARACTERS:,} "
            f"characters; shorten it (CLIP reads 75 tokens at a time, so a longer text only makes sampling slower)")


def refuse_long_prompts(sizes, names: tuple[str, ...]) -> None:
    """ESTIMATE_MEMORY's check: raises InputTooLarge for the first of the text inputs `names` over the cap."""
    for name in names:
        text = sizes.get(name)
        problem = prompt_too_long(text.shape[0]) if text is not None else None
        if problem is not None:
            raise InputTooLarge(name, problem)


class CLIPTextEncode:
    CATEGORY = "model/conditioning"
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

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        refuse_long_prompts(sizes, ("text",))
        return None

    def encode(self, clip, text: str):
        problem = prompt_too_long(len(text))
        if problem is not None:  # a text made while the graph ran, by a node that could not say its length before
            raise InvalidNodeInput(problem)
        if clip is None:
            raise InvalidNodeInput("clip input is invalid: None. If the CLIP came from a checkpoint loader, the "
                                   "checkpoint has no text encoder.")
        return (clip.encode(text),)


class CLIPSetLastLayer:
    CATEGORY = "model/conditioning"
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
