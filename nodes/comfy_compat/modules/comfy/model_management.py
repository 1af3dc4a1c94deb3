"""ComfyUI's `comfy.model_management` for plugins: Latentloom's devices, cache release and interrupt check.

Interrupts act on the node running in the calling thread; outside a run there is nothing to stop.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from graph_engine import Interrupted, current_context

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

InterruptProcessingException = Interrupted  # what ComfyUI's check raises; plugins catch it by this name


def get_torch_device() -> "torch.device":
    """The device models compute on (a GPU when there is one and it is allowed, else the CPU)."""
    from nodes.runtime.devices import model_manager

    return model_manager().compute_device


def unet_offload_device() -> "torch.device":
    """Where weights wait while they are not computing."""
    from nodes.runtime.devices import model_manager

    return model_manager().offload_device


def intermediate_device() -> "torch.device":
    """Where node outputs (images, latents between nodes) live: the CPU, as in ComfyUI's default mode."""
    import torch

    return torch.device("cpu")


def soft_empty_cache(force: bool = False) -> None:
    """Hand the memory torch keeps cached back to the compute device."""
    from nodes.runtime.devices.memory import empty_cache

    empty_cache(get_torch_device())


def unload_all_models() -> None:
    from nodes.runtime.devices import unload_models

    unload_models()


def interrupt_current_processing(value: bool = True) -> None:
    """Ask the run of the calling thread to stop (value False withdraws the request)."""
    context = current_context()
    if context is None:
        log.debug("interrupt_current_processing called outside a run; nothing to interrupt")
        return
    if value:
        context.interrupt_flag.set()
    else:
        context.interrupt_flag.clear()


def processing_interrupted() -> bool:
    context = current_context()
    return context is not None and context.interrupt_flag.is_set()


def throw_exception_if_processing_interrupted() -> None:
    """Raise InterruptProcessingException when the user asked the running prompt to stop."""
    context = current_context()
    if context is not None:
        context.check_interrupted()
