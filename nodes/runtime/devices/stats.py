"""The devices as ComfyUI's /system_stats lists them: name, type, index and memory, read from torch."""
from __future__ import annotations

import os
from typing import Any

import torch

from .current import model_manager
from .memory import available_system_memory


def _cpu_entry() -> dict[str, Any]:
    free = available_system_memory()
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = free
    return {"name": "cpu", "type": "cpu", "index": None, "vram_total": total, "vram_free": free,
            "torch_vram_total": 0, "torch_vram_free": 0}


def _cuda_entry(index: int) -> dict[str, Any]:
    free, total = torch.cuda.mem_get_info(index)
    reserved = torch.cuda.memory_reserved(index)
    allocated = torch.cuda.memory_allocated(index)
    return {"name": f"cuda:{index} {torch.cuda.get_device_name(index)}", "type": "cuda", "index": index,
            "vram_total": total, "vram_free": free + max(reserved - allocated, 0),
            "torch_vram_total": reserved, "torch_vram_free": max(reserved - allocated, 0)}


def device_stats() -> dict[str, Any]:
    """{"pytorch_version", "devices": [...]}: the compute device first, as ComfyUI lists only that one."""
    device = model_manager().compute_device
    entry = _cuda_entry(device.index or 0) if device.type == "cuda" else _cpu_entry()
    return {"pytorch_version": torch.__version__, "devices": [entry]}


def unload_models() -> None:
    """Move every model off the compute device (ComfyUI's /free unload_models)."""
    model_manager().free()
