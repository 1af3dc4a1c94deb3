"""Build modules on the meta device (no memory, no random init) and fill them by assigning the file's tensors."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import torch

from .errors import CheckpointError

log = logging.getLogger(__name__)

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


def empty_module(build: Callable[[], ModuleT]) -> ModuleT:
    """Run `build` with the meta device as default: parameters get shapes but no storage and no initial values."""
    with torch.device("meta"):
        return build()


def fill_module(module: ModuleT, weights: Mapping[str, torch.Tensor], *, component: str, path: Path,
                device: torch.device) -> ModuleT:
    """Assign `weights` (already on `device`) as the module's parameters, check nothing is missing or misshapen,
    rebuild the buffers modules compute themselves, and set the module up for inference."""
    expected = module.state_dict()  # meta tensors: names and shapes only
    missing = [key for key in expected if key not in weights]
    if missing:
        raise CheckpointError(path, f"{path}: the {component} lacks {len(missing)} of its {len(expected)} weights "
                                    f"(for example '{missing[0]}'). The file is incomplete or a variant this loader "
                                    f"does not know.")
    unexpected = [key for key in weights if key not in expected]
    if unexpected:
        log.warning("%s: ignoring %d weights the %s does not use, e.g. %s", path.name, len(unexpected), component,
                    unexpected[:3])
    misshapen = [key for key, value in expected.items() if tuple(weights[key].shape) != tuple(value.shape)]
    if misshapen:
        key = misshapen[0]
        raise CheckpointError(path, f"{path}: the {component} weight '{key}' has shape {tuple(weights[key].shape)} "
                                    f"where {tuple(expected[key].shape)} was inferred ({len(misshapen)} such "
                                    f"weights). The file is a variant this loader does not know.")
    module.load_state_dict({key: weights[key] for key in expected}, strict=True, assign=True)
    _rebuild_computed_buffers(module, device)
    module.requires_grad_(False)
    return module.eval()


def _rebuild_computed_buffers(module: torch.nn.Module, device: torch.device) -> None:
    """Buffers still on meta after a strict load are the non-persistent ones (not in any file); recompute those we
    know."""
    for owner_name, owner in module.named_modules():
        for name, buffer in list(owner.named_buffers(recurse=False)):
            if buffer is None or not buffer.is_meta:
                continue
            if name != "position_ids":  # CLIP's 0..n-1, the only computed buffer in these models
                raise RuntimeError(f"buffer {owner_name}.{name} has no value after loading")
            value = torch.arange(buffer.shape[-1], device=device).expand(buffer.shape)
            owner.register_buffer(name, value, persistent=False)


def meta_tensors(module: torch.nn.Module) -> list[str]:
    """Names of parameters and buffers still without storage (empty after a successful fill)."""
    return [name for name, tensor in [*module.named_parameters(), *module.named_buffers()] if tensor.is_meta]
