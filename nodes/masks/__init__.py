"""Mask and compositing nodes (ComfyUI's comfy_extras.nodes_mask and nodes_compositing)."""
from ..node_groups import gather
from . import compositing, mask_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(mask_nodes, compositing)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
