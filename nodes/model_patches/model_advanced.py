"""ComfyUI's comfy_extras.nodes_model_advanced: RescaleCFG and the ModelSampling* nodes, which switch a MODEL's
noise schedule and parameterization through the "model_sampling" object patch (runtime/models/model_sampling.py)."""
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


DISCRETE_SAMPLING = ["eps", "v_prediction", "lcm", "x0", "img_to_img", "img_to_img_flow"]
EDM_SAMPLING = ["v_prediction", "edm", "edm_playground_v2.5", "eps", "cosmos_rflow"]


class ModelSamplingDiscrete:
    CATEGORY = "model/patch"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "sampling": (DISCRETE_SAMPLING,),
                             "zsnr": ("BOOLEAN", {"default": False, "advanced": True})}}

    def patch(self, model: Any, sampling: str, zsnr: bool):
        """The model read with another parameterization on its own discrete schedule (zero terminal SNR with zsnr)."""
        from nodes.runtime.models.model_sampling import discrete_model_sampling

        patched = model.clone()
        patched.add_object_patch("model_sampling", discrete_model_sampling(sampling, bool(zsnr), model.unet.config))
        return (patched,)


def _sigma_input(default: float) -> tuple:
    return ("FLOAT", {"default": default, "min": 0.0, "max": 1000.0, "step": 0.001, "round": False, "advanced": True})


class ModelSamplingContinuousEDM:
    CATEGORY = "model/patch"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    TIMESTEPS = "edm"  # the UNet's timestep: log(sigma) / 4

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "sampling": (EDM_SAMPLING,),
                             "sigma_max": _sigma_input(120.0),
                             "sigma_min": _sigma_input(0.002)}}

    def patch(self, model: Any, sampling: str, sigma_max: float, sigma_min: float):
        """A continuous schedule, log-uniform between sigma_min and sigma_max, with the chosen parameterization;
        Playground v2.5 also brings its latent format."""
        from nodes.runtime.models.model_sampling import continuous_model_sampling

        model_sampling, latent_format = continuous_model_sampling(sampling, float(sigma_min), float(sigma_max),
                                                                  self.TIMESTEPS)
        patched = model.clone()
        patched.add_object_patch("model_sampling", model_sampling)
        if latent_format is not None:
            patched.add_object_patch("latent_format", latent_format)
        return (patched,)


class ModelSamplingContinuousV(ModelSamplingContinuousEDM):
    TIMESTEPS = "v"  # atan(sigma) * 2 / pi

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",),
                             "sampling": (["v_prediction"],),
                             "sigma_max": _sigma_input(500.0),
                             "sigma_min": _sigma_input(0.03)}}


NODE_CLASS_MAPPINGS = {"RescaleCFG": RescaleCFG, "ModelSamplingDiscrete": ModelSamplingDiscrete,
                       "ModelSamplingContinuousEDM": ModelSamplingContinuousEDM,
                       "ModelSamplingContinuousV": ModelSamplingContinuousV}
NODE_DISPLAY_NAME_MAPPINGS = {name: name for name in NODE_CLASS_MAPPINGS}
