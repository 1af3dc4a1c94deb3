"""LoraLoader and LoraLoaderModelOnly: a LoRA from models/loras on a MODEL (and CLIP), at a strength."""
from __future__ import annotations

from graph_engine import current_folders
from model_library.folders import list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

STRENGTH = {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}


class LoraLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL", "CLIP")
    OUTPUT_TOOLTIPS = ("The model with the LoRA.", "The CLIP with the LoRA.")
    FUNCTION = "load_lora"
    DESCRIPTION = ("Applies a LoRA from models/loras. Several loaders in a chain stack; changing a strength or "
                   "swapping the LoRA never reloads the checkpoint.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {"tooltip": "The diffusion model the LoRA will be applied to."}),
            "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA will be applied to."}),
            "lora_name": (list_models(current_folders(), "loras"), {"tooltip": "A file in models/loras."}),
            "strength_model": ("FLOAT", {**STRENGTH, "tooltip": "How strongly to modify the diffusion model."}),
            "strength_clip": ("FLOAT", {**STRENGTH, "tooltip": "How strongly to modify the CLIP model."})}}

    def load_lora(self, model, clip, lora_name: str, strength_model: float, strength_clip: float):
        from nodes.runtime.lora.loading import apply_lora

        return apply_lora(model, clip, lora_name, strength_model, strength_clip)

    @classmethod
    def IS_CHANGED(cls, lora_name: str, **_):
        return model_file_state(current_folders(), "loras", lora_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "loras")


class LoraLoaderModelOnly:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_lora_model_only"
    DESCRIPTION = "Applies a LoRA from models/loras to the diffusion model only."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "lora_name": (list_models(current_folders(), "loras"),),
                             "strength_model": ("FLOAT", dict(STRENGTH))}}

    def load_lora_model_only(self, model, lora_name: str, strength_model: float):
        from nodes.runtime.lora.loading import apply_lora

        return (apply_lora(model, None, lora_name, strength_model, 0.0)[0],)

    @classmethod
    def IS_CHANGED(cls, lora_name: str, **_):
        return model_file_state(current_folders(), "loras", lora_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "loras")


NODE_CLASS_MAPPINGS = {"LoraLoader": LoraLoader, "LoraLoaderModelOnly": LoraLoaderModelOnly}
NODE_DISPLAY_NAME_MAPPINGS = {"LoraLoader": "Load LoRA (Model and CLIP)", "LoraLoaderModelOnly": "Load LoRA"}
