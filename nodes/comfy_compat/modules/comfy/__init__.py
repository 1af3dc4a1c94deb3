"""ComfyUI's `comfy` package for plugins: sd, sample, samplers, k_diffusion, model_patcher, model_management, utils,
cli_args, clip_vision and ldm.modules.attention, mapped onto Latentloom's runtime.

As in ComfyUI once it has started, `import comfy` alone gives its submodules as attributes (`comfy.utils.x`); here
each loads on first use, so a plugin that only names them costs nothing. The ones Latentloom does not offer yet
(`comfy.hooks`, `comfy.ldm.flux` ...) are named as such.
"""
from nodes.comfy_compat.not_offered import package_attributes

SUBMODULES = ("cli_args", "clip_vision", "k_diffusion", "ldm", "model_management", "model_patcher", "sample",
              "samplers", "sd", "utils")

__getattr__ = package_attributes(__name__, SUBMODULES)
