"""The diffusion nodes: loaders, text encoding, conditioning, samplers and VAE (ComfyUI's names and inputs).

Importing this package does not import torch; the nodes load the runtime when they run.
"""
from . import conditioning, loaders, lora, sampling, text, vae

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
for _module in (loaders, lora, text, conditioning, sampling, vae):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
