"""ComfyUI's LatentApplyOperationCFG (comfy_extras.nodes_latent): a LATENT_OPERATION applied to the guidance as a
pre-cfg patch."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_latent"


class LatentApplyOperationCFG:
    CATEGORY = "model/latent/advanced/operations"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}), "operation": ("LATENT_OPERATION", {})}}

    def patch(self, model: Any, operation: Any):
        """The operation acts on cond - uncond (added back to uncond), or on the positive alone when the sampler
        computes no negative."""
        def on_guidance(args: dict[str, Any]) -> list:
            outputs = list(args["conds_out"])
            if len(outputs) == 2:
                outputs[0] = operation(latent=outputs[0] - outputs[1]) + outputs[1]
            else:
                outputs[0] = operation(latent=outputs[0])
            return outputs

        patched = model.clone()
        patched.set_model_sampler_pre_cfg_function(on_guidance)
        return (patched,)


NODE_CLASS_MAPPINGS = {"LatentApplyOperationCFG": LatentApplyOperationCFG}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
