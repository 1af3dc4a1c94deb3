"""ComfyUI's comfy_extras.nodes_perpneg: Perp-Neg as a model patch (deprecated there) and as a guider."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_perpneg"


def _neg_scale() -> tuple:
    return ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01, "advanced": True})


class PerpNeg:
    CATEGORY = "experimental"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    EXPERIMENTAL = True
    DEPRECATED = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}), "empty_conditioning": ("CONDITIONING", {}),
                             "neg_scale": _neg_scale()}}

    def patch(self, model: Any, empty_conditioning: Any, neg_scale: float):
        """A cfg function computing the empty conditioning's prediction besides the positive's and negative's."""
        from nodes.runtime.guidance import read_conditioning
        from nodes.runtime.guidance.cond_batch import calc_cond_batch
        from nodes.runtime.perp_neg import perp_neg

        empty = read_conditioning(empty_conditioning, "empty_conditioning")
        scale = float(neg_scale)

        def cfg_function(args: dict[str, Any]) -> Any:
            x = args["input"]
            empty_x0, = calc_cond_batch(args["model"], [empty], x, args["sigma"], args["model_options"])
            return x - perp_neg(args["cond_denoised"], args["uncond_denoised"], empty_x0, scale, args["cond_scale"])

        patched = model.clone()
        patched.set_model_sampler_cfg_function(cfg_function)
        return (patched,)


class PerpNegGuider:
    CATEGORY = "experimental"
    RETURN_TYPES = ("GUIDER",)
    FUNCTION = "get_guider"
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}), "positive": ("CONDITIONING", {}),
                             "negative": ("CONDITIONING", {}), "empty_conditioning": ("CONDITIONING", {}),
                             "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}),
                             "neg_scale": _neg_scale()}}

    def get_guider(self, model: Any, positive: Any, negative: Any, empty_conditioning: Any, cfg: float,
                   neg_scale: float):
        from nodes.runtime.perp_neg import PerpNegGuider as Guider

        return (Guider(model, positive, negative, empty_conditioning, cfg, neg_scale),)


NODE_CLASS_MAPPINGS = {"PerpNeg": PerpNeg, "PerpNegGuider": PerpNegGuider}
NODE_DISPLAY_NAME_MAPPINGS = {"PerpNeg": "Perp-Neg (DEPRECATED by Perp-Neg Guider)", "PerpNegGuider": "Perp-Neg Guider"}
