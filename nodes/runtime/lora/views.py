"""Which LoRAs the shared base modules carry right now, switched just before a model runs.

A LoRA'd MODEL or CLIP is the base handle plus a stack of (LoraFile, strength). Its modules are the base model's
own, so before they run, `ensure_patched` makes their weights match the stack: nothing when they already do, else
the previous stack is restored (the original tensors go back) and the new one applied. Two branches of one workflow
with different LoRAs therefore share one copy of the base weights, and a strength change never reads a file.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .deltas import AppliedPatches, apply_patches, restore
from .key_map import Target, build_key_map, lookup, model_components
from .lora_file import LoraFile

Stack = tuple[tuple[LoraFile, float], ...]

_STATE = "_latentloom_lora_state"
_KEYS = "_latentloom_lora_keys"


@dataclass
class _State:
    stack: Stack
    applied: AppliedPatches | None
    spare: dict  # buffers of earlier applications not in use now, kept so switching back writes no new memory


def key_map_of(owner: nn.Module, unet: nn.Module | None, text_encoders: Sequence[nn.Module]) -> dict[str, Target]:
    """The module's LoRA key map, built once and kept on the module."""
    found = owner.__dict__.get(_KEYS)
    if found is None:
        found = owner.__dict__[_KEYS] = build_key_map(unet, text_encoders)
    return found


def ensure_patched(stack: Stack, unet: nn.Module | None = None, text_encoders: Sequence[nn.Module] = ()) -> None:
    """Make the UNet, or the text encoders, carry exactly `stack` (patches for the other part are left to its own
    views). A model that never had a LoRA costs nothing here: no key map is built."""
    owner = unet if unet is not None else text_encoders[0]
    state = owner.__dict__.get(_STATE)
    if (state is None and not stack) or (state is not None and _same(state.stack, stack)):
        return
    components = model_components(unet, text_encoders)
    buffers: dict[Target, torch.Tensor] = dict(state.spare) if state is not None else {}
    if state is not None and state.applied is not None:
        restore(components, state.applied)
        buffers.update({target: tensor for target, tensor in state.applied.patched.items()
                        if tensor.dtype == torch.float32})  # the next stack's weights are written into these
    applied = None
    if stack:
        key_map = key_map_of(owner, unet, text_encoders)
        patches = [(patch, strength) for lora, strength in stack if strength for patch in lora.patches.values()
                   if (target := lookup(key_map, patch.key)) is not None and target.component in components]
        applied = apply_patches(components, patches, key_map, buffers=buffers)
    owner.__dict__[_STATE] = _State(tuple(stack), applied, buffers)  # apply_patches took the buffers it used


def _same(a: Stack, b: Stack) -> bool:
    return len(a) == len(b) and all(x is y and s == t for (x, s), (y, t) in zip(a, b))
