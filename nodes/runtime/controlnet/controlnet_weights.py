"""A ControlNet file (original or diffusers layout, diff ControlNets included) as a diffusers ControlNetModel.

Both layouts are first seen through the original names without prefix, so one shape-based detection (the UNet's,
reading the down path and middle block only) and diffusers' own LDM converter serve them all.
"""
from __future__ import annotations

import inspect
import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..checkpoints.architecture import UNET_HEADS, Architecture
from ..checkpoints.checkpoint_file import CheckpointFile
from ..checkpoints.conversion import LazyWeights
from ..checkpoints.ldm_layout import down_path_ldm_name
from ..checkpoints.lone_unet import SDXL_SIZE_EMBED_CHANNELS, PrefixedFile
from ..checkpoints.meta_modules import empty_module, fill_module
from ..checkpoints.unet_config import LayoutError, infer_unet_config
from .detection import ControlLayout, Shapes, UnsupportedControlModel, controlnet_family, diffusers_layers_per_block
from .errors import ControlNetError

log = logging.getLogger(__name__)

HINT_BLOCK_STEP = 4  # input_hint_block: conv, SiLU, then per level a conv keeping channels and one halving the size
ADDED_EMBEDDING = {"label_emb.0.0.": "add_embedding.linear_1.", "label_emb.0.2.": "add_embedding.linear_2."}


def original_names(shapes: Shapes, layout: ControlLayout) -> dict[str, str]:
    """Original name without prefix -> the file's key, for every weight of the ControlNet."""
    if layout.layout == "ldm":
        return {key[len(layout.prefix):]: key for key in shapes if key.startswith(layout.prefix)}
    layers = diffusers_layers_per_block(shapes)
    names = {}
    for key in shapes:
        try:
            names[original_name(key, layers)] = key
        except KeyError:
            log.warning("ignoring weight %s, which no ControlNet has", key)
    return names


def original_name(key: str, layers: int) -> str:
    """The original name (no prefix) of a diffusers ControlNetModel weight; `layers` is res blocks per level."""
    if match := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(weight|bias)", key):
        return f"zero_convs.{match[1]}.0.{match[2]}"
    if match := re.fullmatch(r"controlnet_mid_block\.(weight|bias)", key):
        return f"middle_block_out.0.{match[1]}"
    if match := re.fullmatch(r"controlnet_cond_embedding\.conv_in\.(weight|bias)", key):
        return f"input_hint_block.0.{match[1]}"
    if match := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(weight|bias)", key):
        return f"input_hint_block.{2 * (int(match[1]) + 1)}.{match[2]}"
    if match := re.fullmatch(r"controlnet_cond_embedding\.conv_out\.(weight|bias)", key):
        return f"input_hint_block.14.{match[1]}"  # after the six convolutions of any 8x hint embedding
    return down_path_ldm_name(key, layers)


def controlnet_config(shapes: Shapes, path: Path) -> tuple[Architecture, dict]:
    """The family and diffusers ControlNetModel config of a ControlNet in original names (no prefix)."""
    try:
        family = controlnet_family(shapes)
    except UnsupportedControlModel as error:
        raise ControlNetError(path, f"{path} is {error}: Latentloom runs SD1.x, SD2.x and SDXL ControlNets.") from None
    architecture = Architecture(family)
    pooled = None
    if "label_emb.0.0.weight" in shapes:
        pooled = int(shapes["label_emb.0.0.weight"][1]) - 6 * SDXL_SIZE_EMBED_CHANNELS
    try:
        unet = infer_unet_config(shapes, prefix="", with_up_path=False, pooled_width=pooled,
                                 **UNET_HEADS[architecture])
        embedding = hint_embedding_channels(shapes)
    except LayoutError as error:
        raise ControlNetError(path, f"{path} is not a ControlNet this loader can build: {error}.") from None
    accepted = _controlnet_parameters()
    config = {key: value for key, value in unet.items() if key in accepted}
    config.update(conditioning_channels=int(shapes["input_hint_block.0.weight"][1]),
                  conditioning_embedding_out_channels=embedding,
                  upcast_attention=architecture is Architecture.SD2)
    return architecture, config


def hint_embedding_channels(shapes: Shapes) -> tuple[int, ...]:
    """The hint embedding's widths (one per halving of the image), from `input_hint_block`'s convolutions."""
    channels = [int(shapes["input_hint_block.0.weight"][0])]
    index = HINT_BLOCK_STEP
    while f"input_hint_block.{index}.weight" in shapes and index < 14:
        channels.append(int(shapes[f"input_hint_block.{index}.weight"][0]))
        index += HINT_BLOCK_STEP
    if len(channels) != 4 or "input_hint_block.14.weight" not in shapes:
        raise LayoutError("its hint embedding (input_hint_block) does not shrink the image by 8")
    return tuple(channels)


def _controlnet_parameters() -> set[str]:
    from diffusers import ControlNetModel

    return set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}


def build_controlnet(checkpoint: CheckpointFile, layout: ControlLayout, device: torch.device, dtype: torch.dtype,
                     model: Any = None):
    """(architecture, ControlNetModel) filled from the file; a diff ControlNet's weights are offsets from the UNet of
    `model` (a DiffusionModel of its family), which are added."""
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    seen = PrefixedFile(checkpoint, original_names(checkpoint.shapes, layout))
    architecture, config = controlnet_config(seen.shapes, checkpoint.path)
    base = _diff_base(checkpoint.path, architecture, model) if layout.difference else None
    weights = LazyWeights(seen, device, dtype)
    state = convert_controlnet_checkpoint(weights, config)
    for old, new in ADDED_EMBEDDING.items():  # SDXL's size conditioning, which the converter leaves out
        for kind in ("weight", "bias"):
            if old + kind in weights:
                state[new + kind] = weights[old + kind]
    if base is not None:
        state = {key: value + base[key].to(value.device, value.dtype) if key in base else value
                 for key, value in state.items()}
    module = empty_module(lambda: ControlNetModel(**config))
    return architecture, fill_module(module, state, component="ControlNet", path=checkpoint.path, device=device)


def _diff_base(path: Path, architecture: Architecture, model: Any) -> dict[str, torch.Tensor]:
    """The UNet weights a diff ControlNet's offsets are added to: those of `model` as it samples (LoRAs on)."""
    if model is None:
        raise ControlNetError(path, f"{path} is a diff ControlNet: its weights are offsets from a model's own, so "
                                    f"load it with Load ControlNet Model (diff) (DiffControlNetLoader), giving it the "
                                    f"model it was made for.")
    if str(model.architecture) != str(architecture):
        raise ControlNetError(path, f"{path} is a diff ControlNet for {architecture} but the model it was given "
                                    f"({model.source}) is {model.architecture}: give it a {architecture} model.")
    model.prepare()
    return model.unet.state_dict()
