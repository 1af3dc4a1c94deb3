"""ComfyUI's `comfy.ldm.modules` package for plugins: only `attention` is offered."""
from nodes.comfy_compat.not_offered import package_attributes

SUBMODULES = ("attention",)

__getattr__ = package_attributes(__name__, SUBMODULES)
