"""unCLIPCheckpointLoader and unCLIPConditioning: SD2.1 unCLIP checkpoints, whose UNet also reads a CLIP image
embedding, with the image encoder stored in the same file."""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model
from nodes.diffusion.loaders import CheckpointLoaderSimple


class unCLIPCheckpointLoader(CheckpointLoaderSimple):
    """Load Checkpoint's file list, hint and change check; one more output."""

    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "CLIP_VISION")
    OUTPUT_TOOLTIPS = (*CheckpointLoaderSimple.OUTPUT_TOOLTIPS, "The CLIP vision model that encodes images for it.")
    DESCRIPTION = ("Loads an SD2.1 unCLIP checkpoint from models/checkpoints: the model (which also reads image "
                   "embeddings, see unCLIPConditioning), its text encoder, VAE and CLIP vision image encoder.")

    def load_checkpoint(self, ckpt_name: str):
        from nodes.runtime.clip_vision import UNCLIP_PREFIX, load_clip_vision
        from nodes.runtime.loading import load_checkpoint_models

        path = find_model(current_folders(), "checkpoints", ckpt_name)
        vision = load_clip_vision(path, UNCLIP_PREFIX)  # first: a file without it is refused before the rest loads
        return (*load_checkpoint_models(path), vision)


class unCLIPConditioning:
    CATEGORY = "model/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "apply_adm"
    DESCRIPTION = ("Adds an encoded image to each conditioning entry for an unCLIP model, with a strength and a noise "
                   "augmentation (0..1 of the embedding noise schedule); several add up. Strength 0 changes nothing.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "clip_vision_output": ("CLIP_VISION_OUTPUT",),
                             "strength": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01}),
                             "noise_augmentation": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def apply_adm(self, conditioning, clip_vision_output, strength: float, noise_augmentation: float):
        if strength == 0:
            return (conditioning,)
        if not hasattr(clip_vision_output, "image_embeds"):
            raise InvalidNodeInput("clip_vision_output must come from CLIP Vision Encode (CLIPVisionEncode).")
        added = {"clip_vision_output": clip_vision_output, "strength": strength,
                 "noise_augmentation": noise_augmentation}
        out = []
        for text, options in conditioning:
            options = dict(options)
            options["unclip_conditioning"] = [*options.get("unclip_conditioning", []), added]
            out.append([text, options])
        return (out,)


NODE_CLASS_MAPPINGS = {"unCLIPCheckpointLoader": unCLIPCheckpointLoader, "unCLIPConditioning": unCLIPConditioning}
NODE_DISPLAY_NAME_MAPPINGS = {"unCLIPCheckpointLoader": "Load unCLIP Checkpoint",
                              "unCLIPConditioning": "unCLIPConditioning"}
