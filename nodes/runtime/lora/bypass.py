"""A LoRA applied as a forward bypass (ComfyUI's LoraLoaderBypass): the layers' weights stay as they are and each
patched linear or convolution layer's output gains the LoRA's own output, strength * scale * up(down(x)), from a
forward hook. Layers that are neither (a full diff on a norm or embedding) get their weight patched as LoraLoader
does. Like a LoRA view, it is a stack entry that lora/views.py applies just before the modules run and removes
when another view runs."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .deltas import AppliedPatches, apply_patches, weight_delta
from .key_map import TEXT_ENCODERS, UNET, Target, lookup
from .lora_file import LoraFile, LoraPatch
from .views import key_map_of


@dataclass(frozen=True, eq=False)
class LoraBypass:
    """A view-stack entry: `lora` at `strength` as forward hooks."""

    lora: LoraFile
    strength: float

    def apply(self, components: Mapping[str, nn.Module]) -> AppliedPatches:
        unet = components.get(UNET)
        encoders = [components[name] for name in TEXT_ENCODERS if name in components]
        key_map = key_map_of(unet if unet is not None else encoders[0], unet, encoders)
        merged, hooked = [], []
        for patch in self.lora.patches.values():
            target = lookup(key_map, patch.key)
            if target is None or target.component not in components:
                continue
            layer = components[target.component].get_submodule(target.module_name)
            (hooked if isinstance(layer, (nn.Linear, nn.Conv2d)) else merged).append((patch, target, layer))
        result = apply_patches(components, [(patch, self.strength) for patch, _, _ in merged], key_map)
        for patch, target, layer in hooked:
            result.hooks.append(layer.register_forward_hook(_bypass_hook(patch, self.strength, layer)))
            result.applied.append(patch.key)
            _add_bias(result, components, target, patch, self.strength)
        return result


def with_bypass(value: Any, lora: LoraFile, strength: float) -> Any:
    """A clone of a MODEL or CLIP view with the LoRA as a bypass on top of its stack."""
    result = value.clone()
    result.loras = (*value.loras, LoraBypass(lora, strength))
    return result


def _bypass_hook(patch: LoraPatch, strength: float, layer: nn.Module):
    """The hook adding the patch's output: factored for a plain LoRA, else through its (linear) weight delta."""
    factored = patch.kind == "lora" and "mid" not in patch.tensors and patch.dora_scale is None
    if factored:
        rank, alpha = patch.rank, patch.alpha
        scale = strength * (alpha / rank if alpha is not None and rank else 1.0)
        weights = (patch.tensors["down"], patch.tensors["up"])
    else:  # DoRA, LoHa, LoKr, full diffs: their update to this weight is still linear in the input
        weights = (weight_delta(patch, layer.weight.shape, layer.weight.detach(), strength, layer.weight.device),)
        scale = 1.0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        cast = [w.to(x.device, x.dtype) for w in weights]
        if isinstance(module, nn.Linear):
            extra = F.linear(F.linear(x, cast[0].flatten(1)), cast[1].flatten(1)) if factored else F.linear(x, cast[0])
        else:
            convolution = {"stride": module.stride, "padding": module.padding, "dilation": module.dilation}
            if factored:
                down = cast[0].reshape(cast[0].shape[0], x.shape[1], *module.kernel_size)
                extra = F.conv2d(F.conv2d(x, down, **convolution), cast[1].reshape(*cast[1].shape[:2], 1, 1))
            else:
                extra = F.conv2d(x, cast[0], groups=module.groups, **convolution)
        return output + extra * scale
    return hook


def _add_bias(result: AppliedPatches, components: Mapping[str, nn.Module], target: Target, patch: LoraPatch,
              strength: float) -> None:
    """A bias difference (`.diff_b`) is a constant added to the output: patched into the bias, as LoraLoader does."""
    if patch.bias_diff is None or not strength:
        return
    layer = components[target.component].get_submodule(target.module_name)
    if layer.bias is None or layer.bias.shape != patch.bias_diff.shape:
        return
    bias_target = Target(target.component, target.module_name, "bias")
    result.originals[bias_target] = layer.bias
    summed = layer.bias.detach().float() + float(strength) * patch.bias_diff.to(layer.bias.device, torch.float32)
    layer.bias = nn.Parameter(summed.to(layer.bias.dtype), requires_grad=False)
