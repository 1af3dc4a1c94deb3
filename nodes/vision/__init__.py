"""CLIP vision and the nodes that use it (style models, unCLIP), hypernetworks and the SD x4 upscaler's conditioning;
importing this loads no torch."""
from ..node_groups import gather
from . import clip_vision_nodes, hypernetwork_nodes, sd_upscale_nodes, style_model_nodes, unclip_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    clip_vision_nodes, style_model_nodes, unclip_nodes, hypernetwork_nodes, sd_upscale_nodes)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
