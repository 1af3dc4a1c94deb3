"""Load a single-file SD1.x/SD2.x/SDXL checkpoint into our UNet, diffusers' VAE and our CLIP text models, on a device
and dtype."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .architecture import Architecture, CheckpointArchitecture, detect_architecture
from .checkpoint_file import open_checkpoint_file
from .components import (empty_text_encoder, empty_unet, empty_vae, fill_text_encoder, fill_unet,
                         fill_vae)
from .conversion import LazyWeights, keys_converted
from .file_kinds import refuse_non_checkpoint
from .prediction import PredictionChoice, choose_prediction_type

log = logging.getLogger(__name__)

# Files smaller than this are read on demand, as the modules are filled: their reads take milliseconds, and reading
# threads started first only contend with building the modules for the interpreter (bench/pipeline.py --parts b: the
# demo model loaded in 39-42 ms that way, 48-60 ms with threads).
READ_AHEAD_MIN_BYTES = 32 * 1024 * 1024


@dataclass
class LoadedCheckpoint:
    """The modules of one checkpoint, ready for inference, with what was detected about it."""

    unet: Any  # our UNetModel (models/unet_model.py)
    vae: Any  # our AutoencoderKl (models/autoencoder.py)
    text_encoders: tuple[Any, ...]  # ClipTextModel, in the order of detected.text_encoders
    architecture: Architecture
    prediction_type: str  # "epsilon" or "v_prediction"
    detected: CheckpointArchitecture
    prediction: PredictionChoice
    path: Path


@dataclass(frozen=True)
class CheckpointSummary:
    """What a checkpoint is, found without building any module."""

    path: Path
    file_format: str
    detected: CheckpointArchitecture
    prediction: PredictionChoice


def inspect_checkpoint(path: str | Path) -> CheckpointSummary:
    """Detect a checkpoint's architecture, configs and prediction type (reads the header and at most one tensor)."""
    with open_checkpoint_file(path) as checkpoint:
        refuse_non_checkpoint(checkpoint.path, checkpoint.shapes, checkpoint.metadata)
        detected = detect_architecture(checkpoint.shapes, checkpoint.path)
        prediction = choose_prediction_type(checkpoint, detected)
        return CheckpointSummary(checkpoint.path, checkpoint.format, detected, prediction)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> LoadedCheckpoint:
    """Build the UNet, VAE and text encoder(s) of a checkpoint on meta, then fill them from the file.

    Each tensor is read once, into memory of its own (never mapped, so the modules do not depend on the file
    staying as it is), and goes straight to `device` as `dtype`; the reads of a file of READ_AHEAD_MIN_BYTES or
    more start on background threads once the architecture is known and run while the empty modules are built.
    Raises a CheckpointError subclass, written for the user, when the file is broken, unsafe, not a checkpoint, of
    an unknown architecture, or changed while it was being read.
    """
    started = time.perf_counter()
    device = torch.device(device)
    with open_checkpoint_file(path) as checkpoint:
        refuse_non_checkpoint(checkpoint.path, checkpoint.shapes, checkpoint.metadata)
        detected = detect_architecture(checkpoint.shapes, checkpoint.path)
        prediction = choose_prediction_type(checkpoint, detected)
        weights = LazyWeights(checkpoint, device, dtype)
        if checkpoint.identity is None or checkpoint.identity.size >= READ_AHEAD_MIN_BYTES:
            weights.read_ahead(keys_converted(detected, checkpoint.shapes))
        unet, vae = empty_unet(detected.unet_config), empty_vae(detected.vae_config)
        empty_encoders = [empty_text_encoder(spec) for spec in detected.text_encoders]
        unet = fill_unet(unet, weights, checkpoint.path, device)
        vae = fill_vae(vae, weights, checkpoint.path, device)
        text_encoders = tuple(fill_text_encoder(module, spec, weights, checkpoint.path, device)
                              for module, spec in zip(empty_encoders, detected.text_encoders))
    log.info("loaded %s: %s, %s (%s), %s on %s in %.3f s", checkpoint.path.name, detected.architecture,
             prediction.prediction_type, prediction.reason, str(dtype).removeprefix("torch."), device,
             time.perf_counter() - started)
    return LoadedCheckpoint(unet=unet, vae=vae, text_encoders=text_encoders, architecture=detected.architecture,
                            prediction_type=prediction.prediction_type, detected=detected, prediction=prediction,
                            path=checkpoint.path)
