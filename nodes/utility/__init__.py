"""Utility nodes that need no models: primitives, math, text and a value preview."""
from ..node_groups import gather
from . import arithmetic, preview, primitives, strings

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(primitives, arithmetic, strings, preview)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
