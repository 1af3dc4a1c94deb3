"""ComfyUI's `comfy.model_patcher` for plugins: `ModelPatcher` is the class of the values on Latentloom's MODEL wires
(isinstance works; clone, model_options, load_device, offload_device, model_size ...), and the copy of a
model_options dict a clone gets."""
from __future__ import annotations

from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.models.diffusion_model import DiffusionModel as ModelPatcher
from nodes.runtime.models.patching import copy_model_options as create_model_options_clone


__all__ = ["ModelPatcher", "create_model_options_clone"]

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
