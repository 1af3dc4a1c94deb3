"""The SAMPLER makers of ComfyUI's comfy_extras.nodes_custom_sampler: a KSampler sampler by name, or one with options."""
from __future__ import annotations

from nodes.runtime.sampler_names import SAMPLER_NAMES

PYTHON_MODULE = "comfy_extras.nodes_custom_sampler"
CATEGORY = "model/sampling/samplers"


class KSamplerSelect:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get_sampler"
    DESCRIPTION = "A KSampler sampler by name, with its default options."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"sampler_name": (list(SAMPLER_NAMES),)}}

    def get_sampler(self, sampler_name: str):
        from nodes.runtime.sampling import sampler_object

        return (sampler_object(sampler_name),)


NODE_CLASS_MAPPINGS = {"KSamplerSelect": KSamplerSelect}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
