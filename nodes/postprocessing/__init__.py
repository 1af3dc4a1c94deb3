"""Image post-processing nodes with ComfyUI's names: filters, colour conversion, morphology, edges, batching.

Importing this package does not import torch; the nodes load it when they run.
"""
from ..node_groups import gather
from . import batching, canny, color_transfer, morphology, post_processing, resize_image_mask

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    post_processing, resize_image_mask, batching, color_transfer, morphology, canny)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
