"""GLIGEN's networks, with the parameter names of its files: the position net that turns (phrase, box) pairs into
grounding tokens, and the gated self-attention "fuser" that each UNet transformer block runs between its self- and
cross-attention.

The fuser appends the grounding tokens (projected to the block's width) to the image tokens, runs self-attention
over both, and adds the image tokens' part, gated by tanh(alpha_attn); then a GEGLU feed-forward gated by
tanh(alpha_dense). With the alphas at 0 a fuser changes nothing: that is how GLIGEN was trained to start.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layout import FuserConfig, PositionNetConfig

FOURIER_TEMPERATURE = 100.0  # GLIGEN's box embedding: sin/cos of the coordinates at frequencies 100^(k/K)


class GEGLUFeedForward(nn.Module):
    """x -> Linear(inner, width)(a * gelu(g)) where (a, g) = Linear(width, 2 inner)(x); named net.0.proj, net.2."""

    def __init__(self, width: int, mult: int = 4) -> None:
        super().__init__()
        inner = width * mult
        self.net = nn.ModuleList([nn.Module(), nn.Identity(), nn.Linear(inner, width)])
        self.net[0].proj = nn.Linear(width, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.net[0].proj(x).chunk(2, dim=-1)
        return self.net[2](value * F.gelu(gate))


class SelfAttention(nn.Module):
    """Multi-head self-attention without biases on q, k, v (to_q, to_k, to_v, to_out.0)."""

    def __init__(self, width: int, heads: int, head_width: int) -> None:
        super().__init__()
        inner = heads * head_width
        self.heads = heads
        self.to_q = nn.Linear(width, inner, bias=False)
        self.to_k = nn.Linear(width, inner, bias=False)
        self.to_v = nn.Linear(width, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, width)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        q, k, v = (layer(x).reshape(batch, tokens, self.heads, -1).transpose(1, 2)
                   for layer in (self.to_q, self.to_k, self.to_v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out[0](out.transpose(1, 2).reshape(batch, tokens, -1))


class GatedSelfAttention(nn.Module):
    """One transformer block's fuser."""

    def __init__(self, config: FuserConfig) -> None:
        super().__init__()
        self.linear = nn.Linear(config.grounding_width, config.width)
        self.attn = SelfAttention(config.width, config.heads, config.head_width)
        self.ff = GEGLUFeedForward(config.width)
        self.norm1 = nn.LayerNorm(config.width)
        self.norm2 = nn.LayerNorm(config.width)
        self.alpha_attn = nn.Parameter(torch.zeros(()))
        self.alpha_dense = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, grounding: torch.Tensor) -> torch.Tensor:
        """x: image tokens [batch, n, width]; grounding: [batch, objects, grounding width]."""
        visual = x.shape[1]
        joined = torch.cat([x, self.linear(grounding)], dim=1)
        x = x + torch.tanh(self.alpha_attn) * self.attn(self.norm1(joined))[:, :visual]
        return x + torch.tanh(self.alpha_dense) * self.ff(self.norm2(x))


def fourier_embedding(boxes: torch.Tensor, frequencies: int) -> torch.Tensor:
    """[..., 4] box corners -> [..., 8 * frequencies]: per frequency, the sines of the four, then their cosines."""
    bands = FOURIER_TEMPERATURE ** (torch.arange(frequencies, dtype=boxes.dtype, device=boxes.device) / frequencies)
    angles = boxes.unsqueeze(-2) * bands.unsqueeze(-1)  # [..., frequencies, 4]
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


class PositionNet(nn.Module):
    """(phrase embedding, box) pairs -> grounding tokens; padded slots use the learned null features."""

    def __init__(self, config: PositionNetConfig) -> None:
        super().__init__()
        self.fourier_frequencies = config.fourier_frequencies
        self.linears = nn.Sequential(nn.Linear(config.phrase_width + config.box_width, config.hidden), nn.SiLU(),
                                     nn.Linear(config.hidden, config.hidden), nn.SiLU(),
                                     nn.Linear(config.hidden, config.grounding_width))
        self.null_positive_feature = nn.Parameter(torch.zeros(config.phrase_width))
        self.null_position_feature = nn.Parameter(torch.zeros(config.box_width))

    def forward(self, boxes: torch.Tensor, present: torch.Tensor, phrases: torch.Tensor) -> torch.Tensor:
        """boxes [batch, n, 4] (x1, y1, x2, y2 in 0..1), present [batch, n] (1 real, 0 padding), phrases
        [batch, n, phrase width] -> [batch, n, grounding width]."""
        present = present.unsqueeze(-1)
        box_features = fourier_embedding(boxes, self.fourier_frequencies)
        phrases = phrases * present + (1 - present) * self.null_positive_feature.view(1, 1, -1)
        box_features = box_features * present + (1 - present) * self.null_position_feature.view(1, 1, -1)
        return self.linears(torch.cat([phrases, box_features], dim=-1))


class GligenNetwork(nn.Module):
    """The position net and one fuser per UNet transformer block, in the UNet's order (input, middle, output)."""

    def __init__(self, position: PositionNetConfig, fusers: list[FuserConfig]) -> None:
        super().__init__()
        self.position_net = PositionNet(position)
        self.fusers = nn.ModuleList([GatedSelfAttention(config) for config in fusers])
