"""Latent and image-size nodes: making, resizing, batching, transforming, combining, saving and loading latents.

Importing this package does not import torch; the nodes load it when they run.
"""
from ..node_groups import gather
from . import (image_scale, latent_core, latent_files, latent_math, latent_nodes, latent_operations, latent_slicing,
               rebatch)

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    latent_nodes, image_scale, latent_core, latent_files, latent_math, latent_slicing, latent_operations, rebatch)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
