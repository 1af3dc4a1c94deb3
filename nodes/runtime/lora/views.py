"""Which weight patches the shared base modules carry right now, switched just before a model runs.

A patched MODEL or CLIP (a view) is the base handle plus a stack of weight patches: LoRAs as (LoraFile, strength),
and ComfyUI's `add_patches` groups (models/weight_patches.py: any entry with an `apply(components)` method that
returns the `AppliedPatches` it made). Its modules are the base model's own, so before they run, `ensure_patched`
makes their weights match the stack: nothing when they already do, else the previous stack is restored (the
original tensors go back) and the new one applied in order. Two branches of one workflow with different patches
therefore share one copy of the base weights, and a strength change never reads a file.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .deltas import AppliedPatches, apply_patches, restore
from .key_map import Target, build_key_map, lookup, model_components
from .lora_file import LoraFile

Stack = tuple  # (LoraFile, strength) pairs and weight-patch entries, in the order they were added

_STATE = "_latentloom_lora_state"
_KEYS = "_latentloom_lora_keys"


@dataclass
class _State:
    stack: Stack
    applied: list[AppliedPatches]  # in the order they were made; restored in reverse
    spare: dict  # buffers of earlier LoRA applications not in use now, kept so switching back writes no new memory


def key_map_of(owner: nn.Module, unet: nn.Module | None, text_encoders: Sequence[nn.Module]) -> dict[str, Target]:
    """The module's LoRA key map, built once and kept on the module."""
    found = owner.__dict__.get(_KEYS)
    if found is None:
        found = owner.__dict__[_KEYS] = build_key_map(unet, text_encoders)
    return found


def ensure_patched(stack: Stack, unet: nn.Module | None = None, text_encoders: Sequence[nn.Module] = ()) -> None:
    """Make the UNet, or the text encoders, carry exactly `stack` (patches for the other part are left to its own
    views). A model that never had a patch costs nothing here: no key map is built."""
    owner = unet if unet is not None else text_encoders[0]
    state = owner.__dict__.get(_STATE)
    if (state is None and not stack) or (state is not None and _same(state.stack, stack)):
        return
    components = model_components(unet, text_encoders)
    buffers: dict[Target, torch.Tensor] = dict(state.spare) if state is not None else {}
    for applied in reversed(state.applied if state is not None else []):
        restore(components, applied)
        buffers.update({target: tensor for target, tensor in applied.patched.items()
                        if tensor.dtype == torch.float32})  # the next stack's weights are written into these
    done = []
    for run in _runs(stack):
        if isinstance(run, list):
            key_map = key_map_of(owner, unet, text_encoders)
            patches = [(patch, strength) for lora, strength in run if strength for patch in lora.patches.values()
                       if (target := lookup(key_map, patch.key)) is not None and target.component in components]
            done.append(apply_patches(components, patches, key_map, buffers=buffers))
        else:
            done.append(run.apply(components))
    owner.__dict__[_STATE] = _State(tuple(stack), done, buffers)  # apply_patches took the buffers it used


def base_tensors(owner: nn.Module) -> dict[Target, torch.Tensor]:
    """The unpatched tensors of the parameters the current view replaced on `owner`'s modules."""
    state = owner.__dict__.get(_STATE)
    originals: dict[Target, torch.Tensor] = {}
    for applied in state.applied if state is not None else []:
        for target, tensor in applied.originals.items():
            originals.setdefault(target, tensor)  # the first application saw the base tensor
    return originals


def is_lora(entry: object) -> bool:
    """A (LoraFile, strength) stack entry, as against a weight-patch entry."""
    return isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], LoraFile)


def _runs(stack: Stack) -> list:
    """Consecutive LoRAs grouped (their deltas are summed in one pass); every other entry on its own."""
    runs: list = []
    for entry in stack:
        if not is_lora(entry):
            runs.append(entry)
        elif runs and isinstance(runs[-1], list):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def _same(a: Stack, b: Stack) -> bool:
    return len(a) == len(b) and all(_same_entry(x, y) for x, y in zip(a, b))


def _same_entry(x: object, y: object) -> bool:
    if is_lora(x) and is_lora(y):
        return x[0] is y[0] and x[1] == y[1]
    return x is y
