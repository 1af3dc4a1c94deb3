"""The Stable Diffusion UNet (SD1.x, SD2.x, SDXL, the SD x4 upscaler, unCLIP, inpainting variants), defined here
rather than taken from diffusers, whose import pulls in torch._dynamo and transformers: seconds of a first run's wait.

It is built from diffusers' UNet2DConditionModel config (what checkpoints/unet_config.py infers, or a diffusers
folder's unet/config.json), keeps that config with diffusers' defaults filled in (`unet.config.block_out_channels`),
and has diffusers' module tree and parameter names (`conv_in`, `time_embedding.linear_1`, `down_blocks.N.resnets.M`,
`mid_block`, `up_blocks`, `conv_out`), so checkpoint conversion, LoRA keys, weight patches, model merging, checkpoint
saving and diffusers' ControlNetModel built from it work as before. A config this module cannot compute the way
diffusers would is refused by name.

The forward is unet_forward.patched_unet_forward with no patches: one walk, block by block, for plain and patched
calls. The levels are in unet_blocks.py, the transformers and attention in unet_attention.py.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .model_config import ModelConfig
from .unet_blocks import (Attending, CrossAttnDownBlock2D, CrossAttnUpBlock2D, DownBlock2D, LevelShape,
                          UNetMidBlock2DCrossAttn, UpBlock2D, UpChannels)
from .unet_forward import patched_unet_forward

# diffusers' UNet2DConditionModel arguments and their defaults: a config that leaves one out means this value
CONFIG_DEFAULTS: dict[str, Any] = {
    "sample_size": None, "in_channels": 4, "out_channels": 4, "center_input_sample": False, "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "only_cross_attention": False, "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2,
    "downsample_padding": 1, "mid_block_scale_factor": 1, "dropout": 0.0, "act_fn": "silu", "norm_num_groups": 32,
    "norm_eps": 1e-5, "cross_attention_dim": 1280, "transformer_layers_per_block": 1,
    "reverse_transformer_layers_per_block": None, "encoder_hid_dim": None, "encoder_hid_dim_type": None,
    "attention_head_dim": 8, "num_attention_heads": None, "dual_cross_attention": False,
    "use_linear_projection": False, "class_embed_type": None, "addition_embed_type": None,
    "addition_time_embed_dim": None, "num_class_embeds": None, "upcast_attention": False,
    "resnet_time_scale_shift": "default", "resnet_skip_time_act": False, "resnet_out_scale_factor": 1.0,
    "time_embedding_type": "positional", "time_embedding_dim": None, "time_embedding_act_fn": None,
    "timestep_post_act": None, "time_cond_proj_dim": None, "conv_in_kernel": 3, "conv_out_kernel": 3,
    "projection_class_embeddings_input_dim": None, "attention_type": "default", "class_embeddings_concat": False,
    "mid_block_only_cross_attention": None, "cross_attention_norm": None, "addition_embed_type_num_heads": 64,
}
# Values other than diffusers' defaults that Stable Diffusion UNets use and this module computes; any other value
# of these keys is refused. (`resnet_skip_time_act`, `resnet_out_scale_factor`, `cross_attention_norm`,
# `mid_block_only_cross_attention` and `addition_embed_type_num_heads` change only block kinds refused below.)
SUPPORTED_VALUES: dict[str, tuple] = {
    "center_input_sample": (False,), "act_fn": ("silu", "swish"), "encoder_hid_dim": (None,),
    "encoder_hid_dim_type": (None,), "num_attention_heads": (None,), "dual_cross_attention": (False,),
    "class_embed_type": (None, "projection"), "addition_embed_type": (None, "text_time"),
    "resnet_time_scale_shift": ("default",), "time_embedding_type": ("positional",),
    "time_embedding_act_fn": (None,), "timestep_post_act": (None,), "time_cond_proj_dim": (None,),
    "attention_type": ("default",), "reverse_transformer_layers_per_block": (None,),
    "mid_block_type": ("UNetMidBlock2DCrossAttn", None),
}
DOWN_BLOCKS = ("DownBlock2D", "CrossAttnDownBlock2D")
UP_BLOCKS = ("UpBlock2D", "CrossAttnUpBlock2D")
MAX_PERIOD = 10000


def checked_unet_config(config: Mapping[str, Any]) -> ModelConfig:
    """`config` with diffusers' defaults for what it leaves out, bookkeeping keys (`_class_name`, ...) and keys
    diffusers' UNet does not take dropped; ValueError naming the first key whose value this module cannot build."""
    full = ModelConfig({key: config.get(key, default) for key, default in CONFIG_DEFAULTS.items()})
    for key, supported in SUPPORTED_VALUES.items():
        if full[key] not in supported:
            raise ValueError(f"a UNet with {key}={full[key]!r} (this UNet supports "
                             f"{', '.join(repr(value) for value in supported)})")
    for key, kinds in (("down_block_types", DOWN_BLOCKS), ("up_block_types", UP_BLOCKS)):
        unknown = [kind for kind in full[key] if kind not in kinds]
        if unknown:
            raise ValueError(f"a UNet with {key} containing {unknown[0]!r} (this UNet builds {', '.join(kinds)})")
    levels = len(full["block_out_channels"])
    for key in ("down_block_types", "up_block_types", "only_cross_attention", "attention_head_dim",
                "cross_attention_dim", "layers_per_block", "transformer_layers_per_block"):
        if not isinstance(full[key], (bool, int)) and len(full[key]) != levels:
            raise ValueError(f"a UNet with {key}={full[key]!r} for {levels} levels (block_out_channels)")
    if any(isinstance(depth, Sequence) for depth in per_level(full["transformer_layers_per_block"], levels)):
        raise ValueError(f"a UNet with transformer_layers_per_block={full['transformer_layers_per_block']!r} (this "
                         "UNet supports one depth per level)")
    if full["addition_embed_type"] == "text_time" and None in (full["addition_time_embed_dim"],
                                                                full["projection_class_embeddings_input_dim"]):
        raise ValueError("a UNet with addition_embed_type='text_time' needs addition_time_embed_dim and "
                         "projection_class_embeddings_input_dim")
    if full["class_embed_type"] == "projection" and full["projection_class_embeddings_input_dim"] is None:
        raise ValueError("a UNet with class_embed_type='projection' needs projection_class_embeddings_input_dim")
    if full["norm_num_groups"] is None:
        raise ValueError("a UNet with norm_num_groups=None (this UNet needs group norms)")
    return full


def per_level(value: Any, levels: int) -> list:
    """A config value given once for all levels, or per level, as a per-level list."""
    return [value] * levels if isinstance(value, (bool, int)) else list(value)


def timestep_embedding(timesteps: torch.Tensor, channels: int, *, flip_sin_to_cos: bool = True,
                       downscale_freq_shift: float = 0) -> torch.Tensor:
    """[N] timesteps -> [N, channels] float32 sinusoids over geometric frequencies from 1 to 1/10000 (cosines
    first with `flip_sin_to_cos`), as diffusers' get_timestep_embedding computes them."""
    half = channels // 2
    exponent = -math.log(MAX_PERIOD) * torch.arange(half, dtype=torch.float32, device=timesteps.device)
    frequencies = torch.exp(exponent / (half - downscale_freq_shift))
    angles = timesteps[:, None].float() * frequencies[None, :]
    sin, cos = torch.sin(angles), torch.cos(angles)
    emb = torch.cat([cos, sin] if flip_sin_to_cos else [sin, cos], dim=-1)
    return F.pad(emb, (0, 1)) if channels % 2 else emb


class Timesteps(nn.Module):
    """The parameter-free sinusoidal embedding (`time_proj`, `add_time_proj`)."""

    def __init__(self, channels: int, flip_sin_to_cos: bool, downscale_freq_shift: float) -> None:
        super().__init__()
        self.channels, self.flip_sin_to_cos, self.downscale_freq_shift = channels, flip_sin_to_cos, downscale_freq_shift

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        return timestep_embedding(timesteps, self.channels, flip_sin_to_cos=self.flip_sin_to_cos,
                                  downscale_freq_shift=self.downscale_freq_shift)


class TimestepEmbedding(nn.Module):
    """Linear, SiLU, linear: the time embedding's MLP (also unCLIP's class projection and SDXL's added one)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, out_channels)
        self.linear_2 = nn.Linear(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class UNetModel(nn.Module):
    """The UNet. Called as `unet(x, timestep, context, added_cond=..., class_labels=...)`: `added_cond` holds SDXL's
    "text_embeds" (pooled) and "time_ids"; `class_labels` are unCLIP's image embeddings or the x4 upscaler's noise
    levels."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self.config = config = checked_unet_config(config)
        channels = list(config.block_out_channels)
        levels = len(channels)
        self.conv_in = nn.Conv2d(config.in_channels, channels[0], config.conv_in_kernel,
                                 padding=(config.conv_in_kernel - 1) // 2)
        time_dim = config.time_embedding_dim or channels[0] * 4
        self.time_proj = Timesteps(channels[0], config.flip_sin_to_cos, config.freq_shift)
        self.time_embedding = TimestepEmbedding(channels[0], time_dim)
        self._build_conditioning(config, time_dim)
        shape = LevelShape(time_dim * 2 if config.class_embeddings_concat else time_dim, config.norm_num_groups,
                           config.norm_eps, config.use_linear_projection)
        attending = [Attending(*level) for level in zip(per_level(config.attention_head_dim, levels),
                                                         per_level(config.transformer_layers_per_block, levels),
                                                         per_level(config.cross_attention_dim, levels),
                                                         per_level(config.only_cross_attention, levels))]
        layers = per_level(config.layers_per_block, levels)
        self.down_blocks = nn.ModuleList(self._down_level(index, channels, layers[index], shape, attending[index])
                                         for index in range(levels))
        last = attending[-1]  # the middle block attends as the last level does, always to itself first
        self.mid_block = None if config.mid_block_type is None else UNetMidBlock2DCrossAttn(
            channels[-1], shape, Attending(last.heads, last.depth, last.context_dim), config.mid_block_scale_factor)
        self.up_blocks = nn.ModuleList(self._up_level(index, channels, layers[-1 - index] + 1, shape,
                                                      attending[-1 - index]) for index in range(levels))
        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, channels[0], eps=config.norm_eps)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(channels[0], config.out_channels, config.conv_out_kernel,
                                  padding=(config.conv_out_kernel - 1) // 2)

    def _build_conditioning(self, config: ModelConfig, time_dim: int) -> None:
        """The class embedding (the x4 upscaler's table of noise levels, unCLIP's image-embedding projection) and
        SDXL's added embedding (pooled text and size numbers)."""
        self.class_embedding: nn.Module | None = None
        if config.class_embed_type == "projection":
            self.class_embedding = TimestepEmbedding(config.projection_class_embeddings_input_dim, time_dim)
        elif config.num_class_embeds is not None:
            self.class_embedding = nn.Embedding(config.num_class_embeds, time_dim)
        if config.addition_embed_type == "text_time":
            self.add_time_proj = Timesteps(config.addition_time_embed_dim, config.flip_sin_to_cos, config.freq_shift)
            self.add_embedding = TimestepEmbedding(config.projection_class_embeddings_input_dim, time_dim)

    def _down_level(self, index: int, channels: list[int], layers: int, shape: LevelShape,
                    attending: Attending) -> nn.Module:
        """Down level `index`: from the previous level's width to its own, downsampling unless it is the last."""
        kind = self.config.down_block_types[index]
        padding = None if index == len(channels) - 1 else self.config.downsample_padding
        arguments = (channels[max(index - 1, 0)], channels[index], layers, shape, padding)
        if kind == "CrossAttnDownBlock2D":
            return CrossAttnDownBlock2D(*arguments, attending)
        return DownBlock2D(*arguments)

    def _up_level(self, index: int, channels: list[int], layers: int, shape: LevelShape,
                  attending: Attending) -> nn.Module:
        """Up level `index` (deepest first), mirroring down level -1 - index with one more res block."""
        kind = self.config.up_block_types[index]
        widths = channels[::-1]
        joined = UpChannels(out=widths[index], previous=widths[max(index - 1, 0)],
                            below=widths[min(index + 1, len(widths) - 1)])
        arguments = (joined, layers, shape, index < len(widths) - 1)
        if kind == "CrossAttnUpBlock2D":
            return CrossAttnUpBlock2D(*arguments, attending)
        return UpBlock2D(*arguments)

    def forward(self, x: torch.Tensor, timestep: torch.Tensor | float | int, context: torch.Tensor, *,
                added_cond: Mapping[str, torch.Tensor] | None = None,
                class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """The UNet's output (noise or v prediction) for latents `x` at `timestep`, attending to `context`."""
        return patched_unet_forward(self, x, timestep, context, transformer_options={}, added_cond=added_cond,
                                    class_labels=class_labels)

    def time_embed(self, x: torch.Tensor, timestep: torch.Tensor | float | int) -> torch.Tensor:
        """The timestep's embedding [batch, time_dim], one timestep for the whole batch or one per latent."""
        timesteps = torch.as_tensor(timestep, device=x.device).reshape(-1).expand(x.shape[0])
        return self.time_embedding(self.time_proj(timesteps).to(x.dtype))

    def add_conditioning(self, emb: torch.Tensor, class_labels: torch.Tensor | None = None,
                         added_cond: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The time embedding with the class embedding added (or joined) and SDXL's added embedding added."""
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("this UNet reads class labels (an unCLIP image embedding or the x4 upscaler's noise "
                                 "level), and none were given")
            class_emb = self.class_embedding(class_labels).to(emb.dtype)
            emb = torch.cat([emb, class_emb], dim=-1) if self.config.class_embeddings_concat else emb + class_emb
        if self.config.addition_embed_type == "text_time":
            if not added_cond or "text_embeds" not in added_cond or "time_ids" not in added_cond:
                raise ValueError("this UNet (SDXL's) reads added conditioning: 'text_embeds' (the pooled text "
                                 "embedding) and 'time_ids' (sizes and crop)")
            text_embeds = added_cond["text_embeds"]
            time_embeds = self.add_time_proj(added_cond["time_ids"].flatten()).reshape(text_embeds.shape[0], -1)
            emb = emb + self.add_embedding(torch.cat([text_embeds, time_embeds], dim=-1).to(emb.dtype))
        return emb
