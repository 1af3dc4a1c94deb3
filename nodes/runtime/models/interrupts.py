"""Interrupt checks inside one model call: on a CPU one UNet step of a big image takes minutes, and /interrupt must not
wait for it to end.

Three places check: a forward pre-hook on each part of each UNet and VAE block (resnet, transformer, resampler); the
attention: the UNet's own (unet_attention.py) computes one with more than MAX_SCORES query-key pairs a block of
queries at a time, with a check between blocks; and the convolution: one of more than MAX_CONV_MACS multiply-adds (a
VAE's last layers at 4096 px take a minute on a CPU) is computed a band of output rows at a time, with a check between
bands. Each output pixel is computed from the same inputs either way (for a band, the backend may sum the same
products in another order: float round-off, far below a pixel's step).
A check is one context-variable read and one flag test: nothing next to a block's convolutions.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

from graph_engine import current_context

# About a quarter of a second of CPU convolution (two cores); a band is at most half of it. Bands cost a few percent
# (smaller matrix products), so convolutions below this stay whole.
MAX_CONV_MACS = 1 << 34
_HOOKED = "_latentloom_interrupt_checks"


def check_interrupt(*_ignored: object) -> None:
    """Raise graph_engine.Interrupted when the user asked the running workflow to stop; nothing outside a run."""
    context = current_context()
    if context is not None:
        context.check_interrupted()


def attention_in_query_blocks(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                              block: int) -> torch.Tensor:
    """Scaled dot-product attention over [batch, heads, tokens, width] computed `block` queries at a time, with an
    interrupt check before each block: each query's row is computed from the same inputs as in one call."""
    out = torch.empty_like(query)
    for start in range(0, query.shape[2], block):
        check_interrupt()
        out[:, :, start:start + block] = F.scaled_dot_product_attention(query[:, :, start:start + block], key, value)
    return out


def block_parts(block: torch.nn.Module) -> Iterable[torch.nn.Module]:
    """The resnets, attentions and resamplers of a UNet or VAE block, in no particular order."""
    for name in ("resnets", "attentions", "downsamplers", "upsamplers"):
        yield from getattr(block, name, None) or ()


def make_unet_interruptible(unet: torch.nn.Module) -> None:
    """Checks before each part of each UNet block and inside each big convolution (its attention checks in its own
    query blocks); once per UNet."""
    if _hook_blocks(unet, [*unet.down_blocks, *([unet.mid_block] if unet.mid_block is not None else []),
                           *unet.up_blocks]):
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
