"""ComfyUI's `comfy` package for plugins: sd, sample, samplers, k_diffusion, model_patcher, model_management, utils and
cli_args, mapped onto Latentloom's runtime.

As in ComfyUI once it has started, `import comfy` alone gives its submodules as attributes (`comfy.utils.x`); here
each loads on first use, so a plugin that only names them costs nothing. The ones Latentloom does not offer yet
(`comfy.ldm`, `comfy.hooks` ...) are named as such.
"""
from nodes.comfy_compat.not_offered import package_attributes

SUBMODULES = ("cli_args", "k_diffusion", "model_management", "model_patcher", "sample", "samplers", "sd", "utils")

__getattr__ = package_attributes(__name__, SUBMODULES)
