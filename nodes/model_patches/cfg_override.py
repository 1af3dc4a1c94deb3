"""ComfyUI's CFGOverride (comfy_extras.nodes_custom_sampler): a fixed cfg over a range of sampling, as a
predict_noise wrapper on the MODEL (runtime/models/wrappers.py)."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_custom_sampler"
DESCRIPTION = ("Override cfg to a fixed value over a [start, end] percent (sigma) range. With multiple overrides, the "
               "one nearest the sampler wins on overlap.")


class CFGOverride:
    CATEGORY = "model/sampling/guiders"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    DESCRIPTION = DESCRIPTION

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "cfg": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}),
                             "start_percent": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001}),
                             "end_percent": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001})}}

    def patch(self, model: Any, cfg: float, start_percent: float, end_percent: float):
        """While sigma lies in [sigma(end_percent), sigma(start_percent)] the guider's cfg is `cfg` for the step; a
        later override wraps inside an earlier one, so its value is the one the step sees."""
        sampling = model.get_model_object("model_sampling")
        sigma_high, sigma_low = sampling.percent_to_sigma(start_percent), sampling.percent_to_sigma(end_percent)
        value = float(cfg)

        def override(executor: Any, x: Any, sigma: Any, *args: Any, **kwargs: Any) -> Any:
            if not sigma_low <= float(sigma.flatten()[0]) <= sigma_high:
                return executor(x, sigma, *args, **kwargs)
            guider = executor.class_obj
            saved, guider.cfg = guider.cfg, value
            try:
                return executor(x, sigma, *args, **kwargs)
            finally:
                guider.cfg = saved

        patched = model.clone()
        patched.add_wrapper("predict_noise", override)
        return (patched,)


NODE_CLASS_MAPPINGS = {"CFGOverride": CFGOverride}
NODE_DISPLAY_NAME_MAPPINGS = {"CFGOverride": "CFG Override"}
