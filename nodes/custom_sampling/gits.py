"""GITSScheduler (ComfyUI's comfy_extras.nodes_gits): the schedules GITS optimised for SD1.x, picked by coefficient
and step count (2 to 20), stretched log-linearly beyond 20 steps."""
from __future__ import annotations

from graph_engine import InvalidNodeInput

from .gits_noise_levels import GITS_NOISE_LEVELS
from .schedulers import denoise_input

PYTHON_MODULE = "comfy_extras.nodes_gits"


def gits_levels(coeff: float, steps: int) -> tuple[float, ...]:
    """The published levels for `steps` steps at `coeff` (read to two decimals), or the 20-step ones past 20."""
    rows = GITS_NOISE_LEVELS.get(round(coeff, 2))
    if rows is None:
        raise InvalidNodeInput(f"coeff {coeff} has no GITS schedule; use one of 0.80, 0.85, ... 1.50")
    if steps < 2:
        raise InvalidNodeInput(f"steps must be at least 2 for GITS, got {steps}")
    return rows[min(steps, 20) - 2]


class GITSScheduler:
    CATEGORY = "model/sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"
    DESCRIPTION = ("GITS' schedule for SD1.x models (Chen et al. 2024): coeff picks how the steps were optimised; "
                   "denoise < 1 keeps its last steps.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "coeff": ("FLOAT", {"default": 1.20, "min": 0.80, "max": 1.50, "step": 0.05, "advanced": True}),
            "steps": ("INT", {"default": 10, "min": 2, "max": 1000}), "denoise": denoise_input()}}

    def get_sigmas(self, coeff: float, steps: int, denoise: float):
        from nodes.runtime.sampling import loglinear_sigmas

        return (loglinear_sigmas(gits_levels(coeff, steps), steps, denoise),)


NODE_CLASS_MAPPINGS = {"GITSScheduler": GITSScheduler}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
