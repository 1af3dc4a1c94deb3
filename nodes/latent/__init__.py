"""Latent and image-size nodes: EmptyLatentImage, LatentUpscale(By), SetLatentNoiseMask, ImageScale(By).

Importing this package does not import torch; the nodes load it when they run.
"""
from . import image_scale, latent_nodes

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
for _module in (latent_nodes, image_scale):
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
