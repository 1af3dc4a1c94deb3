"""CLIPVisionLoader and CLIPVisionEncode: CLIP image encoders from models/clip_vision, encoding IMAGEs as ComfyUI."""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

FOLDER = "clip_vision"


class CLIPVisionLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("CLIP_VISION",)
    FUNCTION = "load_clip"
    DESCRIPTION = ("Loads a CLIP vision model (image encoder) from models/clip_vision, in transformers' layout "
                   "(vision_model.*) or OpenCLIP's (visual.*): for unCLIP, style models and IP-adapters.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip_name": (list_models(current_folders(), FOLDER),)}}

    def load_clip(self, clip_name: str):
        from nodes.runtime.clip_vision import load_clip_vision

        return (load_clip_vision(find_model(current_folders(), FOLDER, clip_name)),)

    @classmethod
    def IS_CHANGED(cls, clip_name: str):
        return model_file_state(current_folders(), FOLDER, clip_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), FOLDER)


class CLIPVisionEncode:
    CATEGORY = "model/conditioning"
    RETURN_TYPES = ("CLIP_VISION_OUTPUT",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes images with a CLIP vision model: resized (bicubic) to its input size, the centre cropped "
                   "(or the whole image squeezed, crop 'none'), normalised with CLIP's statistics.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip_vision": ("CLIP_VISION",), "image": ("IMAGE",), "crop": (["center", "none"],)}}

    def encode(self, clip_vision, image, crop: str):
        vision = require_clip_vision(clip_vision, "clip_vision")
        if image.ndim != 4 or image.shape[-1] < 3:
            raise InvalidNodeInput(f"image must be an RGB(A) IMAGE [batch, height, width, 3 or 4], got shape "
                                   f"{tuple(image.shape)}: convert a mask or grey image to RGB first.")
        return (vision.encode_image(image, crop=crop == "center"),)


def require_clip_vision(value, name: str):
    """`value` if it is a loaded CLIP vision model, else InvalidNodeInput naming the input."""
    from nodes.runtime.clip_vision import ClipVision

    if not isinstance(value, ClipVision):
        raise InvalidNodeInput(f"{name} must come from Load CLIP Vision (CLIPVisionLoader) or Load unCLIP Checkpoint, "
                               f"not {type(value).__name__}.")
    return value


NODE_CLASS_MAPPINGS = {"CLIPVisionLoader": CLIPVisionLoader, "CLIPVisionEncode": CLIPVisionEncode}
NODE_DISPLAY_NAME_MAPPINGS = {"CLIPVisionLoader": "Load CLIP Vision", "CLIPVisionEncode": "CLIP Vision Encode"}
