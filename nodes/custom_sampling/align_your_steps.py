"""AlignYourStepsScheduler (ComfyUI's comfy_extras.nodes_align_your_steps): NVIDIA's optimised 10-step schedules
(Sabour et al. 2024, "Align Your Steps"), stretched to any step count."""
from __future__ import annotations

from .schedulers import denoise_input

PYTHON_MODULE = "comfy_extras.nodes_align_your_steps"

# The 10-step noise levels published with the paper, per model family.
AYS_NOISE_LEVELS = {
    "SD1": (14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092, 0.9642583904,
            0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582),
    "SDXL": (14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141, 0.5550693289,
             0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582),
    "SVD": (700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002),
}


class AlignYourStepsScheduler:
    CATEGORY = "model/sampling/schedulers"
    RETURN_TYPES = ("SIGMAS",)
    FUNCTION = "get_sigmas"
    DESCRIPTION = "Align Your Steps' schedule for the model family; denoise < 1 keeps its last steps."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model_type": (list(AYS_NOISE_LEVELS),),
                             "steps": ("INT", {"default": 10, "min": 1, "max": 10000}), "denoise": denoise_input()}}

    def get_sigmas(self, model_type: str, steps: int, denoise: float):
        from nodes.runtime.sampling import loglinear_sigmas

        return (loglinear_sigmas(AYS_NOISE_LEVELS[model_type], steps, denoise),)


NODE_CLASS_MAPPINGS = {"AlignYourStepsScheduler": AlignYourStepsScheduler}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
