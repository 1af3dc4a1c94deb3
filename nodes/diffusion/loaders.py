"""CheckpointLoaderSimple and VAELoader: files from the model folders, listed fresh for every refresh."""
from __future__ import annotations

from graph_engine import current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint


class CheckpointLoaderSimple:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    OUTPUT_TOOLTIPS = ("The model that denoises latents.", "The CLIP model that encodes text prompts.",
                       "The VAE that turns latents into images and back.")
    FUNCTION = "load_checkpoint"
    DESCRIPTION = ("Loads a Stable Diffusion 1.x, 2.x or SDXL checkpoint from models/checkpoints (a single file "
                   "or a diffusers folder).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (list_models(current_folders(), "checkpoints"),
                                           {"tooltip": "A file in models/checkpoints."})}}

    def load_checkpoint(self, ckpt_name: str):
        from nodes.runtime.loading import load_checkpoint_models

        return load_checkpoint_models(find_model(current_folders(), "checkpoints", ckpt_name))

    @classmethod
    def IS_CHANGED(cls, ckpt_name: str):
        return model_file_state(current_folders(), "checkpoints", ckpt_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "checkpoints")


class VAELoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("VAE",)
    FUNCTION = "load_vae"
    DESCRIPTION = "Loads a VAE file from models/vae, to decode with instead of the checkpoint's own."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae_name": (list_models(current_folders(), "vae"), {"tooltip": "A file in models/vae."})}}

    def load_vae(self, vae_name: str):
        from nodes.runtime.loading import load_vae

        return (load_vae(find_model(current_folders(), "vae", vae_name)),)

    @classmethod
    def IS_CHANGED(cls, vae_name: str):
        return model_file_state(current_folders(), "vae", vae_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "vae")


NODE_CLASS_MAPPINGS = {"CheckpointLoaderSimple": CheckpointLoaderSimple, "VAELoader": VAELoader}
NODE_DISPLAY_NAME_MAPPINGS = {"CheckpointLoaderSimple": "Load Checkpoint", "VAELoader": "Load VAE"}
