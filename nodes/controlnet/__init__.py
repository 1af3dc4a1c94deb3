"""ControlNet and T2I-Adapter nodes: loaders, and the nodes that put controls on conditioning."""
from ..node_groups import gather
from . import controlnet_extras, controlnet_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(controlnet_nodes, controlnet_extras)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
