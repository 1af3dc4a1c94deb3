"""UpscaleModelLoader and ImageUpscaleWithModel: ESRGAN-family models from models/upscale_models, run in tiles."""
from __future__ import annotations

from graph_engine import current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

PYTHON_MODULE = "comfy_extras.nodes_upscale_model"
FOLDER = "upscale_models"


class UpscaleModelLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("UPSCALE_MODEL",)
    FUNCTION = "load_model"
    DESCRIPTION = ("Loads an image upscale model from models/upscale_models: ESRGAN and RealESRGAN RRDBNet (1x, 2x, "
                   "4x, 8x) or RealESRGAN's compact SRVGGNet, as .safetensors or a .pth of plain tensors.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_name": (list_models(current_folders(), FOLDER),
                                            {"tooltip": "A file in models/upscale_models."})}}

    def load_model(self, model_name: str):
        from nodes.runtime.upscale_models import load_upscale_model

        return (load_upscale_model(find_model(current_folders(), FOLDER, model_name)),)

    @classmethod
    def IS_CHANGED(cls, model_name: str):
        return model_file_state(current_folders(), FOLDER, model_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), FOLDER)


class ImageUpscaleWithModel:
    CATEGORY = "image/upscaling"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "upscale"
    DESCRIPTION = ("Upscales images with an upscale model, in 512 px tiles that overlap by 32 px (smaller tiles if "
                   "memory runs out); the result is clamped to 0..1.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"upscale_model": ("UPSCALE_MODEL",), "image": ("IMAGE",)}}

    def upscale(self, upscale_model, image):
        from graph_engine import InvalidNodeInput
        from nodes.runtime.upscale_models import UpscaleModel, upscale_images

        if not isinstance(upscale_model, UpscaleModel):
            raise InvalidNodeInput(f"upscale_model must come from Load Upscale Model (UpscaleModelLoader), not "
                                   f"{type(upscale_model).__name__}.")
        expected = upscale_model.config.in_channels
        if image.shape[-1] != expected:
            raise InvalidNodeInput(f"image has {image.shape[-1]} channels but {upscale_model.source} reads "
                                   f"{expected}: convert the image first (e.g. drop the alpha channel).")
        return (upscale_images(upscale_model, image),)


NODE_CLASS_MAPPINGS = {"UpscaleModelLoader": UpscaleModelLoader, "ImageUpscaleWithModel": ImageUpscaleWithModel}
NODE_DISPLAY_NAME_MAPPINGS = {"UpscaleModelLoader": "Load Upscale Model",
                              "ImageUpscaleWithModel": "Upscale Image (using Model)"}
