"""The UNet's levels: res blocks (each with its transformer on the levels that attend) and the resamplers between
levels, under diffusers' names (`down_blocks.N.resnets.M`, `.attentions.M`, `.downsamplers.0.conv`, `mid_block`,
`up_blocks.N....upsamplers.0.conv`).

The level classes only hold their parts: unet_forward.py walks them part by part (ComfyUI's input and output blocks),
which is the one forward of the UNet, patched or not. A level without attention has no `attentions` attribute (the
checkpoint writer and the LoRA key map tell the two kinds apart by it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .unet_attention import Transformer2DModel


@dataclass(frozen=True)
class LevelShape:
    """What every block of the UNet shares, read from its config."""

    temb_channels: int  # the time embedding's width (doubled when class embeddings are concatenated)
    groups: int
    eps: float
    use_linear_projection: bool


@dataclass(frozen=True)
class Attending:
    """The transformers of one level: heads (diffusers' per-level `attention_head_dim`, despite its name), blocks
    per transformer, context width, and whether its first attention also reads the context."""

    heads: int
    depth: int
    context_dim: int
    only_cross_attention: bool = False

    def transformer(self, channels: int, shape: LevelShape) -> Transformer2DModel:
        """A transformer of `channels`, split into this level's heads (diffusers' rule: channels // heads each)."""
        return Transformer2DModel(channels, self.heads, channels // self.heads, depth=self.depth,
                                  context_dim=self.context_dim, groups=shape.groups,
                                  use_linear_projection=shape.use_linear_projection,
                                  only_cross_attention=self.only_cross_attention)


class ResnetBlock2D(nn.Module):
    """Two rounds of group norm, SiLU and 3x3 convolution, the projected time embedding added after the first; the
    result added to the input (through a 1x1 convolution where the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, shape: LevelShape, output_scale_factor: float = 1.0):
        super().__init__()
        self.output_scale_factor = output_scale_factor
        self.norm1 = nn.GroupNorm(shape.groups, in_channels, eps=shape.eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.time_emb_proj = nn.Linear(shape.temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(shape.groups, out_channels, eps=shape.eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.conv_shortcut = (nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels
                              else None)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        out = x + h
        return out if self.output_scale_factor == 1.0 else out / self.output_scale_factor


class Downsample2D(nn.Module):
    """A 3x3 convolution of stride 2; with padding 0 the input is first padded on the right and bottom only."""

    def __init__(self, channels: int, padding: int) -> None:
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=padding)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.padding == 0:
            h = F.pad(h, (0, 1, 0, 1))
        return self.conv(h)


class Upsample2D(nn.Module):
    """Nearest-neighbour doubling (or to `output_size`, the size of the skip it joins: odd sizes come out right),
    then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, h: torch.Tensor, output_size: tuple[int, int] | None = None) -> torch.Tensor:
        if output_size is None:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        else:
            h = F.interpolate(h, size=output_size, mode="nearest")
        return self.conv(h)


class DownBlock2D(nn.Module):
    """A down level without attention: res blocks, then a downsampler unless it is the last level."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, shape: LevelShape,
                 downsample_padding: int | None) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock2D(in_channels if index == 0 else out_channels, out_channels, shape)
                                     for index in range(layers))
        self.downsamplers = (nn.ModuleList([Downsample2D(out_channels, downsample_padding)])
                             if downsample_padding is not None else None)


class CrossAttnDownBlock2D(DownBlock2D):
    """A down level whose res blocks are each followed by a transformer."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, shape: LevelShape,
                 downsample_padding: int | None, attending: Attending) -> None:
        super().__init__(in_channels, out_channels, layers, shape, downsample_padding)
        self.attentions = nn.ModuleList(attending.transformer(out_channels, shape) for _ in range(layers))


class UNetMidBlock2DCrossAttn(nn.Module):
    """Res block, transformer, res block, at the last level's width."""

    def __init__(self, channels: int, shape: LevelShape, attending: Attending, output_scale_factor: float) -> None:
        super().__init__()
        self.attentions = nn.ModuleList([attending.transformer(channels, shape)])
        self.resnets = nn.ModuleList(ResnetBlock2D(channels, channels, shape, output_scale_factor) for _ in range(2))


@dataclass(frozen=True)
class UpChannels:
    """The widths an up level joins: its own, the previous (deeper) level's output, and the down level below it
    (whose first skip, the downsampler's output or conv_in's, its last res block reads)."""

    out: int
    previous: int
    below: int

    def resnet_in(self, index: int, layers: int) -> int:
        """Input width of res block `index`: the running width plus the skip it is joined with."""
        running = self.previous if index == 0 else self.out
        skip = self.below if index == layers - 1 else self.out
        return running + skip


class UpBlock2D(nn.Module):
    """An up level without attention: res blocks over the joined skips, then an upsampler unless it is the last."""

    def __init__(self, channels: UpChannels, layers: int, shape: LevelShape, add_upsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock2D(channels.resnet_in(index, layers), channels.out, shape)
                                     for index in range(layers))
        self.upsamplers = nn.ModuleList([Upsample2D(channels.out)]) if add_upsample else None


class CrossAttnUpBlock2D(UpBlock2D):
    """An up level whose res blocks are each followed by a transformer."""

    def __init__(self, channels: UpChannels, layers: int, shape: LevelShape, add_upsample: bool,
                 attending: Attending) -> None:
        super().__init__(channels, layers, shape, add_upsample)
        self.attentions = nn.ModuleList(attending.transformer(channels.out, shape) for _ in range(layers))
