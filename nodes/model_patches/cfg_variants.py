"""ComfyUI's comfy_extras.nodes_cfg: CFG-Zero* and CFGNorm, guidance corrections set as model patches."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_cfg"
PRE_CFG_TOOLTIP = ("If true, rescale the combined noise BEFORE the sampler's CFG combine, without clamping (can "
                   "amplify). Matches the norm-scaled CFG used by models like Lens. Default false keeps the original "
                   "post-CFG x0-space attenuate-only behavior.")


class CFGZeroStar:
    CATEGORY = "advanced/guidance"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("patched_model",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {})}}

    def patch(self, model: Any):
        """CFG-Zero*: the negative's prediction scaled by the projection of the positive's noise onto it."""
        model = model.clone()
        model.set_model_sampler_post_cfg_function(zero_star)
        return (model,)


def zero_star(args: dict[str, Any]) -> Any:
    """The post-cfg function: with alpha = <e_c, e_u> / |e_u|^2 per sample (e = x - x0), CFG over alpha * uncond
    instead of uncond."""
    x, cond, uncond, scale = args["input"], args["cond_denoised"], args["uncond_denoised"], args["cond_scale"]
    cond_eps = (x - cond).flatten(1)
    uncond_eps = (x - uncond).flatten(1)
    alpha = (cond_eps * uncond_eps).sum(1) / ((uncond_eps ** 2).sum(1) + 1e-8)
    alpha = alpha.reshape((-1,) + (1,) * (x.ndim - 1))
    return args["denoised"] + uncond * (alpha - 1.0) + scale * uncond * (1.0 - alpha)


class CFGNorm:
    CATEGORY = "advanced/guidance"
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("patched_model",)
    FUNCTION = "patch"
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01})},
                "optional": {"pre_cfg": ("BOOLEAN", {"default": False, "tooltip": PRE_CFG_TOOLTIP})}}

    def patch(self, model: Any, strength: float, pre_cfg: bool = False):
        """Keep the guided result's per-pixel channel norm from exceeding the positive's: after CFG in x0 space
        (scaled by strength), or with pre_cfg on the noise, unclamped, blended with plain CFG by strength."""
        model = model.clone()
        strength = float(strength)
        if pre_cfg:
            model.set_model_sampler_cfg_function(lambda args: norm_matched_noise(args, strength))
        else:
            model.set_model_sampler_post_cfg_function(lambda args: norm_capped_x0(args, strength))
        return (model,)


def norm_capped_x0(args: dict[str, Any], strength: float) -> Any:
    """The guided x0 scaled by min(1, |cond x0| / |guided x0|) over channels, times strength."""
    import torch

    guided = args["denoised"]
    ratio = args["cond_denoised"].norm(dim=1, keepdim=True) / (guided.norm(dim=1, keepdim=True) + 1e-8)
    return guided * torch.clamp(ratio, 0.0, 1.0) * strength


def norm_matched_noise(args: dict[str, Any], strength: float) -> Any:
    """CFG on the noise, rescaled to the positive noise's channel norm where the combination is non-zero."""
    import torch

    cond, uncond = args["cond"], args["uncond"]
    combined = uncond + args["cond_scale"] * (cond - uncond)
    combined_norm = combined.norm(dim=1, keepdim=True)
    ratio = torch.where(combined_norm > 0, cond.norm(dim=1, keepdim=True) / combined_norm.clamp_min(1e-12),
                        torch.ones_like(combined_norm))
    rescaled = combined * ratio
    return rescaled if strength == 1.0 else strength * rescaled + (1.0 - strength) * combined


NODE_CLASS_MAPPINGS = {"CFGZeroStar": CFGZeroStar, "CFGNorm": CFGNorm}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
