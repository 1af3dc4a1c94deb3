"""The UNet's transformer blocks run with ComfyUI's attention patches (the other half of unet_forward.py).

Inside each BasicTransformerBlock ComfyUI offers: `attn1_patch`/`attn2_patch` (change the normed input, the context
and the value before the projections), `patches_replace` "attn1"/"attn2" keyed by (block name, number) or (block name,
number, block index) (compute the attention from q, k, v), `attn1_output_patch`/`attn2_output_patch` (change the
attention's output) and `middle_patch` (between self- and cross-attention). Their extra_options are the call's
transformer options (less the patches) with the block's head count and head size. With no patches this is the plain
transformer (unet_attention.Transformer2DModel's forward).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

PATCH_KEYS = ("patches", "patches_replace")
BLOCK_PATCHES = ("attn1_patch", "attn2_patch", "attn1_output_patch", "attn2_output_patch", "middle_patch")


def spatial_transformer(transformer: Any, h: torch.Tensor, context: torch.Tensor, options: dict) -> torch.Tensor:
    """A Transformer2DModel (ComfyUI's SpatialTransformer) over `h`, each block with its patches; counts the
    transformer in options["transformer_index"]."""
    hidden = transformer.project_in(h)
    for index, block in enumerate(transformer.transformer_blocks):
        options["block_index"] = index
        hidden = transformer_block(block, hidden, context, options)
    out = transformer.project_out(hidden, h)
    options["transformer_index"] = options.get("transformer_index", 0) + 1
    return out


def transformer_block(block: Any, x: torch.Tensor, context: torch.Tensor, options: dict) -> torch.Tensor:
    """ComfyUI's BasicTransformerBlock forward over ours: self-attention (or a first cross-attention), then
    cross-attention, then feed-forward, each after its layer norm and added to its input."""
    # a block that attends to the text twice (ComfyUI's disable_self_attn: the x4 upscaler's first levels)
    first_context = context if block.only_cross_attention else None
    patches = options.get("patches", {})
    replaces = options.get("patches_replace", {})
    if not (replaces.get("attn1") or replaces.get("attn2") or any(name in patches for name in BLOCK_PATCHES)):
        x = block.attn1(block.norm1(x), first_context) + x
        x = block.attn2(block.norm2(x), context) + x
        return block.ff(block.norm3(x)) + x
    extra = {key: value for key, value in options.items() if key not in PATCH_KEYS}
    extra["n_heads"] = block.attn1.heads
    extra["dim_head"] = block.attn1.inner_dim // block.attn1.heads
    where = _replace_keys(options)
    x = _attention_step(block.attn1, block.norm1(x), first_context, patches, replaces, where, "attn1", extra) + x
    for patch in patches.get("middle_patch", ()):
        x = patch(x, extra)
    x = _attention_step(block.attn2, block.norm2(x), context, patches, replaces, where, "attn2", extra) + x
    return block.ff(block.norm3(x)) + x


def _replace_keys(options: dict) -> tuple:
    """The keys a replacement may be registered under, most specific first."""
    block = options.get("block")
    if block is None:
        return ()
    return (block[0], block[1], options.get("block_index", 0)), block


def _attention_step(attn: Any, n: torch.Tensor, context: torch.Tensor | None, patches: dict, replaces: dict,
                    where: tuple, name: str, extra: dict) -> torch.Tensor:
    """One attention with its patches: `context` None is self-attention."""
    value = None
    if f"{name}_patch" in patches:
        context = n if context is None else context
        value = context
        for patch in patches[f"{name}_patch"]:
            n, context, value = patch(n, context, value, extra)
    replace = next((replaces[name][key] for key in where if key in replaces.get(name, {})), None)
    if replace is not None:
        context = n if context is None else context
        value = context if value is None else value
        out = attn.to_out[0](replace(attn.to_q(n), attn.to_k(context), attn.to_v(value), extra))
    elif (value is None or value is context) and (context is None or context.shape[0] == n.shape[0]):
        out = attn(n, context)  # the module's own attention (its interrupt checks in query blocks)
    else:
        out = attn.to_out[0](attention(attn.to_q(n), attn.to_k(context), attn.to_v(value), attn.heads))
    for patch in patches.get(f"{name}_output_patch", ()):
        out = patch(out, extra)
    return out


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None, *,
              skip_reshape: bool = False, skip_output_reshape: bool = False) -> torch.Tensor:
    """Scaled dot-product attention over [batch, tokens, heads * dim] inputs, as ComfyUI's optimized_attention: k and
    v are laid out in q's batch (a patch that cuts the queries into tiles, HyperTile, relies on it). With
    `skip_reshape` the inputs are already split into heads, [batch, heads, tokens, dim]; with `skip_output_reshape`
    the output stays so."""
    if skip_reshape:
        batch, heads, _, dim = q.shape
    else:
        batch, _, width = q.shape
        dim = width // heads
        q, k, v = (t.reshape(batch, -1, heads, dim).transpose(1, 2) for t in (q, k, v))
    if mask is not None and mask.ndim == 2:
        mask = mask.unsqueeze(0)
    if mask is not None and mask.ndim == 3:
        mask = mask.unsqueeze(1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, is_causal=False)
    return out if skip_output_reshape else out.transpose(1, 2).reshape(batch, -1, heads * dim)
