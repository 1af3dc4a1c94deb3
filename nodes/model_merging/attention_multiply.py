"""ComfyUI's attention-multiply nodes: the query, key, value and output projections of the UNet's self- or
cross-attention, or of CLIP's self-attention, scaled (weight and bias) by a factor each, as weight patches."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_attention_multiply"
CATEGORY = "experimental/attention_experiments"
FACTOR = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01, "advanced": True})


def scaled_projections(value: Any, projections: dict[str, float]) -> Any:
    """A clone whose parameters ending in `<projection>.weight` / `.bias` are multiplied by that projection's
    factor (ComfyUI's pure strength_model patch)."""
    result = value.clone()
    for key in value.model_state_dict():
        for projection, factor in projections.items():
            if key.endswith((f"{projection}.weight", f"{projection}.bias")):
                result.add_patches({key: (None,)}, 0.0, factor)
    return result


class UNetSelfAttentionMultiply:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    ATTENTION = "attn1"  # the UNet's self-attention

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "q": FACTOR, "k": FACTOR, "v": FACTOR, "out": FACTOR}}

    def patch(self, model, q: float, k: float, v: float, out: float):
        projections = {"to_q": q, "to_k": k, "to_v": v, "to_out.0": out}
        return (scaled_projections(model, {f"{self.ATTENTION}.{name}": factor
                                           for name, factor in projections.items()}),)


class UNetCrossAttentionMultiply(UNetSelfAttentionMultiply):
    ATTENTION = "attn2"  # the UNet's cross-attention, on the text


class CLIPAttentionMultiply:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "q": FACTOR, "k": FACTOR, "v": FACTOR, "out": FACTOR}}

    def patch(self, clip, q: float, k: float, v: float, out: float):
        projections = {"self_attn.q_proj": q, "self_attn.k_proj": k, "self_attn.v_proj": v,
                       "self_attn.out_proj": out}
        return (scaled_projections(clip, projections),)


NODE_CLASS_MAPPINGS = {"UNetSelfAttentionMultiply": UNetSelfAttentionMultiply,
                       "UNetCrossAttentionMultiply": UNetCrossAttentionMultiply,
                       "CLIPAttentionMultiply": CLIPAttentionMultiply}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
