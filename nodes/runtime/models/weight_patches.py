"""ComfyUI's weight-patch surface on MODEL and CLIP: `model_state_dict`, `get_key_patches`, `add_patches`.

Keys are ComfyUI's names: `diffusion_model.<original LDM name>` for the UNet (the checkpoint writer's renaming,
checkpoints/ldm_layout.py), `clip_l.transformer.text_model.<name>` (SD1.x and SDXL's CLIP-L), `clip_g.` (SDXL's
bigG) or `clip_h.` (SD2.x) for the text encoders, which ComfyUI holds in the transformers layout too.

A patch list per key is ComfyUI's: records (strength_patch, value, strength_model, offset, function) applied in
order, weight = weight * strength_model + strength_patch * diff, where the value is
* a tensor, `(tensor,)` or `("diff", (tensor,))`: that diff;
* `(None,)` or `()`: no diff (a pure `strength_model` scaling, as the attention-multiply nodes use);
* a list `[(weight, convert), *records]` (what `get_key_patches` gives, used by the merge nodes): that weight with
  its own records applied is the diff, so ratio r merges to (1 - r) * w1 + r * w2;
* a LoRA layer (LoraPatch, what a LoRA'd model's `get_key_patches` lists): its delta at the strength.

`add_patches` does not touch the modules: it adds a `WeightPatches` entry to the view's stack (the `loras` field),
and lora/views.py's `ensure_patched` brings the shared modules to exactly that stack before they run, as for LoRAs.
Consecutive `add_patches` calls (the merge nodes make one per key) share one entry: per key their order is kept.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..checkpoints.ldm_layout import unet_ldm_names
from ..lora.deltas import AppliedPatches, weight_delta
from ..lora.key_map import TEXT_ENCODERS, UNET, Target, lookup, model_components
from ..lora.lora_file import LoraPatch
from ..lora.views import base_tensors, ensure_patched, is_lora, key_map_of

logger = logging.getLogger(__name__)

UNET_PREFIX = "diffusion_model."
CLIP_PREFIXES = {"SD1.x": ("clip_l",), "SD2.x": ("clip_h",), "SDXL": ("clip_l", "clip_g")}
_COMFY_KEYS = "_latentloom_comfy_keys"

Record = tuple  # (strength_patch, value, strength_model, offset, function), as in ComfyUI's ModelPatcher.patches


def _unchanged(tensor: torch.Tensor, **_: Any) -> torch.Tensor:
    """ComfyUI's weight convert function where no conversion is needed (its get_key_patches pairs one with each
    weight)."""
    return tensor


# ---------------------------------------------------------------- key names

def _parameter_target(component: str, name: str) -> Target:
    module, _, param = name.rpartition(".")
    return Target(component, module, param)


def unet_keys(unet: nn.Module) -> dict[str, Target]:
    """ComfyUI's UNet key -> the parameter it names in our UNet (diffusers names)."""
    parameters = dict(unet.named_parameters())
    return {UNET_PREFIX + ldm: _parameter_target(UNET, name)
            for name, ldm in unet_ldm_names(unet).items() if name in parameters}


def text_keys(text_encoders: Sequence[nn.Module], architecture: str) -> dict[str, Target]:
    """ComfyUI's CLIP key -> the parameter it names in our text encoders."""
    prefixes = CLIP_PREFIXES.get(str(architecture), ("clip_l", "clip_g"))
    keys: dict[str, Target] = {}
    for encoder, component, prefix in zip(text_encoders, TEXT_ENCODERS, prefixes):
        for name, _ in encoder.named_parameters():
            bare = name.removeprefix("text_model.")
            inner = bare if bare.startswith("text_projection.") else f"text_model.{bare}"
            keys[f"{prefix}.transformer.{inner}"] = _parameter_target(component, name)
    return keys


# ---------------------------------------------------------------- ComfyUI's weight calculation

def patched_weight(weight: torch.Tensor, records: Sequence[Record], key: str = "") -> torch.Tensor:
    """`weight` (a float32 tensor of the caller's, changed in place) with the records applied in order."""
    for strength, value, strength_model, offset, function in records:
        function = function or (lambda tensor: tensor)
        part = weight.narrow(*offset) if offset is not None else weight
        if strength_model != 1.0:
            part.mul_(strength_model)
        if isinstance(value, LoraPatch):
            if strength:
                part.add_(function(weight_delta(value, part.shape, part, strength, part.device)))
            continue
        if _kind(value) == "set":
            part.copy_(value[1][0])
            continue
        diff = _diff(value, part, key)
        if diff is None or not strength:
            continue
        if diff.shape != part.shape:
            logger.warning("weight patch for %s not applied: its shape %s is not the weight's %s", key,
                           tuple(diff.shape), tuple(part.shape))
            continue
        part.add_(function(strength * diff.to(part.device, torch.float32)))
    return weight


def _diff(value: Any, part: torch.Tensor, key: str) -> torch.Tensor | None:
    """The diff tensor a record's value stands for (None: no diff)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list):  # another model's weight with its own records
        (base, convert), nested = value[0], value[1:]
        start = convert(base.detach().to(part.device, torch.float32, copy=True), inplace=True)
        return patched_weight(start, nested, key)
    kind = _kind(value)
    if kind is not None:
        if kind == "diff":
            return value[1][0]
        raise ValueError(f"weight patch for {key}: the patch kind {kind!r} is not supported (diff, set, or another "
                         "model's weight are)")
    if isinstance(value, (tuple, list)) and len(value) <= 1:
        return value[0] if value else None
    raise ValueError(f"weight patch for {key}: a {type(value).__name__} of length {len(value)} is not a patch form "
                     "this model understands")


def _kind(value: Any) -> str | None:
    """The named kind of a ("diff", (tensor,)) / ("set", (tensor,)) value; None for the other forms."""
    return value[0] if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) else None


def check_patch_form(value: Any, key: str) -> None:
    """ValueError naming the key when `value` is no patch form ComfyUI's add_patches takes that we apply."""
    if not isinstance(value, (list, LoraPatch)) and _kind(value) != "set":
        _diff(value, torch.empty(0), key)


@dataclass(frozen=True, eq=False)
class WeightPatches:
    """One stack entry: each patched parameter's ComfyUI key, target and records, in the order they were added."""

    records: Mapping[str, tuple[Target, tuple[Record, ...]]]

    def extended(self, more: Mapping[str, tuple[Target, list[Record]]]) -> "WeightPatches":
        """A new entry with `more` appended per key (this one is shared by other views and stays as it is)."""
        merged = dict(self.records)
        for key, (target, records) in more.items():
            merged[key] = (target, (*merged[key][1], *records) if key in merged else tuple(records))
        return WeightPatches(merged)

    @torch.no_grad()
    def apply(self, components: Mapping[str, nn.Module]) -> AppliedPatches:
        """Replace each parameter by its patched value (a new tensor: the original may be shared or memory-mapped)."""
        result = AppliedPatches()
        for key, (target, records) in self.records.items():
            if target.component not in components:
                continue
            layer = components[target.component].get_submodule(target.module_name)
            current = getattr(layer, target.param)
            weight = patched_weight(current.detach().to(torch.float32, copy=True), records, key)
            result.originals[target] = current
            setattr(layer, target.param, nn.Parameter(weight.to(current.dtype), requires_grad=False))
            result.applied.append(key)
        return result


# ---------------------------------------------------------------- the surface

class WeightPatchSurface:
    """ComfyUI's ModelPatcher weight methods, mixed into the MODEL and CLIP values (which hold a `loras` stack)."""

    loras: tuple

    def _modules(self) -> tuple[nn.Module, nn.Module | None, tuple[nn.Module, ...]]:
        """(owner, unet, text encoders): the owner module keeps the view state and key maps."""
        unet = getattr(self, "unet", None)
        if unet is not None:
            return unet, unet, ()
        encoders = tuple(self.text_encoders)
        return encoders[0], None, encoders

    def comfy_keys(self) -> dict[str, Target]:
        """ComfyUI's key names of this model's parameters, built once per module."""
        owner, unet, encoders = self._modules()
        keys = owner.__dict__.get(_COMFY_KEYS)
        if keys is None:
            keys = unet_keys(unet) if unet is not None else text_keys(encoders, getattr(self, "architecture", ""))
            owner.__dict__[_COMFY_KEYS] = keys
        return keys

    def model_state_dict(self, filter_prefix: str | None = None) -> dict[str, torch.Tensor]:
        """The unpatched parameters under ComfyUI's names (those starting with `filter_prefix`)."""
        owner, unet, encoders = self._modules()
        components = model_components(unet, encoders)
        originals = base_tensors(owner)
        state = {}
        for key, target in self.comfy_keys().items():
            if filter_prefix is not None and not key.startswith(filter_prefix):
                continue
            tensor = originals.get(target)
            if tensor is None:
                tensor = getattr(components[target.component].get_submodule(target.module_name), target.param)
            state[key] = tensor.detach()
        return state

    def get_key_patches(self, filter_prefix: str | None = None) -> dict[str, list]:
        """Per key: [(unpatched weight, convert function), *this view's records], ComfyUI's form for merging."""
        records = self._records_by_key()
        return {key: [(tensor, _unchanged), *records.get(key, ())]
                for key, tensor in self.model_state_dict(filter_prefix).items()}

    def add_patches(self, patches: Mapping[Any, Any], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list:
        """Add ComfyUI patches (key or (key, offset[, function]) -> value) to this view; returns the keys taken.
        Keys this model does not have are left out, as in ComfyUI."""
        keys = self.comfy_keys()
        taken, new = [], {}
        for spec, value in patches.items():
            key, offset, function = (spec, None, None) if isinstance(spec, str) else (*spec, None)[:3]
            if key not in keys:
                continue
            check_patch_form(value, key)
            taken.append(spec)
            target, records = new.setdefault(key, (keys[key], []))
            records.append((strength_patch, value, strength_model, offset, function))
        if new:
            last = self.loras[-1] if self.loras else None
            if isinstance(last, WeightPatches):
                self.loras = (*self.loras[:-1], last.extended(new))
            else:
                self.loras = (*self.loras, WeightPatches({}).extended(new))
        return taken

    def patched_parameters(self) -> dict[str, torch.Tensor]:
        """This view's parameters under ComfyUI's names, with every patch applied (the shared modules are brought
        to this view), for saving."""
        owner, unet, encoders = self._modules()
        ensure_patched(self.loras, unet=unet, text_encoders=encoders)
        components = model_components(unet, encoders)
        return {key: getattr(components[target.component].get_submodule(target.module_name), target.param).detach()
                for key, target in self.comfy_keys().items()}

    def _records_by_key(self) -> dict[str, list[Record]]:
        """This view's stack as ComfyUI's per-key records (a LoRA layer is a record whose value is the LoraPatch)."""
        owner, unet, encoders = self._modules()
        names = {target: key for key, target in self.comfy_keys().items()}
        by_key: dict[str, list[Record]] = {}
        for entry in self.loras:
            if is_lora(entry):
                lora, strength = entry
                key_map = key_map_of(owner, unet, encoders)
                for patch in lora.patches.values():
                    key = names.get(lookup(key_map, patch.key))
                    if key is not None:
                        by_key.setdefault(key, []).append((strength, patch, 1.0, None, None))
            elif isinstance(entry, WeightPatches):  # a forward bypass changes no weight: it has no records
                for key, (_, records) in entry.records.items():
                    by_key.setdefault(key, []).extend(records)
        return by_key

