"""ComfyUI's comfy_extras.nodes_eps: Epsilon Scaling and Temporal Score Rescaling, post-cfg corrections of the
guided noise prediction."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_eps"
TSR_K_TOOLTIP = ("Controls the rescaling strength.\nLower k produces more detailed results; higher k produces smoother "
                 "results in image generation. Setting k = 1 disables rescaling.")
TSR_SIGMA_TOOLTIP = "Controls how early rescaling takes effect.\nLarger values take effect earlier."
TSR_DESCRIPTION = ("[Post-CFG Function]\nTSR - Temporal Score Rescaling (2510.01184)\n\n"
                   "Rescaling the model's score or noise to steer the sampling diversity.\n")


class EpsilonScaling:
    CATEGORY = "model/patch/unet"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "scaling_factor": ("FLOAT", {"default": 1.005, "min": 0.5, "max": 1.5, "step": 0.001,
                                                          "display": "number", "advanced": True})}}

    def patch(self, model: Any, scaling_factor: float):
        """Exposure-bias correction (Ning et al. 2023, uniform schedule): the guided noise divided by the factor."""
        factor = float(scaling_factor) or 1e-9
        patched = model.clone()
        patched.set_model_sampler_post_cfg_function(
            lambda args: args["input"] - (args["input"] - args["denoised"]) / factor)
        return (patched,)


class TemporalScoreRescaling:
    CATEGORY = "model/patch/unet"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("patched_model",)
    FUNCTION = "patch"
    DESCRIPTION = TSR_DESCRIPTION

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "tsr_k": ("FLOAT", {"default": 0.95, "min": 0.01, "max": 100.0, "step": 0.001,
                                                 "display": "number", "advanced": True, "tooltip": TSR_K_TOOLTIP}),
                             "tsr_sigma": ("FLOAT", {"default": 1.0, "min": 0.01, "max": 100.0, "step": 0.001,
                                                     "display": "number", "advanced": True,
                                                     "tooltip": TSR_SIGMA_TOOLTIP})}}

    def patch(self, model: Any, tsr_k: float, tsr_sigma: float):
        """The score scaled by r = (snr v + 1) / (snr v / k + 1), v = tsr_sigma^2 (arXiv 2510.01184, eq. 6)."""
        k, variance = float(tsr_k), float(tsr_sigma) ** 2
        patched = model.clone()
        patched.set_model_sampler_post_cfg_function(lambda args: rescaled_score(args, k, variance))
        return (patched,)


def rescaled_score(args: dict[str, Any], k: float, variance: float) -> Any:
    """The post-cfg function: x0 moved along the line from x / alpha by r, per sample (r = 1 where sigma is 0)."""
    import torch

    from nodes.runtime.sampling.parameterization import is_flow

    denoised, x, sigma = args["denoised"], args["input"], args["sigma"]
    if k == 1.0:
        return denoised
    sampling = args["model"].get_model_object("model_sampling")
    half_log_snr = -torch.logit(sigma) if is_flow(sampling) else -torch.log(sigma)
    snr = torch.exp(2 * half_log_snr)
    ratio = torch.where(torch.isposinf(snr), torch.full_like(snr, k), (snr * variance + 1) / (snr * variance / k + 1))
    ratio = torch.where(sigma == 0, torch.ones_like(ratio), ratio)
    alpha = torch.where(sigma == 0, torch.ones_like(sigma), sigma * half_log_snr.exp())
    shape = (-1,) + (1,) * (x.ndim - 1)
    start = x / alpha.reshape(shape)
    return torch.lerp(start, denoised, ratio.reshape(shape).to(denoised.dtype))


NODE_CLASS_MAPPINGS = {"Epsilon Scaling": EpsilonScaling, "TemporalScoreRescaling": TemporalScoreRescaling}
NODE_DISPLAY_NAME_MAPPINGS = {"TemporalScoreRescaling": "TSR - Temporal Score Rescaling"}
