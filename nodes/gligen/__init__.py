"""GLIGEN nodes with ComfyUI's names (its core `nodes` module); importing this loads no torch."""
from ..node_groups import gather
from . import gligen_nodes

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(gligen_nodes)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
