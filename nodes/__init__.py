"""Built-in nodes and the diffusion runtime they use; heavy libraries load only when a node runs.

ComfyUI plugins `import nodes` too: they find MAX_RESOLUTION here and each built-in node class by its name
(`nodes.KSampler`, `nodes.SaveImage`, ...).
"""
from typing import Any

from .diffusion import NODE_CLASS_MAPPINGS as _DIFFUSION, NODE_DISPLAY_NAME_MAPPINGS as _DIFFUSION_NAMES
from .images import NODE_CLASS_MAPPINGS as _IMAGES, NODE_DISPLAY_NAME_MAPPINGS as _IMAGE_NAMES
from .latent import NODE_CLASS_MAPPINGS as _LATENT, NODE_DISPLAY_NAME_MAPPINGS as _LATENT_NAMES
from .latent.resize import MAX_RESOLUTION
from .utility import NODE_CLASS_MAPPINGS as _UTILITY, NODE_DISPLAY_NAME_MAPPINGS as _UTILITY_NAMES

NODE_CLASS_MAPPINGS = {**_UTILITY, **_DIFFUSION, **_LATENT, **_IMAGES}
NODE_DISPLAY_NAME_MAPPINGS = {**_UTILITY_NAMES, **_DIFFUSION_NAMES, **_LATENT_NAMES, **_IMAGE_NAMES}


def __getattr__(name: str) -> Any:
    """A built-in node class by its node name, as ComfyUI's `nodes` module has them."""
    try:
        return NODE_CLASS_MAPPINGS[name]
    except KeyError:
        raise AttributeError(f"module 'nodes' has no attribute {name!r}") from None


__all__ = ["MAX_RESOLUTION", "NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
