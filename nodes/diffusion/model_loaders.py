"""The loaders of ComfyUI's core module beyond Load Checkpoint: a diffusion model alone (UNETLoader), text encoders
alone (CLIPLoader, DualCLIPLoader), and the deprecated checkpoint-with-config and diffusers-folder loaders.

The separate files load into the same MODEL and CLIP values as a checkpoint's, so a graph built of parts gives the
image the checkpoint gives. ComfyUI's loaders also take many other families (its `type` lists); those are refused
by name, since Latentloom runs Stable Diffusion 1.x, 2.x and SDXL.
"""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

# ComfyUI's weight_dtype choice -> the torch dtype the weights are stored in (None: as the memory manager picks)
WEIGHT_DTYPES = {"default": None, "fp8_e4m3fn": "float8_e4m3fn", "fp8_e4m3fn_fast": "float8_e4m3fn",
                 "fp8_e5m2": "float8_e5m2"}
CLIP_TYPES = ("stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
              "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image", "flux2", "ovis",
              "longcat_image", "cogvideox", "lens", "pixeldit", "ideogram4", "boogu", "krea2", "joyimage", "mage",
              "minimax")
DUAL_CLIP_TYPES = ("sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image", "hunyuan_video_15",
                   "kandinsky5", "kandinsky5_image", "ltxv", "newbie", "ace")
# a `type` choice -> the model family its text encoders are for, as people name it
FAMILIES = {"stable_cascade": "Stable Cascade", "sd3": "Stable Diffusion 3", "stable_audio": "Stable Audio",
            "mochi": "Mochi", "ltxv": "LTX-Video", "pixart": "PixArt", "cosmos": "Cosmos", "lumina2": "Lumina 2",
            "wan": "Wan", "hidream": "HiDream", "chroma": "Chroma", "ace": "ACE-Step", "omnigen2": "OmniGen2",
            "qwen_image": "Qwen-Image", "hunyuan_image": "HunyuanImage", "flux2": "FLUX.2", "ovis": "Ovis",
            "longcat_image": "LongCat-Image", "cogvideox": "CogVideoX", "lens": "Lens", "pixeldit": "PixelDiT",
            "ideogram4": "Ideogram 4", "boogu": "Boogu", "krea2": "Krea 2", "joyimage": "JoyImage", "mage": "Mage",
            "minimax": "MiniMax", "flux": "FLUX.1", "hunyuan_video": "HunyuanVideo",
            "hunyuan_video_15": "HunyuanVideo 1.5", "kandinsky5": "Kandinsky 5", "kandinsky5_image": "Kandinsky 5",
            "newbie": "NewBie"}
DEVICES = ("default", "cpu")
DEVICE_TOOLTIP = "Taken for ComfyUI's workflows; here the memory manager places the text encoders either way."


def _files(kind: str, tooltip: str) -> tuple:
    return (list_models(current_folders(), kind), {"tooltip": tooltip})


def _text_encoders(names: tuple[str, ...], clip_type: str, ours: str):
    """The CLIP value of these text encoder files; a type for a family Latentloom cannot run is refused before any
    file is read."""
    from nodes.runtime.loading import load_text_encoders

    if clip_type != ours:
        raise InvalidNodeInput(f"type '{clip_type}' loads text encoders for {FAMILIES.get(clip_type, clip_type)}, "
                               f"which Latentloom cannot run (it runs Stable Diffusion 1.x, 2.x and SDXL): use type "
                               f"'{ours}'.")
    folders = current_folders()
    return load_text_encoders([find_model(folders, "text_encoders", name) for name in names])


class UNETLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_unet"
    DESCRIPTION = ("Loads a Stable Diffusion 1.x, 2.x or SDXL diffusion model (UNet) saved on its own, from "
                   "models/diffusion_models or models/unet; pair it with Load CLIP and Load VAE.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "unet_name": _files("diffusion_models", "A file in models/diffusion_models or models/unet."),
            "weight_dtype": (list(WEIGHT_DTYPES), {"advanced": True, "tooltip": (
                "fp8 choices round every weight to that 8-bit type, as ComfyUI stores them (same results; here it "
                "saves no memory).")}),
        }}

    def load_unet(self, unet_name: str, weight_dtype: str):
        import torch

        from nodes.runtime.loading import load_diffusion_model

        storage = WEIGHT_DTYPES[weight_dtype]
        path = find_model(current_folders(), "diffusion_models", unet_name)
        return (load_diffusion_model(path, getattr(torch, storage) if storage else None),)

    @classmethod
    def IS_CHANGED(cls, unet_name: str, weight_dtype: str):
        return model_file_state(current_folders(), "diffusion_models", unet_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "diffusion_models")


class CLIPLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    DESCRIPTION = ("Loads a text encoder saved on its own from models/text_encoders or models/clip: CLIP-L for "
                   "Stable Diffusion 1.x, OpenCLIP ViT-H for 2.x (type stable_diffusion). For SDXL use Load CLIP "
                   "(Dual).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip_name": _files("text_encoders", "A file in models/text_encoders or models/clip."),
                             "type": (list(CLIP_TYPES),)},
                "optional": {"device": (list(DEVICES), {"advanced": True, "tooltip": DEVICE_TOOLTIP})}}

    def load_clip(self, clip_name: str, type: str = "stable_diffusion", device: str = "default"):
        return (_text_encoders((clip_name,), type, "stable_diffusion"),)

    @classmethod
    def IS_CHANGED(cls, clip_name: str, type: str = "stable_diffusion", device: str = "default"):
        return model_file_state(current_folders(), "text_encoders", clip_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "text_encoders")


class DualCLIPLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "load_clip"
    DESCRIPTION = ("Loads SDXL's two text encoders saved on their own (CLIP-L and OpenCLIP bigG, in either order) "
                   "from models/text_encoders or models/clip, with type sdxl.")

    @classmethod
    def INPUT_TYPES(cls):
        files = _files("text_encoders", "A file in models/text_encoders or models/clip.")
        return {"required": {"clip_name1": files, "clip_name2": files, "type": (list(DUAL_CLIP_TYPES),)},
                "optional": {"device": (list(DEVICES), {"advanced": True, "tooltip": DEVICE_TOOLTIP})}}

    def load_clip(self, clip_name1: str, clip_name2: str, type: str = "sdxl", device: str = "default"):
        return (_text_encoders((clip_name1, clip_name2), type, "sdxl"),)

    @classmethod
    def IS_CHANGED(cls, clip_name1: str, clip_name2: str, type: str = "sdxl", device: str = "default"):
        folders = current_folders()
        return [model_file_state(folders, "text_encoders", name) for name in (clip_name1, clip_name2)]

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "text_encoders")


class CheckpointLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    DEPRECATED = True
    DESCRIPTION = ("Loads a checkpoint as Load Checkpoint does; the architecture is detected from the weights, and "
                   "the config from models/configs only sets the prediction type (its parameterization).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"config_name": _files("configs", "A model config (.yaml) in models/configs."),
                             "ckpt_name": _files("checkpoints", "A file in models/checkpoints.")}}

    def load_checkpoint(self, config_name: str, ckpt_name: str):
        import dataclasses

        from nodes.runtime.checkpoints.prediction import read_model_config
        from nodes.runtime.loading import load_checkpoint_models

        folders = current_folders()
        chosen = read_model_config(find_model(folders, "configs", config_name))
        model, clip, vae = load_checkpoint_models(find_model(folders, "checkpoints", ckpt_name))
        if chosen is not None and chosen.prediction_type != model.prediction_type:
            model = dataclasses.replace(model.clone(), prediction_type=chosen.prediction_type)  # own options
        return model, clip, vae

    @classmethod
    def IS_CHANGED(cls, config_name: str, ckpt_name: str):
        folders = current_folders()
        return [model_file_state(folders, "configs", config_name), model_file_state(folders, "checkpoints", ckpt_name)]

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "configs" if input_name == "config_name" else "checkpoints")


class DiffusersLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load_checkpoint"
    DEPRECATED = True
    DESCRIPTION = ("Loads a Stable Diffusion 1.x, 2.x or SDXL model saved by diffusers (a folder with "
                   "model_index.json) from models/diffusers.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_path": _files("diffusers", "A diffusers model folder in models/diffusers.")}}

    def load_checkpoint(self, model_path: str):
        from nodes.runtime.loading import load_checkpoint_models

        return load_checkpoint_models(find_model(current_folders(), "diffusers", model_path))

    @classmethod
    def IS_CHANGED(cls, model_path: str):
        return model_file_state(current_folders(), "diffusers", model_path)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), "diffusers")


NODE_CLASS_MAPPINGS = {"UNETLoader": UNETLoader, "CLIPLoader": CLIPLoader, "DualCLIPLoader": DualCLIPLoader,
                       "CheckpointLoader": CheckpointLoader, "DiffusersLoader": DiffusersLoader}
NODE_DISPLAY_NAME_MAPPINGS = {"UNETLoader": "Load Diffusion Model", "CLIPLoader": "Load CLIP",
                              "DualCLIPLoader": "Load CLIP (Dual)",
                              "CheckpointLoader": "Load Checkpoint With Config (DEPRECATED)",
                              "DiffusersLoader": "Load Diffusers Model (DEPRECATED)"}
