"""Upscale-model nodes with ComfyUI's names (comfy_extras.nodes_upscale_model); importing this loads no torch."""
from ..node_groups import gather
from . import upscale_model_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(upscale_model_nodes)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
