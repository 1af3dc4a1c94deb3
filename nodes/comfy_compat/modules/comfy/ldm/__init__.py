"""ComfyUI's `comfy.ldm` package for plugins: only `modules.attention` (the attention function attention-patching packs
compute with); its model definitions (flux, sdxl's openaimodel ...) are named as not offered."""
from nodes.comfy_compat.not_offered import package_attributes

SUBMODULES = ("modules",)

__getattr__ = package_attributes(__name__, SUBMODULES)
