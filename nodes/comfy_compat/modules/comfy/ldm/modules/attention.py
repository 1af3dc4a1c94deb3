"""ComfyUI's `comfy.ldm.modules.attention` for plugins: its attention functions, which attention-patching packs
(IP-Adapter style) call from their `attn2_replace` patches, are all the one attention Latentloom's UNet computes with
(PyTorch's scaled dot-product attention), so a patch that recomputes an attention gets the UNet's own result."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.models.transformer_forward import attention

if TYPE_CHECKING:
    import torch


def attention_pytorch(q: "torch.Tensor", k: "torch.Tensor", v: "torch.Tensor", heads: int,
                      mask: "torch.Tensor | None" = None, attn_precision: Any = None, skip_reshape: bool = False,
                      skip_output_reshape: bool = False) -> "torch.Tensor":
    """Attention over [batch, tokens, heads * dim] (or [batch, heads, tokens, dim] with skip_reshape; the output kept
    so with skip_output_reshape), as ComfyUI's. `attn_precision` is accepted and, as by ComfyUI's PyTorch attention,
    left to PyTorch, which computes the softmax in float32 for half-precision inputs."""
    return attention(q, k, v, heads, mask, skip_reshape=skip_reshape, skip_output_reshape=skip_output_reshape)


optimized_attention = attention_pytorch
optimized_attention_masked = attention_pytorch
attention_basic = attention_pytorch


def optimized_attention_for_device(device: Any, mask: bool = False,
                                   small_input: bool = False) -> Callable[..., "torch.Tensor"]:
    """The attention to use on `device`: the same one everywhere here."""
    return attention_pytorch


__all__ = ["attention_basic", "attention_pytorch", "optimized_attention", "optimized_attention_for_device",
           "optimized_attention_masked"]

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
