"""ComfyUI's custom-sampling nodes: SIGMAS, SAMPLER, NOISE and GUIDER makers and the samplers that take them."""
from ..node_groups import gather
from . import custom_sampler, samplers, schedulers, sigmas

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(schedulers, sigmas, samplers,
                                                                             custom_sampler)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
