"""Single-file checkpoints (and their UNet or text encoders saved alone): open safely, detect SD1.x/SD2.x/SDXL from
shapes, load into diffusers modules."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .architecture import Architecture, CheckpointArchitecture, TextEncoderSpec, detect_architecture
from .checkpoint_file import CheckpointFile, open_checkpoint_file, read_all_tensors
from .errors import (CheckpointError, CorruptCheckpointError, FileChangedError, MisplacedModelError,
                     MissingComponentError, NotACheckpointError, SidecarConfigError, UnknownArchitectureError,
                     UnsafePickleError)
from .file_kinds import FileKind, classify_file, refuse_non_checkpoint
from .prediction import EPSILON, V_PREDICTION, PredictionChoice, read_sidecar

if TYPE_CHECKING:
    from .diffusers_folder import inspect_diffusers_folder, is_diffusers_folder, load_diffusers_folder
    from .loader import CheckpointSummary, LoadedCheckpoint, inspect_checkpoint, load_checkpoint

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"load_checkpoint": "loader", "LoadedCheckpoint": "loader", "inspect_checkpoint": "loader",
         "CheckpointSummary": "loader", "load_diffusers_folder": "diffusers_folder",
         "inspect_diffusers_folder": "diffusers_folder", "is_diffusers_folder": "diffusers_folder"}

__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "Architecture", "CheckpointArchitecture", "TextEncoderSpec", "detect_architecture",
    "CheckpointFile", "open_checkpoint_file", "read_all_tensors", "FileKind", "classify_file",
    "refuse_non_checkpoint",
    "CheckpointError", "CorruptCheckpointError", "FileChangedError", "MisplacedModelError", "MissingComponentError",
    "NotACheckpointError",
    "SidecarConfigError", "UnknownArchitectureError", "UnsafePickleError",
    "EPSILON", "V_PREDICTION", "PredictionChoice", "read_sidecar",
    "load_checkpoint", "LoadedCheckpoint", "inspect_checkpoint", "CheckpointSummary",
    "load_diffusers_folder", "inspect_diffusers_folder", "is_diffusers_folder",
]
