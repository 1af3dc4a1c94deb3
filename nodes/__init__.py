"""Built-in nodes (and, later, the diffusion runtime they use); heavy libraries load only when a node runs."""
from .utility import NODE_CLASS_MAPPINGS as _UTILITY, NODE_DISPLAY_NAME_MAPPINGS as _UTILITY_NAMES

NODE_CLASS_MAPPINGS = {**_UTILITY}
NODE_DISPLAY_NAME_MAPPINGS = {**_UTILITY_NAMES}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
