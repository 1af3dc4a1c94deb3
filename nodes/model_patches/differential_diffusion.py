"""ComfyUI's comfy_extras.nodes_differential_diffusion: a soft inpaint mask read as how much each pixel may change
(Levin & Fried 2023), through the model's denoise_mask_function."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_differential_diffusion"


class DifferentialDiffusion:
    CATEGORY = "experimental"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "apply"
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {})},
                "optional": {"strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def apply(self, model: Any, strength: float = 1.0):
        patched = model.clone()
        patched.set_model_denoise_mask_function(
            lambda sigma, mask, extra_options: step_mask(sigma, mask, extra_options, float(strength)))
        return (patched,)


def step_mask(sigma: Any, mask: Any, extra_options: dict[str, Any], strength: float) -> Any:
    """The mask for this step: 1 where the mask reaches how far sampling has come (0 at the first sigma, 1 at the
    last, in timesteps), so a pixel of value m changes only during the first m of the run; a strength below 1 blends
    that with the soft mask (0 counts as 1, as in ComfyUI)."""
    sampling = extra_options["model"].inner_model.model_sampling
    sigmas = extra_options["sigmas"]
    sigma_to = sigmas[-1] if sigmas[-1] > sampling.sigma_min else sampling.sigma_min
    start, end = sampling.timestep(sigmas[0]), sampling.timestep(sigma_to)
    progress = (sampling.timestep(sigma[0]) - end) / (start - end)
    binary = (mask >= progress).to(mask.dtype)
    if strength and strength < 1:
        return strength * binary + (1 - strength) * mask
    return binary


NODE_CLASS_MAPPINGS = {"DifferentialDiffusion": DifferentialDiffusion}
NODE_DISPLAY_NAME_MAPPINGS = {"DifferentialDiffusion": "Differential Diffusion"}
