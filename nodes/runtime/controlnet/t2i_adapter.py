"""A T2I-Adapter file (TencentARC's layout or diffusers') as a diffusers T2IAdapter.

TencentARC numbers the full adapter's res blocks in one list (`body.<level * blocks + block>`) and the light one's
inside each level (`body.<level>.body.<block>`); diffusers nests both as `adapter.body.<level>.resnets.<block>`.
Only the variants diffusers builds exist in the published files: 1x1 second convolutions, no skip convolutions,
average-pool downsampling; anything else is refused by name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoints.checkpoint_file import CheckpointFile
from ..checkpoints.conversion import LazyWeights
from ..checkpoints.meta_modules import empty_module, fill_module
from .detection import ControlLayout, Shapes
from .errors import ControlNetError

XL_INPUT_WIDTHS = (256, 768)  # 1 or 3 image channels unshuffled by 16: SDXL adapters (ComfyUI's rule)
LEVELS = 4


@dataclass(frozen=True)
class AdapterConfig:
    """diffusers T2IAdapter arguments, with the file's key -> diffusers name."""

    adapter_type: str  # "full_adapter", "full_adapter_xl" or "light_adapter"
    in_channels: int  # image channels the adapter reads (1 for sketches, 3 otherwise)
    channels: tuple[int, ...]
    num_res_blocks: int
    downscale_factor: int
    renames: dict[str, str]

    @property
    def xl(self) -> bool:
        return self.adapter_type == "full_adapter_xl"

    def arguments(self) -> dict:
        return {"in_channels": self.in_channels, "channels": list(self.channels),
                "num_res_blocks": self.num_res_blocks, "downscale_factor": self.downscale_factor,
                "adapter_type": self.adapter_type}


def adapter_config(shapes: Shapes, layout: ControlLayout, path: Path) -> AdapterConfig:
    """What the adapter in `shapes` is and how its keys map to diffusers' names."""
    renames = {key: key for key in shapes} if layout.layout == "diffusers" else _tencentarc_renames(shapes)
    named = {new: shapes[old] for old, new in renames.items()}
    if "adapter.conv_in.weight" in named:
        return _full_config(named, renames, path)
    return _light_config(named, renames, path)


def _tencentarc_renames(shapes: Shapes) -> dict[str, str]:
    flat = {int(m[1]) for key in shapes if (m := re.match(r"body\.(\d+)\.block1\.", key))}
    blocks = (max(flat) + 1) // LEVELS if flat else 0  # res blocks per level of a full adapter
    return {key: _diffusers_name(key, blocks) for key in shapes}


def _diffusers_name(key: str, blocks: int) -> str:
    if match := re.fullmatch(r"body\.(\d+)\.body\.(\d+)\.(.+)", key):  # light adapter
        return f"adapter.body.{match[1]}.resnets.{match[2]}.{match[3]}"
    if blocks and (match := re.fullmatch(r"body\.(\d+)\.(block1|block2|in_conv)\.(.+)", key)):
        level, block = divmod(int(match[1]), blocks)
        if match[2] == "in_conv":  # the first block of a level changes the channels
            return f"adapter.body.{level}.in_conv.{match[3]}"
        return f"adapter.body.{level}.resnets.{block}.{match[2]}.{match[3]}"
    return "adapter." + key


def _full_config(named: Shapes, renames: dict[str, str], path: Path) -> AdapterConfig:
    unusual = [key for key in named if ".skep." in key or ".down_opt." in key]
    if unusual:
        raise ControlNetError(path, f"{path} is a T2I-Adapter variant with skip or strided downsampling convolutions "
                                    f"('{unusual[0]}'), which Latentloom cannot run.")
    blocks = len({m[1] for key in named if (m := re.match(r"adapter\.body\.0\.resnets\.(\d+)\.", key))})
    second = named.get("adapter.body.0.resnets.0.block2.weight")
    if second is None or tuple(second[2:]) != (1, 1):
        raise ControlNetError(path, f"{path} is a T2I-Adapter variant whose res blocks are not 3x3 then 1x1 "
                                    f"convolutions, which Latentloom cannot run.")
    channels = tuple(int(named[f"adapter.body.{level}.resnets.0.block1.weight"][0]) for level in range(LEVELS))
    width = int(named["adapter.conv_in.weight"][1])
    xl = width in XL_INPUT_WIDTHS
    factor = 16 if xl else 8
    return AdapterConfig("full_adapter_xl" if xl else "full_adapter", width // factor ** 2, channels, blocks, factor,
                         renames)


def _light_config(named: Shapes, renames: dict[str, str], path: Path) -> AdapterConfig:
    levels = len({m[1] for key in named if (m := re.match(r"adapter\.body\.(\d+)\.out_conv\.weight", key))})
    outs = [int(named[f"adapter.body.{level}.out_conv.weight"][0]) for level in range(levels)]
    if levels != LEVELS or outs[-1] != outs[-2]:
        raise ControlNetError(path, f"{path} is a light T2I-Adapter of {levels} levels ({outs} channels), not the "
                                    f"published shape this loader builds.")
    blocks = len({m[1] for key in named if (m := re.match(r"adapter\.body\.0\.resnets\.(\d+)\.", key))})
    return AdapterConfig("light_adapter", int(named["adapter.body.0.in_conv.weight"][1]) // 64, tuple(outs[:-1]),
                         blocks, 8, renames)


def build_adapter(checkpoint: CheckpointFile, layout: ControlLayout, device: torch.device,
                  dtype: torch.dtype) -> tuple[AdapterConfig, torch.nn.Module]:
    """The adapter's config and diffusers T2IAdapter, filled from the file."""
    from diffusers import T2IAdapter

    config = adapter_config(checkpoint.shapes, layout, checkpoint.path)
    weights = LazyWeights(checkpoint, device, dtype)
    state = {new: weights[old] for old, new in config.renames.items()}
    module = empty_module(lambda: T2IAdapter(**config.arguments()))
    return config, fill_module(module, state, component="T2I-Adapter", path=checkpoint.path, device=device)
