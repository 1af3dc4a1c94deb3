"""ComfyUI's custom-sampling nodes: SIGMAS, SAMPLER, NOISE and GUIDER makers and the samplers that take them."""
from ..node_groups import gather
from . import advanced_samplers, align_your_steps, custom_sampler, gits, optimal_steps, samplers, schedulers, sigmas

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(schedulers, sigmas, samplers,
                                                                             custom_sampler, advanced_samplers,
                                                                             align_your_steps, optimal_steps, gits)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
