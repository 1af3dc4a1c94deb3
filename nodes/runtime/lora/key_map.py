"""Map every key prefix a LoRA file may use onto the module it patches in our diffusers/transformers models.

LoRA files name their targets in several dialects, none of which is our module naming:

* kohya / A1111, diffusers-style UNet names with dots turned into underscores
  (`lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k`);
* kohya, original (SGM/LDM) UNet names, which SDXL LoRAs use (`lora_unet_input_blocks_4_1_transformer_blocks_0_...`);
  these are derived from the diffusers names with the checkpoint writer's renaming (`ldm_layout._unet_ldm_name`) so
  the two layouts cannot drift apart;
* kohya text encoders: `lora_te_` (SD1.x/SD2.x) or `lora_te1_`/`lora_te2_` (SDXL), always with transformers names
  under `text_model_`;
* diffusers / PEFT: `unet.<dotted name>`, `text_encoder.<dotted name>`, `text_encoder_2.<dotted name>`, with or
  without `text_model.`, possibly wrapped in `base_model.model.` (see `lookup`);
* ComfyUI (its LoraSave): `diffusion_model.<original UNet name>`, `text_encoders.clip_l.transformer.text_model.*`.

transformers 5.x may build `CLIPTextModel` without the `text_model.` wrapper, so text encoder names are normalised
(the wrapper stripped) before the file-side names are generated, and the target keeps the module's real name.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..checkpoints.ldm_layout import _unet_ldm_name

logger = logging.getLogger(__name__)

UNET = "unet"
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
# linear and convolution layers take low-rank updates; embeddings and norms only full diffs (ComfyUI's `.diff`)
PATCHABLE = (nn.Linear, nn.Conv2d, nn.Embedding, nn.GroupNorm, nn.LayerNorm)
# ComfyUI's own names for text encoder layers (`text_encoders.clip_l.transformer.text_model.*`, as its LoraSave
# writes them), by the number of text encoders: one is CLIP-L (SD1.x) or OpenCLIP-H (SD2.x)
COMFY_TEXT_PREFIXES = {1: (("clip_l", "clip_h"),), 2: (("clip_l",), ("clip_g",))}
PEFT_WRAPPER = "base_model.model."
# the old diffusers attention-processor format names projections after the processor (`processor.to_q_lora`)
PROCESSOR_ALIASES = {"to_q": "processor.to_q", "to_k": "processor.to_k", "to_v": "processor.to_v",
                     "to_out.0": "processor.to_out"}


@dataclass(frozen=True)
class Target:
    """A patchable tensor: which model (`unet`, `text_encoder`, `text_encoder_2`), its module's qualified name, and
    the parameter (a LoRA patches `weight`; ComfyUI's weight patches may also reach biases and norms)."""

    component: str
    module_name: str
    param: str = "weight"

    @property
    def weight_name(self) -> str:
        return f"{self.module_name}.{self.param}"


def model_components(unet: nn.Module | None = None,
                     text_encoders: Sequence[nn.Module] = ()) -> dict[str, nn.Module]:
    """The component name -> module mapping that `build_key_map` and `deltas.apply_patches` agree on."""
    components: dict[str, nn.Module] = {}
    if unet is not None:
        components[UNET] = unet
    if len(text_encoders) > len(TEXT_ENCODERS):
        raise ValueError(f"at most {len(TEXT_ENCODERS)} text encoders, got {len(text_encoders)}")
    components.update(zip(TEXT_ENCODERS, text_encoders))
    return components


def build_key_map(unet: nn.Module | None = None, text_encoders: Sequence[nn.Module] = ()) -> dict[str, Target]:
    """Every file-side key prefix (without `.lora_down.weight` etc.) -> the layer it patches.

    One text encoder means SD1.x/SD2.x (`lora_te_`); two mean SDXL (`lora_te1_` CLIP-L, `lora_te2_` bigG).
    """
    key_map: dict[str, Target] = {}
    if unet is not None:
        key_map.update(_unet_keys(unet))
    kohya = ["lora_te_"] if len(text_encoders) == 1 else ["lora_te1_", "lora_te2_"]
    comfy = COMFY_TEXT_PREFIXES.get(len(text_encoders), ())
    for encoder, component, kohya_prefix, comfy_prefixes in zip(text_encoders, TEXT_ENCODERS, kohya, comfy):
        key_map.update(_text_keys(encoder, component, kohya_prefix, comfy_prefixes))
    return key_map


def lookup(key_map: Mapping[str, Target], prefix: str) -> Target | None:
    """The target of a file's key prefix, tolerating PEFT's `base_model.model.` wrapper wherever it appears."""
    target = key_map.get(prefix)
    if target is None and PEFT_WRAPPER in prefix:
        target = key_map.get(prefix.replace(PEFT_WRAPPER, ""))
    return target


def patchable_modules(module: nn.Module) -> dict[str, nn.Module]:
    """The layers a LoRA can patch: linear and 2D convolution layers (LoRA is a low-rank update of their weight)."""
    return {name: layer for name, layer in module.named_modules() if isinstance(layer, PATCHABLE)}


def _unet_keys(unet: nn.Module) -> dict[str, Target]:
    layers = unet.config.layers_per_block
    if not isinstance(layers, int):  # per-level counts: the LDM numbering needs one count
        layers = int(layers[0])
    up_attends = [hasattr(block, "attentions") for block in unet.up_blocks]
    keys: dict[str, Target] = {}
    for name in patchable_modules(unet):
        target = Target(UNET, name)
        keys[f"lora_unet_{_underscored(name)}"] = target
        keys[f"unet.{name}"] = target
        for plain, processor in PROCESSOR_ALIASES.items():
            if name.endswith("." + plain):
                keys[f"unet.{name.removesuffix(plain)}{processor}"] = target
        try:
            ldm = _unet_ldm_name(f"{name}.weight", layers, up_attends).removesuffix(".weight")
        except KeyError:
            continue  # a layer the original layout has no name for; diffusers-style names still reach it
        keys.setdefault(f"lora_unet_{_underscored(ldm)}", target)
        keys[f"diffusion_model.{ldm}"] = target
    return keys


def _text_keys(encoder: nn.Module, component: str, kohya_prefix: str,
               comfy_prefixes: Sequence[str]) -> dict[str, Target]:
    keys: dict[str, Target] = {}
    for name in patchable_modules(encoder):
        target = Target(component, name)
        bare = name.removeprefix("text_model.")
        keys[f"{kohya_prefix}text_model_{_underscored(bare)}"] = target
        keys[f"{component}.text_model.{bare}"] = target
        keys[f"{component}.{bare}"] = target
        inner = bare if bare.startswith("text_projection") else f"text_model.{bare}"
        keys.update({f"text_encoders.{prefix}.transformer.{inner}": target for prefix in comfy_prefixes})
    return keys


def _underscored(name: str) -> str:
    return name.replace(".", "_")


def module_weight(components: Mapping[str, nn.Module], target: Target) -> torch.nn.Parameter:
    """The weight parameter a target names (KeyError with the name when the model has no such layer)."""
    if target.component not in components:
        raise KeyError(f"no {target.component} module was given")
    return components[target.component].get_submodule(target.module_name).weight
