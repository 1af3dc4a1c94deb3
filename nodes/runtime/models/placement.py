"""Where a MODEL's weights compute and wait, and their size: the attributes of ComfyUI's ModelPatcher that plugins
read (`load_device`, `offload_device`, `model_size()`, `model_dtype()`), answered by Latentloom's model manager."""
from __future__ import annotations

from typing import Any

import torch

from ..devices import model_manager, module_bytes


class ModelPlacement:
    """Mixed into DiffusionModel, whose `unet` is the module these describe."""

    unet: Any
    dtype: torch.dtype

    @property
    def load_device(self) -> torch.device:
        """The device the model computes on (the manager moves it there before it runs)."""
        return model_manager().compute_device

    @property
    def offload_device(self) -> torch.device:
        """Where the weights wait while other models need the compute device's memory."""
        return model_manager().offload_device

    def model_size(self) -> int:
        """Bytes of the UNet's weights."""
        return module_bytes(self.unet)

    def model_dtype(self) -> torch.dtype:
        """The dtype the UNet computes in."""
        return self.dtype
