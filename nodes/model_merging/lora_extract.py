"""ComfyUI's LoraSave: a LoRA extracted from a model (and/or CLIP) difference, such as ModelMergeSubtract's, saved
into the output folder in ComfyUI's key layout (runtime/lora/extract.py), which our LoRA loader reads back."""
from __future__ import annotations

from graph_engine import current_folders

from ..images.naming import prefix_validation
from .save_nodes import write_model_file

PYTHON_MODULE = "comfy_extras.nodes_lora_extract"


class LoraSave:
    CATEGORY = "experimental"
    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
                    "filename_prefix": ("STRING", {"default": "loras/ComfyUI_extracted_lora", "multiline": False}),
                    "rank": ("INT", {"default": 8, "min": 1, "max": 4096, "step": 1, "advanced": True}),
                    "lora_type": (["standard", "full_diff"], {"advanced": True}),
                    "bias_diff": ("BOOLEAN", {"default": True, "advanced": True})},
                "optional": {
                    "model_diff": ("MODEL", {"tooltip": "The ModelSubtract output to be converted to a lora."}),
                    "text_encoder_diff": ("CLIP", {"tooltip": "The CLIPSubtract output to be converted to a lora."})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    @classmethod
    def VALIDATE_INPUTS(cls, filename_prefix=None):
        return prefix_validation(filename_prefix, current_folders().output)

    def save(self, filename_prefix: str, rank: int, lora_type: str, bias_diff: bool, model_diff=None,
             text_encoder_diff=None, prompt=None, extra_pnginfo=None):
        from nodes.runtime.lora.extract import lora_tensors

        if model_diff is None and text_encoder_diff is None:
            return {}
        tensors = {}
        if model_diff is not None:
            tensors.update(lora_tensors(model_diff.patched_parameters(), "diffusion_model.", "diffusion_model.", rank,
                                        lora_type, bias_diff))
        if text_encoder_diff is not None:
            tensors.update(lora_tensors(text_encoder_diff.patched_parameters(), "", "text_encoders.", rank, lora_type,
                                        bias_diff))
        write_model_file(filename_prefix, tensors, None)  # ComfyUI writes no metadata here
        return {}


NODE_CLASS_MAPPINGS = {"LoraSave": LoraSave}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraSave": "Extract and Save Lora"}
