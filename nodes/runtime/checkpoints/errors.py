"""Errors a user sees when a checkpoint file cannot be loaded; each names the file and what to do."""
from __future__ import annotations

from pathlib import Path

from graph_engine import UserFacingError


class CheckpointError(UserFacingError):
    """A checkpoint file could not be loaded; the message is written for the user."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        super().__init__(message)


class CorruptCheckpointError(CheckpointError):
    """The file is truncated or is not the format its name says (often an interrupted download)."""


class FileChangedError(CorruptCheckpointError):
    """The file was overwritten, truncated or replaced while it was being read, so what was read is of no version."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, f"{path} changed while it was being read (it was overwritten or replaced during the "
                               f"load). Run again once the new file is complete.")


class UnsafePickleError(CheckpointError):
    """A pickle file needs more than plain tensors to load, which would let it run code."""


class NotACheckpointError(CheckpointError):
    """The file is a LoRA, a VAE, an embedding or another part, not a full checkpoint."""

    def __init__(self, path: str | Path, message: str, kind: str) -> None:
        self.kind = kind
        super().__init__(path, message)


class MisplacedModelError(CheckpointError):
    """The file is a model of another kind than the loader reads (a checkpoint given as a UNet, a LoRA as a CLIP)."""

    def __init__(self, path: str | Path, message: str, kind: str) -> None:
        self.kind = kind
        super().__init__(path, message)


class UnknownArchitectureError(CheckpointError):
    """The weights do not match SD1.x, SD2.x or SDXL base; the message lists what was recognised."""


class MissingComponentError(CheckpointError):
    """A recognised checkpoint lacks a component (UNet, VAE or text encoder) needed to use it."""


class SidecarConfigError(CheckpointError):
    """The .yaml or .json file next to a checkpoint could not be read."""
