"""ComfyUI's comfy_extras.nodes_model_advanced: RescaleCFG (so far)."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_model_advanced"


class RescaleCFG:
    CATEGORY = "model/patch"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "multiplier": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def patch(self, model: Any, multiplier: float):
        """CFG whose result is brought back towards the positive's standard deviation (in v-prediction space, where
        high cfg over-saturates): `multiplier` blends the rescaled result (1) with plain CFG (0)."""
        model = model.clone()
        model.set_model_sampler_cfg_function(lambda args: rescaled_cfg_noise(args, float(multiplier)))
        return (model,)


def rescaled_cfg_noise(args: dict[str, Any], multiplier: float) -> Any:
    """The cfg function's noise for RescaleCFG, from ComfyUI's args: with c = 1 / sqrt(sigma^2 + 1), the noise
    predictions are turned into v = (c x - x0) / (sigma c), combined and rescaled there, and the blend turned back."""
    x, cond_eps, uncond_eps, scale = args["input"], args["cond"], args["uncond"], args["cond_scale"]
    sigma = args["sigma"].reshape((-1,) + (1,) * (x.ndim - 1)).to(x)
    root = (sigma ** 2 + 1.0) ** 0.5
    scaled_x = x / (sigma ** 2 + 1.0)
    v_cond = (scaled_x - (x - cond_eps)) * root / sigma
    v_uncond = (scaled_x - (x - uncond_eps)) * root / sigma
    v_cfg = v_uncond + scale * (v_cond - v_uncond)
    dims = tuple(range(1, x.ndim))
    v_rescaled = v_cfg * (v_cond.std(dim=dims, keepdim=True) / v_cfg.std(dim=dims, keepdim=True))
    v_final = multiplier * v_rescaled + (1.0 - multiplier) * v_cfg
    return x - (scaled_x - v_final * sigma / root)


NODE_CLASS_MAPPINGS = {"RescaleCFG": RescaleCFG}
NODE_DISPLAY_NAME_MAPPINGS = {"RescaleCFG": "RescaleCFG"}
