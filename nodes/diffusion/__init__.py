"""The diffusion nodes: loaders, text encoding, conditioning, samplers and VAE (ComfyUI's names and inputs).

Importing this package does not import torch; the nodes load the runtime when they run.
"""
from ..node_groups import gather
from . import (conditioning, inpaint_conditioning, ip2p, loaders, lora, model_loaders, sampling, sdxl_text, text,
               vae)

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    loaders, model_loaders, lora, text, sdxl_text, conditioning, inpaint_conditioning, ip2p, sampling, vae)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
