"""ComfyUI's `comfy.samplers` names for plugins: the sampler and scheduler names Latentloom's KSampler offers."""
from __future__ import annotations

from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.sampler_names import SAMPLER_NAMES as _SAMPLER_NAMES
from nodes.runtime.sampler_names import SCHEDULER_NAMES as _SCHEDULER_NAMES

# lists, as ComfyUI has them: plugins extend them with `+`
SAMPLER_NAMES: list[str] = list(_SAMPLER_NAMES)
SCHEDULER_NAMES: list[str] = list(_SCHEDULER_NAMES)
KSAMPLER_NAMES: list[str] = [name for name in SAMPLER_NAMES if name not in ("ddim", "uni_pc", "uni_pc_bh2")]


class KSampler:
    """Only the name lists plugins offer in their combos; sampling itself is Latentloom's KSampler node."""

    SAMPLERS = SAMPLER_NAMES
    SCHEDULERS = SCHEDULER_NAMES


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
