"""How much memory a device has free and how much a module's weights take: the two numbers placement rests on."""
from __future__ import annotations

import logging

import torch

from graph_engine.memory import available_memory

log = logging.getLogger(__name__)


def module_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers; a tensor shared by several submodules is counted once."""
    seen: set = set()
    total = 0
    for tensor in (*module.parameters(), *module.buffers()):
        pointer = tensor.data_ptr() if tensor.device.type != "meta" else 0
        key = (tensor.device, pointer, tensor.nbytes) if pointer else id(tensor)
        if key not in seen:
            seen.add(key)
            total += tensor.nbytes
    return total


def free_device_memory(device: torch.device) -> int:
    """Bytes a new allocation could use on `device`: CUDA's free memory plus what torch's cache holds unused;
    for the CPU (and MPS, which shares it) the memory the system says is available."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return free + max(cached, 0)
    return available_system_memory()


def available_system_memory() -> int:
    """The memory this process can still allocate: MemAvailable, capped by its `ulimit -v/-d` room (see
    graph_engine.memory); 0 when the system does not say."""
    available = available_memory()
    if available is None:
        log.warning("cannot tell how much system memory is free; assuming none is")
        return 0
    return available


def empty_cache(device: torch.device) -> None:
    """Hand memory torch keeps cached back to the device, so other processes and our own measurements see it."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def same_device(a: torch.device, b: torch.device) -> bool:
    """cuda and cuda:0 are the same device when 0 is the current one."""
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" and torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index
