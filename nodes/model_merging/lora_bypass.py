"""ComfyUI's LoraLoaderBypass and LoraLoaderBypassModelOnly: a LoRA added to the layers' outputs by forward hooks
instead of to their weights (runtime/lora/bypass.py); the result equals LoraLoader's within float rounding."""
from __future__ import annotations

from graph_engine import current_folders
from model_library.folders import list_models

from ..diffusion.lora import STRENGTH, LoraLoader, LoraLoaderModelOnly

PYTHON_MODULE = "comfy_extras.nodes_lora_debug"


class LoraLoaderBypass(LoraLoader):
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", "The modified CLIP model.")
    DESCRIPTION = ("Apply LoRA in bypass mode. Unlike regular LoRA, this doesn't modify model weights - instead it "
                   "injects the LoRA computation during forward pass. Useful for training scenarios.")
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}),
            "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}),
            "lora_name": (list_models(current_folders(), "loras"), {"tooltip": "The name of the LoRA."}),
            "strength_model": ("FLOAT", {**STRENGTH, "tooltip": "How strongly to modify the diffusion model. This "
                                                                "value can be negative."}),
            "strength_clip": ("FLOAT", {**STRENGTH, "tooltip": "How strongly to modify the CLIP model. This value "
                                                               "can be negative."})}}

    def load_lora(self, model, clip, lora_name: str, strength_model: float, strength_clip: float):
        from nodes.runtime.lora.loading import apply_lora

        if strength_model == 0 and strength_clip == 0:
            return model, clip
        return apply_lora(model, clip, lora_name, strength_model, strength_clip, bypass=True)


class LoraLoaderBypassModelOnly(LoraLoaderModelOnly):
    DESCRIPTION = LoraLoaderBypass.DESCRIPTION
    EXPERIMENTAL = True

    def load_lora_model_only(self, model, lora_name: str, strength_model: float):
        return (LoraLoaderBypass().load_lora(model, None, lora_name, strength_model, 0.0)[0],)


NODE_CLASS_MAPPINGS = {"LoraLoaderBypass": LoraLoaderBypass, "LoraLoaderBypassModelOnly": LoraLoaderBypassModelOnly}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraLoaderBypass": "Load LoRA (Bypass) (For debugging)",
                              "LoraLoaderBypassModelOnly": "Load LoRA (Bypass, Model Only) (for debugging)"}
