"""Choosing how the VAE computes its self-attention, by measuring, once per device, dtype and size.

The VAE's mid-block attends over every latent pixel (4096 tokens at 512 px). PyTorch's fused SDPA is the default and
usually the fastest on a GPU, but on a CPU its fallback can lose to a plain batched matmul or to processing the
queries in chunks, depending on the size and the machine. So the first decode of a new size times each path on the
real attention layer and keeps the fastest; later decodes of that size pay nothing. Past HUGE_SCORES query-key pairs
one fused call would run for many seconds without a chance to stop it, and timing every path would cost minutes: there
the split path is taken at once, and it checks for an interrupt between its query blocks.
"""
from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .interrupts import check_interrupt

log = logging.getLogger(__name__)

QUERY_CHUNK = 1024
HUGE_SCORES = 1 << 30  # a square image of about 1,450 px, batch 1: seconds of one fused attention on a CPU


class QueryChunkedAttention:
    """Self-attention computed for blocks of queries at a time ("split" attention): the score matrix held at once
    is QUERY_CHUNK x tokens instead of tokens x tokens, which keeps it in cache on a CPU."""

    def __init__(self, chunk: int = QUERY_CHUNK) -> None:
        self.chunk = chunk

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None, attention_mask=None,
                 temb=None, **kwargs) -> torch.Tensor:
        residual = hidden_states
        spatial = hidden_states.ndim == 4
        if spatial:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        batch, tokens, _ = hidden_states.shape
        heads = attn.heads

        def split_heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, heads, x.shape[-1] // heads).transpose(1, 2)

        query = split_heads(attn.to_q(hidden_states))
        key = split_heads(attn.to_k(hidden_states))
        value = split_heads(attn.to_v(hidden_states))
        out = torch.empty_like(query)
        for start in range(0, tokens, self.chunk):
            check_interrupt()
            out[:, :, start:start + self.chunk] = F.scaled_dot_product_attention(
                query[:, :, start:start + self.chunk], key, value)
        hidden_states = out.transpose(1, 2).reshape(batch, tokens, -1)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if spatial:
            hidden_states = hidden_states.transpose(-1, -2).reshape(residual.shape)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


class SlicedAttention:
    """diffusers' sliced processor (one head-batch slice at a time), taking the `temb` argument the VAE passes so
    diffusers does not warn on every call."""

    def __init__(self) -> None:
        from diffusers.models.attention_processor import SlicedAttnProcessor

        self.inner = SlicedAttnProcessor(1)

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states=None, attention_mask=None,
                 temb=None) -> torch.Tensor:
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask)


def attention_paths() -> dict[str, Callable[[], object]]:
    """The processors to try, by name."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    return {"sdpa": AttnProcessor2_0, "classic": AttnProcessor, "sliced": SlicedAttention,
            "split": QueryChunkedAttention}


def vae_attention_layers(vae: torch.nn.Module) -> list[torch.nn.Module]:
    """The attention layers of an AutoencoderKL (the encoder's and decoder's mid blocks)."""
    from diffusers.models.attention_processor import Attention

    return [module for module in vae.modules() if isinstance(module, Attention)]


def fastest_path(layer: torch.nn.Module, sample: torch.Tensor, rounds: int = 3) -> str:
    """Time each path on `layer` with input shaped like `sample` and return the fastest one's name.

    The paths take turns within each round and each keeps its best time, so a burst of other work on the machine
    slows one round of every path rather than all the runs of one; the first round is the warm-up (allocations,
    kernel selection)."""
    paths = {name: make() for name, make in attention_paths().items()}
    best = dict.fromkeys(paths, float("inf"))
    original = layer.processor
    try:
        with torch.no_grad():
            for round_number in range(rounds):
                for name, processor in paths.items():
                    layer.set_processor(processor)
                    synchronize(sample.device)
                    started = time.perf_counter()
                    layer(sample)
                    synchronize(sample.device)
                    if round_number > 0:
                        best[name] = min(best[name], time.perf_counter() - started)
    finally:
        layer.set_processor(original)
    chosen = min(best, key=best.get)
    log.debug("VAE attention on %s for %s: %s -> %s", sample.device, tuple(sample.shape),
              {name: f"{seconds * 1000:.1f} ms" for name, seconds in best.items()}, chosen)
    return chosen


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timing counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class AttentionChooser:
    """Remembers the fastest path per (part, device, dtype, channels, tokens, batch) and installs it on that part of a
    VAE (its decoder or its encoder), timed on the part's own attention layer."""

    def __init__(self) -> None:
        self.choices: dict[tuple, str] = {}
        self._processors: dict[str, object] = {}  # one instance per path, shared by the layers it is installed on
        self._layers: dict[int, tuple[weakref.ref, list[torch.nn.Module]]] = {}

    def install(self, vae: torch.nn.Module, latent_height: int, latent_width: int, batch: int = 1,
                part: str = "decoder") -> str:
        layers = self._part_layers(getattr(vae, part))
        if not layers:
            return "none"
        layer = layers[-1]
        weight = layer.to_q.weight
        channels = weight.shape[1]
        tokens = latent_height * latent_width
        key = (part, weight.device, weight.dtype, channels, tokens, batch)
        if key not in self.choices and batch * tokens * tokens > HUGE_SCORES:
            self.choices[key] = "split"
        if key not in self.choices:
            sample = torch.randn(batch, channels, latent_height, latent_width, device=weight.device, dtype=weight.dtype)
            self.choices[key] = fastest_path(layer, sample)
        name = self.choices[key]
        processor = self._processor(name)
        for each in layers:
            if each.processor is not processor:  # installed by the last call of this size most of the time
                each.set_processor(processor)
        return name

    def _part_layers(self, part: torch.nn.Module) -> list[torch.nn.Module]:
        """The part's attention layers, found once (a walk over every module of the VAE is not free at 64 px)."""
        found = self._layers.get(id(part))
        if found is None or found[0]() is not part:
            found = self._layers[id(part)] = (weakref.ref(part), vae_attention_layers(part))
        return found[1]

    def _processor(self, name: str) -> object:
        if name not in self._processors:
            self._processors[name] = attention_paths()[name]()
        return self._processors[name]
