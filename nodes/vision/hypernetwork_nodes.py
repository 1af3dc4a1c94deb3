"""HypernetworkLoader (comfy_extras.nodes_hypernetwork): an A1111 hypernetwork from models/hypernetworks applied to a
MODEL as attention patches."""
from __future__ import annotations

from graph_engine import InvalidNodeInput, current_folders
from model_library.folders import find_model, list_models, model_file_state
from nodes.runtime.model_hints import model_folder_hint

PYTHON_MODULE = "comfy_extras.nodes_hypernetwork"
FOLDER = "hypernetworks"


class HypernetworkLoader:
    CATEGORY = "model/loaders"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load_hypernetwork"
    DESCRIPTION = ("Applies an A1111 hypernetwork (.pt) from models/hypernetworks: in each attention layer whose "
                   "key width it covers, key and value get its nets' outputs added, times strength.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "hypernetwork_name": (list_models(current_folders(), FOLDER),),
                             "strength": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01})}}

    def load_hypernetwork(self, model, hypernetwork_name: str, strength: float):
        from nodes.runtime.hypernetworks import HypernetworkPatch, load_hypernetwork

        if not hasattr(model, "set_model_attn1_patch"):
            raise InvalidNodeInput(f"model must be a MODEL (from a checkpoint loader), not {type(model).__name__}.")
        hypernetwork = load_hypernetwork(find_model(current_folders(), FOLDER, hypernetwork_name))
        patched = model.clone()
        patch = HypernetworkPatch(hypernetwork, strength)
        patched.set_model_attn1_patch(patch)
        patched.set_model_attn2_patch(patch)
        return (patched,)

    @classmethod
    def IS_CHANGED(cls, hypernetwork_name: str, **_):
        return model_file_state(current_folders(), FOLDER, hypernetwork_name)

    @classmethod
    def CHOICES_HINT(cls, input_name: str) -> str:
        return model_folder_hint(current_folders(), FOLDER)


NODE_CLASS_MAPPINGS = {"HypernetworkLoader": HypernetworkLoader}
NODE_DISPLAY_NAME_MAPPINGS = {"HypernetworkLoader": "Load Hypernetwork"}
