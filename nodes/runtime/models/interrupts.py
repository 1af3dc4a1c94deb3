"""Interrupt checks inside one model call: on a CPU one UNet step of a big image takes minutes, and /interrupt must not
wait for it to end.

Three places check: a forward pre-hook on each part of each UNet and VAE block (resnet, transformer, resampler); the
attention: one with more than MAX_SCORES query-key pairs is computed a block of queries at a time, with a check
between blocks; and the convolution: one of more than MAX_CONV_MACS multiply-adds (a VAE's last layers at 4096 px
take a minute on a CPU) is computed a band of output rows at a time, with a check between bands. Each query's row
and each output pixel is computed from the same inputs either way (for a band, the backend may sum the same products
in another order: float round-off, far below a pixel's step).
A check is one context-variable read and one flag test: nothing next to a block's convolutions.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

from graph_engine import current_context

# About a fifth of a second of CPU attention per block (the demo model on two cores); a 512 px image has 2^28.
MAX_SCORES = 1 << 26
QUERY_BLOCK = 64  # blocks are whole multiples of this (as small as the fused kernels tile queries; same results)
# About a quarter of a second of CPU convolution (two cores); a band is at most half of it. Bands cost a few percent
# (smaller matrix products), so convolutions below this stay whole.
MAX_CONV_MACS = 1 << 34
_HOOKED = "_latentloom_interrupt_checks"


def check_interrupt(*_ignored: object) -> None:
    """Raise graph_engine.Interrupted when the user asked the running workflow to stop; nothing outside a run."""
    context = current_context()
    if context is not None:
        context.check_interrupted()


def block_parts(block: torch.nn.Module) -> Iterable[torch.nn.Module]:
    """The resnets, attentions and resamplers of a diffusers UNet or VAE block, in no particular order."""
    for name in ("resnets", "attentions", "downsamplers", "upsamplers"):
        yield from getattr(block, name, None) or ()


def make_unet_interruptible(unet: torch.nn.Module) -> None:
    """Checks before each part of each UNet block, inside each big attention and each big convolution; once per
    UNet."""
    if _hook_blocks(unet, [*unet.down_blocks, *([unet.mid_block] if unet.mid_block is not None else []),
                           *unet.up_blocks]):
        from diffusers.models.attention_processor import Attention

        for module in unet.modules():
            if isinstance(module, Attention):
                module.set_processor(InterruptibleAttention(module.processor))
        _band_convolutions(unet)


def make_vae_interruptible(vae: torch.nn.Module) -> None:
    """Checks before each part of each encoder and decoder block of the VAE (models/autoencoder.py) and inside each
    big convolution; once per VAE (its attention checks in its own query blocks, see vae_attention)."""
    encoder, decoder = vae.encoder, vae.decoder
    if _hook_blocks(vae, [*encoder.down_blocks, encoder.mid_block, decoder.mid_block, *decoder.up_blocks]):
        _band_convolutions(vae)


def _band_convolutions(model: torch.nn.Module) -> None:
    """Every plain 2-d convolution of `model` becomes an InterruptibleConv2d (same weights, same results)."""
    for module in model.modules():
        if type(module) is torch.nn.Conv2d and module.padding_mode == "zeros" and isinstance(module.padding, tuple):
            module.__class__ = InterruptibleConv2d


def _hook_blocks(model: torch.nn.Module, blocks: Iterable[torch.nn.Module]) -> bool:
    """A pre-hook on each part of each block; False when `model` had them already."""
    if getattr(model, _HOOKED, False):
        return False
    for block in blocks:
        for part in block_parts(block):
            part.register_forward_pre_hook(check_interrupt)
    setattr(model, _HOOKED, True)
    return True


class InterruptibleAttention:
    """The layer's own attention processor, except that a big attention of the plain kind (no mask, no norms on
    queries or keys, tokens in a sequence) is computed in blocks of queries with an interrupt check between them."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 **kwargs) -> torch.Tensor:
        chunk = self._query_chunk(attn, hidden_states, encoder_hidden_states, attention_mask, kwargs)
        if chunk is None:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        return _attention_in_blocks(attn, hidden_states, encoder_hidden_states, chunk)

    def _query_chunk(self, attn, hidden_states, encoder_hidden_states, attention_mask, kwargs) -> int | None:
        """Queries per block, or None when the attention is small or not of the plain kind."""
        from diffusers.models.attention_processor import AttnProcessor2_0

        plain = (type(self.inner) is AttnProcessor2_0 and hidden_states.ndim == 3 and attention_mask is None
                 and not kwargs and attn.spatial_norm is None and attn.group_norm is None and attn.norm_q is None
                 and attn.norm_k is None)
        if not plain:
            return None
        batch, queries, _ = hidden_states.shape
        keys = queries if encoder_hidden_states is None else encoder_hidden_states.shape[1]
        rows = max(MAX_SCORES // (batch * attn.heads * keys), 1)
        chunk = max(rows // QUERY_BLOCK, 1) * QUERY_BLOCK
        return chunk if chunk < queries else None


def _attention_in_blocks(attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None,
                         chunk: int) -> torch.Tensor:
    """diffusers' AttnProcessor2_0 for the plain case, with the scaled dot product taken `chunk` queries at a time."""
    residual = hidden_states
    batch, queries, _ = hidden_states.shape
    context = hidden_states if encoder_hidden_states is None else (
        attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states)
    query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
    head_dim = key.shape[-1] // attn.heads

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.view(batch, -1, attn.heads, head_dim).transpose(1, 2)

    query, key, value = heads(query), heads(key), heads(value)
    out = torch.empty_like(query)
    for start in range(0, queries, chunk):
        check_interrupt()
        out[:, :, start:start + chunk] = F.scaled_dot_product_attention(
            query[:, :, start:start + chunk], key, value, dropout_p=0.0, is_causal=False)
    hidden_states = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
    hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
    if attn.residual_connection:
        hidden_states = hidden_states + residual
    return hidden_states / attn.rescale_output_factor


class InterruptibleConv2d(torch.nn.Conv2d):
    """A Conv2d that computes a big output a band of rows at a time, with an interrupt check before each band.

    Each band convolves the input rows its output rows read (the zero padding above and below added to the edge bands
    only), so every output pixel sums the same products as in one call, with no copy of the whole input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.device.type != "cpu":  # a GPU runs even the biggest convolution in a blink
            return super().forward(x)
        batch, _, height, width = x.shape
        (pad_h, pad_w), (stride_h, stride_w) = self.padding, self.stride
        reach_h = self.dilation[0] * (self.kernel_size[0] - 1) + 1
        reach_w = self.dilation[1] * (self.kernel_size[1] - 1) + 1
        out_h = (height + 2 * pad_h - reach_h) // stride_h + 1
        out_w = (width + 2 * pad_w - reach_w) // stride_w + 1
        row_macs = batch * out_w * self.out_channels * (self.in_channels // self.groups) * math.prod(self.kernel_size)
        if out_h < 2 or row_macs * out_h <= MAX_CONV_MACS:
            return super().forward(x)
        rows = max(MAX_CONV_MACS // 2 // row_macs, 1)
        out = torch.empty(batch, self.out_channels, out_h, out_w, dtype=x.dtype, device=x.device,
                          memory_format=self._output_layout(x))
        for first in range(0, out_h, rows):
            last = min(first + rows, out_h)
            check_interrupt()
            top, bottom = first * stride_h - pad_h, (last - 1) * stride_h + reach_h - pad_h
            band = x[:, :, max(top, 0):min(bottom, height)]
            if top < 0 or bottom > height:
                band = F.pad(band, (0, 0, max(-top, 0), max(bottom - height, 0)))
            out[:, :, first:last] = F.conv2d(band, self.weight, self.bias, self.stride, (0, pad_w), self.dilation,
                                             self.groups)
        return out

    def _output_layout(self, x: torch.Tensor) -> torch.memory_format:
        """Channels-last when the input or the weights are (as one oneDNN call's output would be), so that a banded
        convolution keeps the layout the VAE chose for the layers after it."""
        if any(t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous() for t in (x, self.weight)):
            return torch.channels_last
        return torch.contiguous_format
