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
    layout = _state_layout(module)
    if layout is None:
        expected = module.state_dict()
    else:
        expected = {key: slot.tensor for key, slot in layout.slots.items()}
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
    if layout is None:
        module.load_state_dict({key: weights[key] for key in expected}, strict=True, assign=True)
        module.requires_grad_(False)
        _rebuild_computed_buffers(_computed_buffers(module), device)
        return module.eval()
    for key, slot in layout.slots.items():
        slot.assign(weights[key])
    _rebuild_computed_buffers(layout.computed, device)
    for owner in layout.modules:
        _stop_training(owner)
    return module


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


@dataclass(frozen=True)
class _ComputedBuffer:
    """A non-persistent buffer still on meta (no file holds it): its module, qualified name and meta tensor."""

    owner: torch.nn.Module
    qualified_name: str
    name: str
    tensor: torch.Tensor


@dataclass(frozen=True)
class _StateLayout:
    """All a fill needs to know of a module, found in one walk over it: its state-dict entries by name (in
    state_dict's order, with where each lives), its computed buffers, and every submodule."""

    slots: dict[str, _WeightSlot]
    computed: list[_ComputedBuffer]
    modules: list[torch.nn.Module]


def _state_layout(module: torch.nn.Module) -> _StateLayout | None:
    """The module's layout, so the weights can be assigned directly, without load_state_dict's per-module walk over
    every key, and the walks of requires_grad_, eval and the buffer rebuild (together a large share of a load's Python
    time). None when some module customises saving or loading its state (then only load_state_dict is right)."""
    if type(module).load_state_dict is not torch.nn.Module.load_state_dict:
        return None
    slots: dict[str, _WeightSlot] = {}
    computed: list[_ComputedBuffer] = []
    modules: list[torch.nn.Module] = []
    for prefix, owner in module.named_modules(remove_duplicate=False):
        if _customises_state_dict(owner):
            return None
        modules.append(owner)
        dotted = prefix + "." if prefix else ""
        for name, tensor in owner._parameters.items():
            if tensor is not None:
                slots[dotted + name] = _WeightSlot(owner, name, tensor, True)
        for name, tensor in owner._buffers.items():
            if tensor is None:
                continue
            if name not in owner._non_persistent_buffers_set:
                slots[dotted + name] = _WeightSlot(owner, name, tensor, False)
            elif tensor.is_meta:
                computed.append(_ComputedBuffer(owner, dotted + name, name, tensor))
    return _StateLayout(slots, computed, modules)


def _customises_state_dict(module: torch.nn.Module) -> bool:
    kind = type(module)
    return (kind._load_from_state_dict is not torch.nn.Module._load_from_state_dict
            or kind._save_to_state_dict is not torch.nn.Module._save_to_state_dict
            or bool(module._load_state_dict_pre_hooks or module._load_state_dict_post_hooks
                    or module._state_dict_hooks or module._state_dict_pre_hooks))


def _computed_buffers(module: torch.nn.Module) -> list[_ComputedBuffer]:
    """The buffers still on meta after a strict load: the non-persistent ones (not in any file)."""
    return [_ComputedBuffer(owner, f"{owner_name}.{name}" if owner_name else name, name, buffer)
            for owner_name, owner in module.named_modules()
            for name, buffer in owner.named_buffers(recurse=False) if buffer is not None and buffer.is_meta]


def _rebuild_computed_buffers(buffers: list[_ComputedBuffer], device: torch.device) -> None:
    """Recompute the computed buffers we know."""
    for buffer in buffers:
        if buffer.name != "position_ids":  # CLIP's 0..n-1, the only computed buffer in these models
            raise RuntimeError(f"buffer {buffer.qualified_name} has no value after loading")
        value = torch.arange(buffer.tensor.shape[-1], device=device).expand(buffer.tensor.shape)
        buffer.owner.register_buffer(buffer.name, value, persistent=False)


def _stop_training(module: torch.nn.Module) -> None:
    """`module.train(False)` for this module alone: its flag set directly unless its class changes what train does."""
    if type(module).train is torch.nn.Module.train:
        module.__dict__["training"] = False  # where Module keeps it; its __setattr__ checks cost more than the set
    else:
        module.train(False)


def meta_tensors(module: torch.nn.Module) -> list[str]:
    """Names of parameters and buffers still without storage (empty after a successful fill)."""
    return [name for name, tensor in [*module.named_parameters(), *module.named_buffers()] if tensor.is_meta]
