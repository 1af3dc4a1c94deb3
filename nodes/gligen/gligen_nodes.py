"""GLIGENLoader and GLIGENTextBoxApply: place phrases in boxes with a GLIGEN model (models/gligen).

The text box goes into each conditioning entry's "gligen" option as ComfyUI keeps it: ("position", model,
[(pooled phrase embedding, height, width, y, x), ...]) with the box in latent pixels (pixels // 8); a second box
node adds to the list. The sampler applies it through the transformer blocks' middle patch (runtime/gligen).
"""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.latent.resize import MAX_RESOLUTION
from nodes.runtime.gligen.layout import MAX_OBJECTS
from nodes.runtime.model_hints import model_folder_hint

PYTHON_MODULE = "nodes"
FOLDER = "gligen"


class GLIGENLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("GLIGEN",)
    FUNCTION = "load_gligen"
    DESCRIPTION = "Loads a GLIGEN model from models/gligen, for Apply GLIGEN Text Box."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"gligen_name": (list_models(current_folders(), FOLDER),)}}

    def load_gligen(self, gligen_name: str):
        from nodes.runtime.gligen import load_gligen

        return (load_gligen(find_model(current_folders(), FOLDER, gligen_name)),)

    @classmethod
    def IS_CHANGED(cls, gligen_name: str):
        return model_file_state(current_folders(), FOLDER, gligen_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), FOLDER)


def _position(step: int, default: int, minimum: int) -> tuple:
    return ("INT", {"default": default, "min": minimum, "max": MAX_RESOLUTION, "step": step})


class GLIGENTextBoxApply:
    CATEGORY = "model/conditioning/gligen"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    DESCRIPTION = ("Asks for `text` inside the box (width x height at x, y in pixels): the text's pooled CLIP "
                   "embedding and the box go to the GLIGEN model, which guides every step.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning_to": ("CONDITIONING",), "clip": ("CLIP",),
                             "gligen_textbox_model": ("GLIGEN",),
                             "text": ("STRING", {"multiline": True, "dynamicPrompts": True}),
                             "width": _position(8, 64, 8), "height": _position(8, 64, 8),
                             "x": _position(8, 0, 0), "y": _position(8, 0, 0)}}

    def append(self, conditioning_to, clip, gligen_textbox_model, text: str, width: int, height: int, x: int, y: int):
        from nodes.runtime.gligen import Gligen

        if not isinstance(gligen_textbox_model, Gligen):
            raise InvalidNodeInput(f"gligen_textbox_model must come from Load GLIGEN Model (GLIGENLoader), not "
                                   f"{type(gligen_textbox_model).__name__}")
        pooled = clip.encode(text)[0][1].get("pooled_output")
        if pooled is None or pooled.shape[-1] != gligen_textbox_model.phrase_width:
            width_found = "no" if pooled is None else f"a {pooled.shape[-1]}-wide"
            raise InvalidNodeInput(f"clip gives {width_found} pooled text embedding but {gligen_textbox_model.source} "
                                   f"reads {gligen_textbox_model.phrase_width}-wide phrases: use the CLIP of the SD1.x "
                                   f"checkpoint the GLIGEN model was made for")
        box = (pooled, height // 8, width // 8, y // 8, x // 8)
        result = []
        for tensor, options in conditioning_to:
            earlier = list(options["gligen"][2]) if "gligen" in options else []
            if len(earlier) >= MAX_OBJECTS:
                raise InvalidNodeInput(f"conditioning_to already holds {len(earlier)} GLIGEN boxes, the most a GLIGEN "
                                       f"model reads")
            result.append([tensor, {**options, "gligen": ("position", gligen_textbox_model, [*earlier, box])}])
        return (result,)


NODE_CLASS_MAPPINGS = {"GLIGENLoader": GLIGENLoader, "GLIGENTextBoxApply": GLIGENTextBoxApply}
NODE_DISPLAY_NAME_MAPPINGS = {"GLIGENLoader": "Load GLIGEN Model", "GLIGENTextBoxApply": "Apply GLIGEN Text Box"}
