"""The VAE's self-attention layer, its compute paths, and choosing a path by measuring, once per device, dtype and
size.

The VAE's mid-block attends over every latent pixel (4096 tokens at 512 px). PyTorch's fused SDPA is the default and
usually the fastest on a GPU, but on a CPU its fallback can lose to a plain batched matmul or to processing the
queries in chunks, depending on the size and the machine. So the first decode of a new size times each path on the
real attention layer and keeps the fastest; later decodes of that size pay nothing. Past HUGE_SCORES query-key pairs
one fused call would run for many seconds without a chance to stop it, and timing every path would cost minutes: there
the split path is taken at once, and it checks for an interrupt between its query blocks.
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .interrupts import attention_in_query_blocks
from .probe_timing import best_times

log = logging.getLogger(__name__)

QUERY_CHUNK = 1024
HUGE_SCORES = 1 << 30  # a square image of about 1,450 px, batch 1: seconds of one fused attention on a CPU
DEFAULT_PATH = "sdpa"

# Each path maps query, key and value [batch, heads, tokens, width] to the attended values, same shape.
AttentionPath = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def sdpa_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """PyTorch's fused scaled dot product attention."""
    return F.scaled_dot_product_attention(query, key, value)


def classic_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The whole score matrix at once, by batched matmuls (as diffusers' AttnProcessor computes it)."""
    batch, heads, tokens, width = query.shape
    query, key, value = (each.reshape(batch * heads, -1, width) for each in (query, key, value))
    return torch.bmm(_probabilities(query, key), value).view(batch, heads, tokens, width)


def sliced_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """As `classic_attention`, one (batch item, head) at a time: one score matrix in memory instead of a batch."""
    batch, heads, tokens, width = query.shape
    query, key, value = (each.reshape(batch * heads, -1, width) for each in (query, key, value))
    out = torch.empty_like(query)
    for index in range(batch * heads):
        one = slice(index, index + 1)
        out[one] = torch.bmm(_probabilities(query[one], key[one]), value[one])
    return out.view(batch, heads, tokens, width)


def split_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """SDPA for QUERY_CHUNK queries at a time, with an interrupt check before each: the scores held at once are
    QUERY_CHUNK x tokens instead of tokens x tokens, which keeps them in cache on a CPU."""
    return attention_in_query_blocks(query, key, value, QUERY_CHUNK)


def _probabilities(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Softmax of the scaled scores [batch, queries, keys]; the softmax in float32 whatever the model's dtype (as
    diffusers upcasts it for the VAE), the scores and the result in the query's dtype."""
    scores = torch.baddbmm(torch.empty(query.shape[0], query.shape[1], key.shape[1], dtype=query.dtype,
                                       device=query.device),
                           query, key.transpose(1, 2), beta=0, alpha=query.shape[-1] ** -0.5)
    return scores.float().softmax(dim=-1).to(query.dtype)


ATTENTION_PATHS: dict[str, AttentionPath] = {"sdpa": sdpa_attention, "classic": classic_attention,
                                              "sliced": sliced_attention, "split": split_attention}


class VaeAttention(nn.Module):
    """The mid block's self-attention over every pixel, added to its input, computed by the path named in `path`.

    One head as wide as the channels: diffusers gives the VAE's attention a head width equal to its channel count.
    The parameter names are diffusers' (`group_norm`, `to_q`, `to_k`, `to_v`, `to_out.0`)."""

    def __init__(self, channels: int, groups: int, eps: float) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps)
        self.to_q, self.to_k, self.to_v = (nn.Linear(channels, channels) for _ in range(3))
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])
        self.path = DEFAULT_PATH

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)  # [batch, pixels, channels]
        query, key, value = (project(tokens).unsqueeze(1) for project in (self.to_q, self.to_k, self.to_v))
        attended = self.to_out[0](ATTENTION_PATHS[self.path](query, key, value).squeeze(1))
        return attended.transpose(1, 2).reshape(batch, channels, height, width) + x


def vae_attention_layers(vae: nn.Module) -> list[VaeAttention]:
    """The attention layers of a VAE or one of its parts (the encoder's and decoder's mid blocks)."""
    return [module for module in vae.modules() if isinstance(module, VaeAttention)]


def fastest_path(layer: VaeAttention, sample: torch.Tensor, rounds: int = 3) -> str:
    """Time each path on `layer` with input shaped like `sample` and return the fastest one's name.

    The paths take turns within each round and each keeps its best time, so a burst of other work on the machine
    slows one round of every path rather than all the runs of one (probe_timing.best_times: short runs get a warm-up
    round first, long ones are timed once)."""
    original = layer.path

    def prepared(name: str) -> Callable[[], object]:
        layer.path = name
        return lambda: layer(sample)

    try:
        with torch.no_grad():
            best = best_times(tuple(ATTENTION_PATHS), prepared, sample.device, rounds)
    finally:
        layer.path = original
    chosen = min(best, key=best.get)
    log.debug("VAE attention on %s for %s: %s -> %s", sample.device, tuple(sample.shape),
              {name: f"{seconds * 1000:.1f} ms" for name, seconds in best.items()}, chosen)
    return chosen


class AttentionChooser:
    """Remembers the fastest path per (part, device, dtype, channels, tokens, batch) and sets it on that part of a
    VAE (its decoder or its encoder), timed on the part's own attention layer."""

    def __init__(self, choices: dict[tuple, str] | None = None) -> None:
        self.choices = {} if choices is None else choices  # a loader passes the ones its devices share
        self._layers: dict[int, tuple[weakref.ref, list[VaeAttention]]] = {}

    def install(self, vae: nn.Module, latent_height: int, latent_width: int, batch: int = 1,
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
        for each in layers:
            each.path = name
        return name

    def _part_layers(self, part: nn.Module) -> list[VaeAttention]:
        """The part's attention layers, found once (a walk over every module of the VAE is not free at 64 px)."""
        found = self._layers.get(id(part))
        if found is None or found[0]() is not part:
            found = self._layers[id(part)] = (weakref.ref(part), vae_attention_layers(part))
        return found[1]
