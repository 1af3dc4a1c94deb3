"""Latent and image-size nodes: EmptyLatentImage, LatentUpscale(By), SetLatentNoiseMask, ImageScale(By).

Importing this package does not import torch; the nodes load it when they run.
"""
from ..node_groups import gather
from . import image_scale, latent_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(latent_nodes, image_scale)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
