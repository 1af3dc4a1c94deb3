"""Where model weights live: one manager for the compute and offload devices (--cpu, --gpu-only, --lowvram,
--dtype), LRU eviction to fit free memory, and out-of-memory errors explained and retried once."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .out_of_memory import (NodeOutOfMemoryError, describe_out_of_memory, is_out_of_memory, requested_memory,
                            run_with_memory_retry)
from .settings import DTYPES, MODES, DeviceSettings, request_device_settings, requested_device_settings

if TYPE_CHECKING:
    from .current import configure_devices, model_manager
    from .manager import ModelManager, ResidentModel
    from .memory import free_device_memory, module_bytes
    from .stats import device_stats, unload_models

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"ModelManager": "manager", "ResidentModel": "manager", "configure_devices": "current",
         "model_manager": "current", "module_bytes": "memory", "free_device_memory": "memory",
         "device_stats": "stats", "unload_models": "stats"}

__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "DTYPES", "MODES", "DeviceSettings", "NodeOutOfMemoryError", "describe_out_of_memory", "is_out_of_memory",
    "request_device_settings", "requested_device_settings",
    "requested_memory", "run_with_memory_retry", *sorted(_LAZY),
]
