"""A diffusion model (UNet) saved on its own (models/diffusion_models, models/unet), as ComfyUI's UNETLoader reads it.

Two layouts occur: the original one, a checkpoint's `model.diffusion_model.*` weights with or without that prefix,
and diffusers' (`conv_in`, `down_blocks.N` ...: a pipeline's unet/ weights file). Both are seen through the original
names, so the checkpoint's detection and conversion apply unchanged. Without the text encoders the family is told by
the UNet itself: SDXL adds size conditioning (`label_emb`), SD2.x projects into its transformers with linear layers,
SD1.x with 1x1 convolutions (the text width would also tell, but not for models of unusual size).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .architecture import SUPPORTED, UNET_HEADS, Architecture, CheckpointArchitecture, survey
from .checkpoint_file import CheckpointFile, open_checkpoint_file
from .components import build_unet, empty_unet
from .conversion import LazyWeights
from .errors import MisplacedModelError, UnknownArchitectureError
from .families import foreign_family
from .file_kinds import classify_file
from .ldm_layout import _unet_ldm_name
from .meta_modules import fill_module
from .prediction import PredictionChoice, choose_prediction_type
from .unet_config import UNET_PREFIX, LayoutError, infer_unet_config
from . import x4_upscaler

log = logging.getLogger(__name__)

Shapes = Mapping[str, Sequence[int]]

# SDXL turns each of its six size numbers into a 256-channel sinusoid; only the sum with the pooled width shows
SDXL_SIZE_EMBED_CHANNELS = 256
DIFFUSERS_MARKERS = ("conv_in.weight", "down_blocks.0.resnets.0.conv1.weight")
WHERE_IT_GOES = "models/diffusion_models (or models/unet), loaded with Load Diffusion Model (UNETLoader)"


class PrefixedFile:
    """An open model file seen with `prefix` before every key (and its diffusers names as the original ones), so a
    lone UNet reads like the UNet of a full checkpoint."""

    def __init__(self, checkpoint: CheckpointFile, names: Mapping[str, str]) -> None:
        self.checkpoint = checkpoint
        self.path = checkpoint.path
        self.metadata = checkpoint.metadata
        self._stored = names  # name seen here -> key in the file
        self.shapes = {seen: checkpoint.shapes[key] for seen, key in names.items()}

    def tensor(self, key: str) -> torch.Tensor:
        return self.checkpoint.tensor(self._stored[key])

    def stored_dtype(self, key: str) -> torch.dtype:
        return self.checkpoint.stored_dtype(self._stored[key])


@dataclass
class LoadedUnet:
    """A lone UNet ready for inference, with what was detected about it."""

    unet: object  # unet_model.UNetModel
    architecture: Architecture
    prediction: PredictionChoice
    path: Path


def load_unet_file(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                   storage_dtype: torch.dtype | None = None) -> LoadedUnet:
    """Detect and build a lone UNet on meta, then fill it from the file on `device` as `dtype`.

    With `storage_dtype` (float8, ComfyUI's weight_dtype), every weight is first rounded to that type, so the model
    computes with the same values as one whose weights are stored in it.
    """
    device = torch.device(device)
    with open_checkpoint_file(path) as checkpoint:
        diffusers_layout = _refuse_non_unet(checkpoint)
        seen = PrefixedFile(checkpoint, _original_names(checkpoint.shapes, diffusers_layout))
        architecture, config = detect_lone_unet(seen.shapes, checkpoint.path)
        prediction = choose_prediction_type(seen, CheckpointArchitecture(architecture, config, {}, ()))
        if diffusers_layout:
            weights = LazyWeights(checkpoint, device, dtype)  # already named as the module's parameters
            unet = fill_module(empty_unet(config), {key: weights[key] for key in checkpoint.shapes},
                               component="UNet", path=checkpoint.path, device=device)
        else:
            unet = build_unet(config, LazyWeights(seen, device, dtype), checkpoint.path, device)
    if storage_dtype is not None:
        _round_weights_through(unet, storage_dtype)
    log.info("loaded %s: %s diffusion model (%s, %s)", checkpoint.path.name, architecture,
             prediction.prediction_type, prediction.reason)
    return LoadedUnet(unet, architecture, prediction, checkpoint.path)


def detect_lone_unet(shapes: Shapes, path: str | Path = "diffusion model") -> tuple[Architecture, dict]:
    """The family and diffusers config of a UNet in the original layout (keys under `model.diffusion_model.`)."""
    unet = {key: shape for key, shape in shapes.items() if key.startswith(UNET_PREFIX)}
    if UNET_PREFIX + "label_emb.0.0.weight" in unet:
        architecture = Architecture.SDXL
        pooled = int(unet[UNET_PREFIX + "label_emb.0.0.weight"][1]) - 6 * SDXL_SIZE_EMBED_CHANNELS
    else:
        projections = {len(shape) for key, shape in unet.items() if key.endswith("proj_in.weight")}
        architecture = Architecture.SD2 if projections == {2} else Architecture.SD1
        pooled = None
    try:
        heads = x4_upscaler.HEADS if x4_upscaler.is_x4_upscaler(unet) else UNET_HEADS[architecture]
        config = infer_unet_config(unet, pooled_width=pooled, **heads)
    except LayoutError as error:
        raise UnknownArchitectureError(path, f"{path} is not a diffusion model this loader can build: {error}. "
                                             f"Recognised: {'; '.join(survey(shapes))}. {SUPPORTED}") from None
    if architecture is Architecture.SD2:
        config["upcast_attention"] = True  # as for SD2.x checkpoints
    return architecture, config


def _refuse_non_unet(checkpoint: CheckpointFile) -> bool:
    """Raise for files that are not a lone UNet (saying what they are and where they go); True for the diffusers
    layout, False for the original one."""
    shapes, path = checkpoint.shapes, checkpoint.path
    foreign = foreign_family(shapes)
    if foreign is not None:
        raise UnknownArchitectureError(path, f"{path} is {foreign.description}: {foreign.unsupported}.")
    if all(key.startswith(UNET_PREFIX) for key in shapes) or "input_blocks.0.0.weight" in shapes:
        return False
    if all(marker in shapes for marker in DIFFUSERS_MARKERS) and not any(key.startswith(UNET_PREFIX) for key in shapes):
        return True
    found = classify_file(shapes, checkpoint.metadata, str(path))
    if found.kind == "unknown":
        raise UnknownArchitectureError(path, f"{path} is not a diffusion model: no UNet weights (input_blocks.* or "
                                             f"diffusers' down_blocks.*). Recognised: {'; '.join(survey(shapes))}.")
    base = f" ({found.base})" if found.base and found.kind == "checkpoint" else ""
    raise MisplacedModelError(path, f"{path} is {found.description}{base}, not a diffusion model alone "
                                    f"(which goes in {WHERE_IT_GOES}): {found.advice}", kind=found.kind)


def _original_names(shapes: Shapes, diffusers_layout: bool) -> dict[str, str]:
    """Original (checkpoint) name -> the file's key."""
    if not diffusers_layout:
        return {key if key.startswith(UNET_PREFIX) else UNET_PREFIX + key: key for key in shapes}
    layers = len({m[1] for key in shapes if (m := re.match(r"down_blocks\.0\.resnets\.(\d+)\.", key))})
    levels = len({m[1] for key in shapes if (m := re.match(r"up_blocks\.(\d+)\.", key))})
    up_attends = [any(key.startswith(f"up_blocks.{level}.attentions.") for key in shapes) for level in range(levels)]
    names = {}
    for key in shapes:
        try:
            names[UNET_PREFIX + _unet_ldm_name(key, layers, up_attends)] = key
        except KeyError:
            log.warning("ignoring weight %s, which no Stable Diffusion UNet has", key)
    return names


def _round_weights_through(module: torch.nn.Module, storage_dtype: torch.dtype) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.is_floating_point():
                parameter.copy_(parameter.to(storage_dtype).to(parameter.dtype))
