"""How the engine's cache measures tensors and modules, registered by type name so torch is never imported here.

A module counts its parameters and buffers once each by storage, so a MODEL, CLIP and VAE from one checkpoint
report what they really hold; memory-mapped CPU weights count as RAM, like any other CPU tensor.
"""
from __future__ import annotations

from typing import Any

from graph_engine import Sizer


def tensor_bytes(tensor: Any) -> dict[str, int]:
    return {tensor.device.type: tensor.numel() * tensor.element_size()}


def module_bytes_by_device(module: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    seen: set[int] = set()
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_meta or tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        device = tensor.device.type
        totals[device] = totals.get(device, 0) + tensor.numel() * tensor.element_size()
    return totals


def register_torch_sizes(sizer: Sizer) -> Sizer:
    sizer.register("torch.Tensor", tensor_bytes)
    sizer.register("torch.nn.modules.module.Module", module_bytes_by_device)
    return sizer
