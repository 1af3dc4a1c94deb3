"""Image nodes with ComfyUI's names: loading and saving, and the image nodes of its core and `nodes_images` modules.

torch, numpy and Pillow load only when a node runs. Their folders are the installation's that the engine makes
current (`graph_engine.current_folders()`): the loaders list, check and read the same input (or output) folder, the
savers check their prefix against and write into the same output folder.
"""
from ..node_groups import gather
from . import (animated, core_images, image_batches, image_crop_mask, image_fit, image_stitch, image_tiles,
               image_transform, load, save, save_advanced, svg)

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    save, load, core_images, image_transform, image_batches, image_fit, image_stitch, image_tiles, image_crop_mask,
    animated, svg, save_advanced)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
