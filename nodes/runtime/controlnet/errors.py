"""The error a user sees when a ControlNet or T2I-Adapter file cannot be used; it names the file and what to do."""
from __future__ import annotations

from ..checkpoints.errors import CheckpointError


class ControlNetError(CheckpointError):
    """A file given as a ControlNet or T2I-Adapter is something else, of another family, or a kind not supported."""
