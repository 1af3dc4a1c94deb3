"""Stable Diffusion's VAE (the KL autoencoder of SD1.x, SD2.x, SDXL and the x4 upscaler), defined here rather than
taken from diffusers, whose import costs a first run seconds (issue 18).

Built from the config diffusers' AutoencoderKL takes (the loaders' inferred one, or a diffusers folder's
vae/config.json), with diffusers' parameter names and module tree (`encoder.down_blocks.N.resnets.M.conv1`,
`decoder.mid_block.attentions.0.to_q`, `quant_conv`, ...), so state dicts, LoRA keys, weight patches, the LDM writer
and the interrupt hooks address it as before. `encode` gives the posterior, `decode` the pixels (-1..1).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .model_config import ModelConfig
from .vae_attention import VaeAttention

# diffusers' AutoencoderKL arguments and their defaults: the keys a config may hold
CONFIG_DEFAULTS: dict[str, Any] = {
    "in_channels": 3, "out_channels": 3, "down_block_types": ("DownEncoderBlock2D",),
    "up_block_types": ("UpDecoderBlock2D",), "block_out_channels": (64,), "layers_per_block": 1, "act_fn": "silu",
    "latent_channels": 4, "norm_num_groups": 32, "sample_size": 32, "scaling_factor": 0.18215, "shift_factor": None,
    "latents_mean": None, "latents_std": None, "force_upcast": True, "use_quant_conv": True,
    "use_post_quant_conv": True, "mid_block_add_attention": True,
}
DOWN_BLOCK = "DownEncoderBlock2D"
UP_BLOCK = "UpDecoderBlock2D"
EPS = 1e-6  # every norm of the VAE
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass(frozen=True)
class LatentDistribution:
    """The encoder's diagonal Gaussian over latents, as mean and (clamped) log variance."""

    mean: torch.Tensor
    logvar: torch.Tensor

    @classmethod
    def from_moments(cls, moments: torch.Tensor) -> LatentDistribution:
        mean, logvar = moments.chunk(2, dim=1)
        return cls(mean, logvar.clamp(*LOGVAR_RANGE))

    def mode(self) -> torch.Tensor:
        """The most likely latent: the mean, so the same image always gives the same latent."""
        return self.mean


class ResnetBlock(nn.Module):
    """norm, SiLU, conv, twice, added to the input (through a 1x1 convolution where the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=EPS)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=EPS)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(F.silu(self.norm1(x)))
        hidden = self.conv2(F.silu(self.norm2(hidden)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + hidden


class Downsample(nn.Module):
    """Halves the size: one zero row and column added at the bottom and right, then a stride-2 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Doubles the size (or reaches `output_size`) by nearest neighbours, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, output_size: Sequence[int] | None = None) -> torch.Tensor:
        if x.shape[0] >= 64 or x.numel() * 2 > 2 ** 31:
            x = x.contiguous()  # PyTorch's channels-last nearest upsampling fails on big inputs
        if output_size is None:
            return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return self.conv(F.interpolate(x, size=tuple(output_size), mode="nearest"))


class EncoderLevel(nn.Module):
    """One level of the encoder: res blocks, then a downsampler except on the last level."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, downsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(in_channels if index == 0 else out_channels, out_channels, groups)
                                     for index in range(layers))
        self.downsamplers = nn.ModuleList([Downsample(out_channels)]) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.downsamplers is None else self.downsamplers[0](x)


class DecoderLevel(nn.Module):
    """One level of the decoder: res blocks, then an upsampler except on the last level."""

    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, upsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(in_channels if index == 0 else out_channels, out_channels, groups)
                                     for index in range(layers))
        self.upsamplers = nn.ModuleList([Upsample(out_channels)]) if upsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        return x if self.upsamplers is None else self.upsamplers[0](x)


class MidBlock(nn.Module):
    """A res block, the attention over every pixel (unless the config leaves it out), another res block."""

    def __init__(self, channels: int, groups: int, attention: bool) -> None:
        super().__init__()
        self.attentions = nn.ModuleList([VaeAttention(channels, groups, EPS)] if attention else [])
        self.resnets = nn.ModuleList(ResnetBlock(channels, channels, groups) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resnets[0](x)
        for attention in self.attentions:
            x = attention(x)
        return self.resnets[1](x)


class Encoder(nn.Module):
    """Pixels -> the latent distribution's moments (mean and log variance, 2 x latent channels)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, groups, layers = config.block_out_channels, config.norm_num_groups, config.layers_per_block
        self.conv_in = nn.Conv2d(config.in_channels, channels[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            EncoderLevel(channels[max(level - 1, 0)], width, layers, groups, downsample=level < len(channels) - 1)
            for level, width in enumerate(channels))
        self.mid_block = MidBlock(channels[-1], groups, config.mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(groups, channels[-1], eps=EPS)
        self.conv_out = nn.Conv2d(channels[-1], 2 * config.latent_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for level in self.down_blocks:
            x = level(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class Decoder(nn.Module):
    """Latents -> pixels: the encoder's levels in reverse, each with one more res block."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        channels, groups, layers = config.block_out_channels[::-1], config.norm_num_groups, config.layers_per_block
        self.conv_in = nn.Conv2d(config.latent_channels, channels[0], 3, padding=1)
        self.up_blocks = nn.ModuleList(
            DecoderLevel(channels[max(level - 1, 0)], width, layers + 1, groups, upsample=level < len(channels) - 1)
            for level, width in enumerate(channels))
        self.mid_block = MidBlock(channels[0], groups, config.mid_block_add_attention)
        self.conv_norm_out = nn.GroupNorm(groups, channels[-1], eps=EPS)
        self.conv_out = nn.Conv2d(channels[-1], config.out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(x))
        for level in self.up_blocks:
            x = level(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKl(nn.Module):
    """The VAE: `encode` pixels [B, in_channels, H, W] in -1..1 to a LatentDistribution over [B, latent_channels,
    H/f, W/f] (f = 2 ** (levels - 1)), `decode` such latents back to pixels. `config` holds diffusers' AutoencoderKL
    arguments; `.config` has them all, defaults filled in."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = autoencoder_config(config)
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        latent = self.config.latent_channels
        self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1) if self.config.use_quant_conv else None
        self.post_quant_conv = nn.Conv2d(latent, latent, 1) if self.config.use_post_quant_conv else None

    def encode(self, pixels: torch.Tensor) -> LatentDistribution:
        moments = self.encoder(pixels)
        if self.quant_conv is not None:
            moments = self.quant_conv(moments)
        return LatentDistribution.from_moments(moments)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        if self.post_quant_conv is not None:
            latents = self.post_quant_conv(latents)
        return self.decoder(latents)


def autoencoder_config(config: Mapping[str, Any]) -> ModelConfig:
    """Every diffusers key with its default where `config` leaves it out (diffusers' bookkeeping, `_`-prefixed, is
    dropped); a key diffusers does not know, or a value this module cannot build, is refused naming the key and the
    value."""
    unknown = sorted(key for key in config if key not in CONFIG_DEFAULTS and not key.startswith("_"))
    if unknown:
        raise ValueError(f"the VAE config has '{unknown[0]}' ({config[unknown[0]]!r}), which is not an argument of "
                         f"diffusers' AutoencoderKL")
    levels = len(config.get("block_out_channels", CONFIG_DEFAULTS["block_out_channels"]))
    # the block types' defaults name one level; where left out, every level has the only kind there is
    defaults = {**CONFIG_DEFAULTS, "down_block_types": (DOWN_BLOCK,) * levels, "up_block_types": (UP_BLOCK,) * levels}
    full = ModelConfig({key: config.get(key, default) for key, default in defaults.items()})
    supported = {"act_fn": ("silu",), "down_block_types": ((DOWN_BLOCK,) * levels,),
                 "up_block_types": ((UP_BLOCK,) * levels,)}
    for key, values in supported.items():
        value = full[key]
        if (tuple(value) if isinstance(value, (list, tuple)) else value) not in values:
            raise ValueError(f"the VAE config's {key} {value!r} is not supported (this model builds "
                             f"{' or '.join(repr(each) for each in values)})")
    groups = full.norm_num_groups
    if any(width % groups for width in full.block_out_channels):
        raise ValueError(f"the VAE config's block_out_channels {full.block_out_channels!r} are not all multiples of "
                         f"its norm_num_groups {groups!r}")
    return full
