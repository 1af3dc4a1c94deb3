"""--lowvram: a model stays on the offload device and each submodule's own weights visit the compute device only
for that submodule's forward, so peak device memory is about one layer's weights plus activations."""
from __future__ import annotations

from functools import partial

import torch
from torch.utils.hooks import RemovableHandle


def move_own_tensors(module: torch.nn.Module, device: torch.device) -> None:
    """Move the parameters and buffers a module holds itself (not its children's) to `device`."""
    if not any(True for _ in module.children()):
        module.to(device)
        return
    for parameter in module.parameters(recurse=False):
        parameter.data = parameter.data.to(device)
    for name, buffer in module.named_buffers(recurse=False):
        module._buffers[name] = buffer.to(device)


def _holds_tensors(module: torch.nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def _arrive(device: torch.device, module: torch.nn.Module, _inputs) -> None:
    move_own_tensors(module, device)


def _leave(device: torch.device, module: torch.nn.Module, _inputs, _output) -> None:
    move_own_tensors(module, device)


def install_streaming_hooks(module: torch.nn.Module, compute: torch.device,
                            offload: torch.device) -> list[RemovableHandle]:
    """Put `module` on `offload` and hook every submodule holding weights to bring them to `compute` for its
    forward and send them back after; returns the handles that undo it. Weights used outside their own
    submodule's forward (tied embeddings read by a parent) are not covered."""
    module.to(offload)
    handles: list[RemovableHandle] = []
    for submodule in module.modules():
        if _holds_tensors(submodule):
            handles.append(submodule.register_forward_pre_hook(partial(_arrive, compute)))
            handles.append(submodule.register_forward_hook(partial(_leave, offload), always_call=True))
    return handles


def remove_streaming_hooks(handles: list[RemovableHandle]) -> None:
    for handle in handles:
        handle.remove()
    handles.clear()
