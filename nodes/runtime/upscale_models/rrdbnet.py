"""ESRGAN's RRDBNet (Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks"), with
RealESRGAN's pixel-unshuffle input for its 2x and 1x models; parameter names follow BasicSR."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .detection import RRDBNetConfig

SLOPE = 0.2  # the leaky ReLU of every activation
RESIDUAL = 0.2  # each dense block's and each RRDB's output is added to its input scaled by this


def conv3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class ResidualDenseBlock(nn.Module):
    """Five convolutions, each reading the block input and every earlier output."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        for index in range(1, 6):
            out_channels = features if index == 5 else growth
            setattr(self, f"conv{index}", conv3(features + (index - 1) * growth, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for index in range(1, 5):
            seen.append(F.leaky_relu(getattr(self, f"conv{index}")(torch.cat(seen, 1)), SLOPE))
        return x + RESIDUAL * self.conv5(torch.cat(seen, 1))


class RRDB(nn.Module):
    """Residual-in-residual: three dense blocks in a row, their result added to the input scaled down."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(features, growth)
        self.rdb2 = ResidualDenseBlock(features, growth)
        self.rdb3 = ResidualDenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """Features from a trunk of RRDBs, then nearest 2x steps each followed by a convolution."""

    def __init__(self, config: RRDBNetConfig) -> None:
        super().__init__()
        self.config = config
        self.scale = config.scale
        features = config.features
        self.conv_first = conv3(config.in_channels * config.unshuffle ** 2, features)
        self.body = nn.Sequential(*(RRDB(features, config.growth) for _ in range(config.blocks)))
        self.conv_body = conv3(features, features)
        self.upsample_convs = nn.ModuleList(conv3(features, features) for _ in range(config.upsamplings))
        self.conv_hr = conv3(features, features)
        self.conv_last = conv3(features, config.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        fold = self.config.unshuffle
        if fold > 1:
            x = F.pixel_unshuffle(_pad_to_multiple(x, fold), fold)
        features = self.conv_first(x)
        features = features + self.conv_body(self.body(features))
        for conv in self.upsample_convs:
            features = F.leaky_relu(conv(F.interpolate(features, scale_factor=2, mode="nearest")), SLOPE)
        out = self.conv_last(F.leaky_relu(self.conv_hr(features), SLOPE))
        return out[..., : height * self.scale, : width * self.scale]


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Mirror the bottom and right edges out to a multiple of `multiple` (the padding is cropped off the output)."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
