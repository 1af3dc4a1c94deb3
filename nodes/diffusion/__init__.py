"""The diffusion nodes: loaders, text encoding, conditioning, samplers and VAE (ComfyUI's names and inputs).

Importing this package does not import torch; the nodes load the runtime when they run.
"""
from ..node_groups import gather
from . import conditioning, loaders, lora, model_loaders, sampling, text, vae

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    loaders, model_loaders, lora, text, conditioning, sampling, vae)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
