"""OptimalStepsScheduler (ComfyUI's comfy_extras.nodes_optimalsteps): the searched schedules of "Optimal Stepsize for
Diffusion Sampling" (Pei et al. 2025) for flow models, stretched to any step count."""
from __future__ import annotations

from .schedulers import denoise_input

PYTHON_MODULE = "comfy_extras.nodes_optimalsteps"

# The published noise levels per model (flow-matching sigmas in 0..1).
OPTIMAL_NOISE_LEVELS = {
    "FLUX": (0.9968, 0.9886, 0.9819, 0.975, 0.966, 0.9471, 0.9158, 0.8287, 0.5512, 0.2808, 0.001),
    "Wan": (1.0, 0.997, 0.995, 0.993, 0.991, 0.989, 0.987, 0.985, 0.98, 0.975, 0.973, 0.968, 0.96, 0.946, 0.927, 0.902,
            0.864, 0.776, 0.539, 0.208, 0.001),
    "Chroma": (0.992, 0.99, 0.988, 0.985, 0.982, 0.978, 0.973, 0.968, 0.961, 0.953, 0.943, 0.931, 0.917, 0.9, 0.881,
               0.858, 0.832, 0.802, 0.769, 0.731, 0.69, 0.646, 0.599, 0.55, 0.501, 0.451, 0.402, 0.355, 0.311, 0.27,
               0.232, 0.199, 0.169, 0.143, 0.12, 0.101, 0.084, 0.07, 0.058, 0.048, 0.001),
}


class OptimalStepsScheduler:
    CATEGORY = "model/sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"
    DESCRIPTION = "The Optimal Steps schedule for the model; denoise < 1 keeps its last steps."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_type": (list(OPTIMAL_NOISE_LEVELS),),
                             "steps": ("INT", {"default": 20, "min": 3, "max": 1000}), "denoise": denoise_input()}}

    def get_sigmas(self, model_type: str, steps: int, denoise: float):
        from nodes.runtime.sampling import loglinear_sigmas

        return (loglinear_sigmas(OPTIMAL_NOISE_LEVELS[model_type], steps, denoise),)


NODE_CLASS_MAPPINGS = {"OptimalStepsScheduler": OptimalStepsScheduler}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
