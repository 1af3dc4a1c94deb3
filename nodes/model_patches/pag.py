"""ComfyUI's comfy_extras.nodes_pag: Perturbed-Attention Guidance, which steers away from the prediction the model
makes when the middle block's self-attention is made an identity (each token keeping its own value)."""
from __future__ import annotations

from typing import Any

from .unet_patch_node import UNetPatchNode

PYTHON_MODULE = "comfy_extras.nodes_pag"
PERTURBED_BLOCK = ("middle", 0)


def identity_attention(q: Any, k: Any, v: Any, extra_options: dict, mask: Any = None) -> Any:
    """Self-attention where every token attends only to itself: the values."""
    return v


def pag_post_cfg(scale: float):
    """The post-cfg function: guided x0 + scale (positive's x0 - positive's x0 with perturbed attention)."""
    from ..runtime.models.patching import set_model_options_patch_replace

    def post_cfg_function(args: dict[str, Any]) -> Any:
        guided = args["denoised"]
        if scale == 0:
            return guided
        options = set_model_options_patch_replace(args["model_options"], identity_attention, "attn1",
                                                  *PERTURBED_BLOCK)
        from ..runtime.guidance.cond_batch import calc_cond_batch  # torch, loaded once sampling runs

        perturbed = calc_cond_batch(args["model"], [args["cond"]], args["input"], args["sigma"], options)[0]
        return guided + (args["cond_denoised"] - perturbed) * scale

    return post_cfg_function


class PerturbedAttentionGuidance(UNetPatchNode):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "scale": ("FLOAT", {"default": 3.0, "min": 0.0, "max": 100.0, "step": 0.01,
                                                 "round": 0.01})}}

    def patch(self, model: Any, scale: float):
        """A clone that runs the model a second time per step for PAG (scale 0: plain)."""
        patched = model.clone()
        patched.set_model_sampler_post_cfg_function(pag_post_cfg(float(scale)))
        return (patched,)


NODE_CLASS_MAPPINGS = {"PerturbedAttentionGuidance": PerturbedAttentionGuidance}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
