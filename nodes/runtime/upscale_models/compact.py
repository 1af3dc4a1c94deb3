"""RealESRGAN's SRVGGNetCompact: a plain stack of convolutions and PReLUs that predicts the residual over a nearest
upscale, put in place by pixel-shuffle (the realesr-general and animevideo models)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .detection import CompactConfig


class SRVGGNetCompact(nn.Module):
    """`body` alternates convolutions and PReLUs as in the files (body.0 conv, body.1 PReLU, ..., body.N conv)."""

    def __init__(self, config: CompactConfig) -> None:
        super().__init__()
        self.config = config
        self.scale = config.scale
        features = config.features
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, features, 3, padding=1), nn.PReLU(features)]
        for _ in range(config.convolutions):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.PReLU(features)]
        layers.append(nn.Conv2d(features, config.out_channels * config.scale ** 2, 3, padding=1))
        self.body = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
