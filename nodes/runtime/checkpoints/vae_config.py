"""Infer a diffusers AutoencoderKL config from the key names and shapes of an original-layout (LDM) VAE."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .unet_config import NORM_GROUPS, LayoutError

Shapes = Mapping[str, Sequence[int]]

VAE_PREFIX = "first_stage_model."
# The latent scale each architecture was trained with; weights cannot show it.
SCALING_FACTORS = {"SD1.x": 0.18215, "SD2.x": 0.18215, "SDXL": 0.13025}


def infer_vae_config(shapes: Shapes, *, scaling_factor: float, prefix: str = VAE_PREFIX) -> dict:
    """The diffusers config of the VAE under `prefix`; `scaling_factor` comes from the architecture."""
    vae = {key[len(prefix):]: tuple(shape) for key, shape in shapes.items() if key.startswith(prefix)}
    for needed in ("encoder.conv_in.weight", "decoder.conv_in.weight", "decoder.conv_out.weight"):
        if needed not in vae:
            raise LayoutError(f"no '{prefix}{needed}'")
    channels = _level_channels(vae)
    layers = _count(vae, r"encoder\.down\.0\.block\.(\d+)\.")
    for level in range(len(channels)):
        if _count(vae, rf"decoder\.up\.{level}\.block\.(\d+)\.") != layers + 1:
            raise LayoutError(f"decoder level {level} does not have {layers + 1} res blocks")
    return {
        "in_channels": vae["encoder.conv_in.weight"][1],
        "out_channels": vae["decoder.conv_out.weight"][0],
        "latent_channels": vae["decoder.conv_in.weight"][1],
        "block_out_channels": channels,
        "layers_per_block": layers,
        "down_block_types": ["DownEncoderBlock2D"] * len(channels),
        "up_block_types": ["UpDecoderBlock2D"] * len(channels),
        "norm_num_groups": NORM_GROUPS,
        "mid_block_add_attention": "encoder.mid.attn_1.q.weight" in vae,
        "use_quant_conv": "quant_conv.weight" in vae,
        "use_post_quant_conv": "post_quant_conv.weight" in vae,
        "scaling_factor": scaling_factor,
    }


def _level_channels(vae: Mapping[str, tuple[int, ...]]) -> list[int]:
    channels = []
    while f"encoder.down.{len(channels)}.block.0.conv1.weight" in vae:
        channels.append(vae[f"encoder.down.{len(channels)}.block.0.conv1.weight"][0])
    if not channels:
        raise LayoutError("no encoder levels")
    return channels


def _count(vae: Mapping[str, object], pattern: str) -> int:
    compiled = re.compile(pattern)
    indices = {int(m.group(1)) for key in vae if (m := compiled.match(key))}
    return max(indices) + 1 if indices else 0
