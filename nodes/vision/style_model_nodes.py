"""StyleModelLoader and StyleModelApply: T2I-Adapter style models from models/style_models, whose tokens (made from a
CLIP vision encoding) join the text conditioning."""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

FOLDER = "style_models"


class StyleModelLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("STYLE_MODEL",)
    FUNCTION = "load_style_model"
    DESCRIPTION = "Loads a T2I-Adapter style model from models/style_models."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"style_model_name": (list_models(current_folders(), FOLDER),)}}

    def load_style_model(self, style_model_name: str):
        from nodes.runtime.clip_vision import load_style_model

        return (load_style_model(find_model(current_folders(), FOLDER, style_model_name)),)

    @classmethod
    def IS_CHANGED(cls, style_model_name: str):
        return model_file_state(current_folders(), FOLDER, style_model_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), FOLDER)


class StyleModelApply:
    CATEGORY = "model/conditioning"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "apply_stylemodel"
    SEARCH_ALIASES = ["style transfer"]
    DESCRIPTION = ("Appends a style model's tokens for the encoded image(s) to every conditioning entry's text. "
                   "multiply scales the tokens by strength; attn_bias keeps them and records an attention bias of "
                   "log(strength) in the entry's attention_mask (which Stable Diffusion UNets do not read, as in "
                   "ComfyUI).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "style_model": ("STYLE_MODEL",),
                             "clip_vision_output": ("CLIP_VISION_OUTPUT",),
                             "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.001}),
                             "strength_type": (["multiply", "attn_bias"],)}}

    def apply_stylemodel(self, conditioning, style_model, clip_vision_output, strength: float, strength_type: str):
        import torch

        from nodes.runtime.clip_vision import StyleModel

        if not isinstance(style_model, StyleModel):
            raise InvalidNodeInput(f"style_model must come from Load Style Model (StyleModelLoader), not "
                                   f"{type(style_model).__name__}.")
        if not hasattr(clip_vision_output, "last_hidden_state"):
            raise InvalidNodeInput("clip_vision_output must come from CLIP Vision Encode (CLIPVisionEncode).")
        tokens = style_model.get_cond(clip_vision_output).flatten(0, 1).unsqueeze(0)
        if strength_type == "multiply":
            tokens = tokens * strength
        out = []
        for text, options in conditioning:
            options = options.copy()
            if "attention_mask" in options or (strength_type == "attn_bias" and strength != 1.0):
                bias = strength if strength_type == "attn_bias" else 1.0
                options["attention_mask"] = _mask_with_style_tokens(options, text, tokens.shape[1], bias)
                options["attention_mask_img_shape"] = options.get("attention_mask_img_shape", (1, 1))
            out.append([torch.cat([text, tokens.to(text.device, text.dtype).expand(text.shape[0], -1, -1)], dim=1),
                        options])
        return (out,)


def _mask_with_style_tokens(options: dict, text, added: int, strength: float):
    """The entry's attention bias (text tokens, then reference-image tokens) grown by `added` style tokens placed
    after the text: every query attends to them with a bias of log(strength) (-inf at 0); the rest is kept."""
    import torch

    reference = options.get("attention_mask_img_shape", (1, 1))
    n_ref = reference[0] * reference[1]
    n_text = text.shape[1]
    old = options.get("attention_mask")
    if old is None:
        old = torch.zeros((text.shape[0], n_text + n_ref, n_text + n_ref), dtype=torch.float16)
    elif old.dtype == torch.bool:
        old = torch.log(old.to(torch.float16))
    size = n_text + added + n_ref
    mask = torch.zeros((text.shape[0], size, size), dtype=torch.float16)
    after = n_text + added
    mask[:, :n_text, :n_text] = old[:, :n_text, :n_text]
    mask[:, :n_text, after:] = old[:, :n_text, n_text:]
    mask[:, after:, :n_text] = old[:, n_text:, :n_text]
    mask[:, after:, after:] = old[:, n_text:, n_text:]
    bias = torch.log(torch.tensor(strength, dtype=torch.float32)).to(torch.float16)
    mask[:, :n_text, n_text:after] = bias
    mask[:, after:, n_text:after] = bias
    return mask.to(text.device)


NODE_CLASS_MAPPINGS = {"StyleModelLoader": StyleModelLoader, "StyleModelApply": StyleModelApply}
NODE_DISPLAY_NAME_MAPPINGS = {"StyleModelLoader": "Load Style Model", "StyleModelApply": "Apply Style Model"}
