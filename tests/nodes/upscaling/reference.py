"""The upscale networks written out plainly with torch.nn.functional from the fixture's weights by role: the
independent reference the loaded modules are compared with."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.fixtures.tiny_upscale_models import TinyCompact, TinyRRDBNet


def conv(x: torch.Tensor, weights) -> torch.Tensor:
    return F.conv2d(x, weights[0], weights[1], padding=1)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, x, 0.2 * x)


def dense_block(x: torch.Tensor, convs) -> torch.Tensor:
    x1 = lrelu(conv(x, convs[0]))
    x2 = lrelu(conv(torch.cat([x, x1], 1), convs[1]))
    x3 = lrelu(conv(torch.cat([x, x1, x2], 1), convs[2]))
    x4 = lrelu(conv(torch.cat([x, x1, x2, x3], 1), convs[3]))
    x5 = conv(torch.cat([x, x1, x2, x3, x4], 1), convs[4])
    return x5 * 0.2 + x


def rrdbnet(model: TinyRRDBNet, x: torch.Tensor) -> torch.Tensor:
    """x [batch, 3, h, w] with h and w multiples of the unshuffle factor."""
    if model.unshuffle > 1:
        x = F.pixel_unshuffle(x, model.unshuffle)
    features = conv(x, model.first)
    trunk = features
    for dense_blocks in model.blocks:
        out = trunk
        for convs in dense_blocks:
            out = dense_block(out, convs)
        trunk = out * 0.2 + trunk
    features = features + conv(trunk, model.trunk)
    for weights in model.upsamplings:
        features = lrelu(conv(features.repeat_interleave(2, 2).repeat_interleave(2, 3), weights))
    return conv(lrelu(conv(features, model.hr)), model.last)


def compact(model: TinyCompact, x: torch.Tensor) -> torch.Tensor:
    out = x
    for weights, slope in zip(model.convs, model.prelus):
        out = conv(out, weights)
        out = torch.where(out >= 0, out, slope[None, :, None, None] * out)
    out = F.pixel_shuffle(conv(out, model.convs[-1]), model.scale)
    return out + x.repeat_interleave(model.scale, 2).repeat_interleave(model.scale, 3)
