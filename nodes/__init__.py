"""Built-in nodes and the diffusion runtime they use; heavy libraries load only when a node runs.

ComfyUI plugins `import nodes` too: they find MAX_RESOLUTION here and each built-in node class by its name
(`nodes.KSampler`, `nodes.SaveImage`, ...).
"""
from typing import Any

from graph_engine import NodeRegistry, RegistrationReport

from . import (controlnet, custom_sampling, diffusion, gligen, images, latent, masks, model_merging, model_patches,
               postprocessing, upscaling, utility, vision)
from .latent.resize import MAX_RESOLUTION
from .node_groups import gather

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    utility, diffusion, latent, images, masks, postprocessing, custom_sampling, model_patches, upscaling, gligen,
    model_merging, vision, controlnet)


def register_builtins(registry: NodeRegistry) -> RegistrationReport:
    """Register every built-in node, each under ComfyUI's module name for it (call with the installation's folders
    current: the loaders list its files)."""
    return registry.register_mappings(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, source="built-in",
                                      python_modules=NODE_PYTHON_MODULES)


def __getattr__(name: str) -> Any:
    """A built-in node class by its node name, as ComfyUI's `nodes` module has them."""
    try:
        return NODE_CLASS_MAPPINGS[name]
    except KeyError:
        raise AttributeError(f"module 'nodes' has no attribute {name!r}") from None


__all__ = ["MAX_RESOLUTION", "NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES", "register_builtins"]
