"""The UNet's transformers (ComfyUI's SpatialTransformer, diffusers' Transformer2DModel): a group norm and a projection
into tokens, transformer blocks (self-attention, cross-attention to the text, a GEGLU feed-forward, each after a layer
norm and added to its input), and a projection back, added to the input image.

Parameter names are diffusers' (`norm`, `proj_in`, `transformer_blocks.K.attn1.to_q`, `ff.net.0.proj`, `proj_out`),
so checkpoints, LoRAs and weight patches address them as before. The blocks' forward is the patched walk in
transformer_forward.py (with no patches it is the plain transformer); this module holds the layers and the attention.

A big attention (more than MAX_SCORES query-key pairs) is computed a block of queries at a time with an interrupt
check between blocks: on a CPU one fused call over a large image runs for seconds, and /interrupt must not wait for it.
Each query's row is computed from the same inputs either way, so the result is the same.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .interrupts import attention_in_query_blocks
from .transformer_forward import spatial_transformer

# About a fifth of a second of CPU attention per block (the demo model on two cores); a 512 px image has 2^28.
MAX_SCORES = 1 << 26
QUERY_BLOCK = 64  # blocks are whole multiples of this (as small as the fused kernels tile queries; same results)
FEED_FORWARD_MULTIPLIER = 4
LAYER_NORM_EPS = 1e-5  # the transformer blocks' layer norms (diffusers' Transformer2DModel default)
GROUP_NORM_EPS = 1e-6  # the group norm before the input projection


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Scaled dot-product attention over [batch, tokens, heads * dim] projections, in blocks of queries with an
    interrupt check between them when it is big."""
    batch, queries, width = q.shape
    dim = width // heads
    q, k, v = (t.view(batch, -1, heads, dim).transpose(1, 2) for t in (q, k, v))
    chunk = query_block_size(batch, heads, queries, k.shape[2])
    out = F.scaled_dot_product_attention(q, k, v) if chunk is None else attention_in_query_blocks(q, k, v, chunk)
    return out.transpose(1, 2).reshape(batch, queries, heads * dim)


def query_block_size(batch: int, heads: int, queries: int, keys: int) -> int | None:
    """Queries per block for an attention of this size, or None when it is small enough for one call."""
    rows = max(MAX_SCORES // (batch * heads * keys), 1)
    chunk = max(rows // QUERY_BLOCK, 1) * QUERY_BLOCK
    return chunk if chunk < queries else None


class Attention(nn.Module):
    """Multi-head attention of the image tokens to themselves (`context` None) or to a context (the text).
    `to_out` keeps the original layouts' dropout slot (`to_out.1`, an identity at inference), so `to_out.0` is the
    output projection as ComfyUI's and diffusers' code index it."""

    def __init__(self, query_dim: int, heads: int, head_dim: int, context_dim: int | None = None) -> None:
        super().__init__()
        inner_dim = heads * head_dim
        self.heads = heads
        self.inner_dim = inner_dim
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_k = nn.Linear(context_dim or query_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(context_dim or query_dim, inner_dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, query_dim), nn.Dropout(0.0)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        return self.to_out[0](multi_head_attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads))


class GEGLU(nn.Module):
    """A linear layer to twice the width, whose second half, through GELU, gates the first."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    """GEGLU to four times the width, then back; `net.1` is the original layouts' dropout slot (unused at
    inference), kept so the output layer is `net.2` as checkpoints name it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        inner_dim = dim * FEED_FORWARD_MULTIPLIER
        self.net = nn.ModuleList([GEGLU(dim, inner_dim), nn.Dropout(0.0), nn.Linear(inner_dim, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    """Self-attention (or, with `only_cross_attention`, a first attention to the text: the x4 upscaler's first
    levels), cross-attention to the text, feed-forward; run by transformer_forward.transformer_block."""

    def __init__(self, dim: int, heads: int, head_dim: int, context_dim: int, only_cross_attention: bool) -> None:
        super().__init__()
        self.only_cross_attention = only_cross_attention
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn1 = Attention(dim, heads, head_dim, context_dim if only_cross_attention else None)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn2 = Attention(dim, heads, head_dim, context_dim)
        self.norm3 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.ff = FeedForward(dim)


class Transformer2DModel(nn.Module):
    """The transformer over an image [batch, channels, height, width]: `project_in` turns it into tokens,
    `project_out` turns tokens back and adds the input. SD1.x projects with 1x1 convolutions, SD2.x and SDXL with
    linear layers (`use_linear_projection`)."""

    def __init__(self, channels: int, heads: int, head_dim: int, *, depth: int, context_dim: int, groups: int,
                 use_linear_projection: bool, only_cross_attention: bool) -> None:
        super().__init__()
        inner_dim = heads * head_dim
        self.use_linear_projection = use_linear_projection
        self.norm = nn.GroupNorm(groups, channels, eps=GROUP_NORM_EPS)
        if use_linear_projection:
            self.proj_in, self.proj_out = nn.Linear(channels, inner_dim), nn.Linear(inner_dim, channels)
        else:
            self.proj_in = nn.Conv2d(channels, inner_dim, kernel_size=1)
            self.proj_out = nn.Conv2d(inner_dim, channels, kernel_size=1)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner_dim, heads, head_dim, context_dim, only_cross_attention)
            for _ in range(depth))

    def forward(self, h: torch.Tensor, context: torch.Tensor, transformer_options: dict | None = None) -> torch.Tensor:
        """The transformer over `h`, its blocks with the attention patches of `transformer_options`."""
        return spatial_transformer(self, h, context, {} if transformer_options is None else transformer_options)

    def project_in(self, h: torch.Tensor) -> torch.Tensor:
        """[batch, channels, height, width] -> normed, projected tokens [batch, height * width, inner]."""
        batch, _, height, width = h.shape
        hidden = self.norm(h)
        if not self.use_linear_projection:
            hidden = self.proj_in(hidden)
        hidden = hidden.permute(0, 2, 3, 1).reshape(batch, height * width, hidden.shape[1])
        return self.proj_in(hidden) if self.use_linear_projection else hidden

    def project_out(self, hidden: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Tokens back to an image of `h`'s shape, plus `h`."""
        batch, _, height, width = h.shape
        if self.use_linear_projection:
            hidden = self.proj_out(hidden)
        hidden = hidden.reshape(batch, height, width, hidden.shape[-1]).permute(0, 3, 1, 2).contiguous()
        if not self.use_linear_projection:
            hidden = self.proj_out(hidden)
        return hidden + h
