"""Build modules on the meta device (no memory, no random init) and fill them by assigning the file's tensors."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from .errors import CheckpointError

log = logging.getLogger(__name__)

ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

# The torch.nn.init functions the layers' reset_parameters call (Linear, Conv, Embedding, GroupNorm, LayerNorm).
INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
                  "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")


def empty_module(build: Callable[[], ModuleT]) -> ModuleT:
    """Run `build` with the meta device as default: parameters get shapes but no storage and no initial values.

    The layers' own weight initialisation is switched off while they are built (as diffusers' and transformers'
    loaders do): on meta it computes nothing, yet each call still goes through torch's dispatch, over a third of
    building a UNet."""
    with torch.device("meta"), _initialisation_skipped():
        return build()


@contextmanager
def _initialisation_skipped() -> Iterator[None]:
    """torch.nn.init's functions replaced by no-ops for the duration (the layers look them up at each call)."""
    originals = {name: getattr(torch.nn.init, name) for name in INIT_FUNCTIONS}
    for name in INIT_FUNCTIONS:
        setattr(torch.nn.init, name, _no_initialisation)
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(torch.nn.init, name, function)


def _no_initialisation(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
    return tensor


def fill_module(module: ModuleT, weights: Mapping[str, torch.Tensor], *, component: str, path: Path,
                device: torch.device) -> ModuleT:
    """Assign `weights` (already on `device`) as the module's parameters, check nothing is missing or misshapen,
    rebuild the buffers modules compute themselves, and set the module up for inference."""
    slots = _weight_slots(module)
    expected = {key: slot.tensor for key, slot in slots.items()} if slots is not None else module.state_dict()
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
    if slots is not None:
        for key, slot in slots.items():
            slot.assign(weights[key])
    else:
        module.load_state_dict({key: weights[key] for key in expected}, strict=True, assign=True)
    _rebuild_computed_buffers(module, device)
    module.requires_grad_(False)
    return module.eval()


@dataclass(frozen=True)
class _WeightSlot:
    """Where one state-dict entry lives: the module holding it, its name there, and the (meta) tensor now in it."""

    owner: torch.nn.Module
    name: str
    tensor: torch.Tensor
    is_parameter: bool

    def assign(self, value: torch.Tensor) -> None:
        """What load_state_dict(assign=True) ends with for this entry, then requires_grad_(False)."""
        if self.is_parameter:
            self.owner._parameters[self.name] = torch.nn.Parameter(value, requires_grad=False)
        else:
            self.owner._buffers[self.name] = value


def _weight_slots(module: torch.nn.Module) -> dict[str, _WeightSlot] | None:
    """The module's state-dict entries by name, in state_dict's order, with where each lives: so the weights can be
    assigned directly, without load_state_dict's per-module walk over every key (a large share of a load's Python
    time). None when some module customises saving or loading its state (then only load_state_dict is right)."""
    if type(module).load_state_dict is not torch.nn.Module.load_state_dict:
        return None
    slots: dict[str, _WeightSlot] = {}
    for prefix, owner in module.named_modules(remove_duplicate=False):
        if _customises_state_dict(owner):
            return None
        dotted = prefix + "." if prefix else ""
        for name, tensor in owner._parameters.items():
            if tensor is not None:
                slots[dotted + name] = _WeightSlot(owner, name, tensor, True)
        for name, tensor in owner._buffers.items():
            if tensor is not None and name not in owner._non_persistent_buffers_set:
                slots[dotted + name] = _WeightSlot(owner, name, tensor, False)
    return slots


def _customises_state_dict(module: torch.nn.Module) -> bool:
    kind = type(module)
    return (kind._load_from_state_dict is not torch.nn.Module._load_from_state_dict
            or kind._save_to_state_dict is not torch.nn.Module._save_to_state_dict
            or bool(module._load_state_dict_pre_hooks or module._load_state_dict_post_hooks
                    or module._state_dict_hooks or module._state_dict_pre_hooks))


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
