"""ComfyUI's `comfy.k_diffusion` package for plugins: `sampling` (the sampler functions and the helpers custom
sampler functions are written with), over Latentloom's sampler runtime."""
from nodes.comfy_compat.not_offered import package_attributes

SUBMODULES = ("sampling",)

__getattr__ = package_attributes(__name__, SUBMODULES)
