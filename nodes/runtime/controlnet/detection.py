"""Tell ControlNets and T2I-Adapters apart from a file's key names and shapes alone (no tensor is read, no torch).

ControlNets come in the original (LDM) layout, with or without the `control_model.` prefix (`input_hint_block`,
`zero_convs`, `middle_block_out` beside a copy of the UNet's `input_blocks` and `middle_block`), or in diffusers'
layout (`controlnet_cond_embedding`, `down_blocks`, `controlnet_down_blocks`). A diff ControlNet is the original
layout with a `difference` marker: its weights are offsets from the UNet it is used with; a control-LoRA has the
`lora_controlnet` marker and low-rank changes to that UNet (control_lora.py). T2I-Adapters come in
TencentARC's layout (`conv_in`, `body.N.block1`; the light ones `body.N.in_conv`, `body.N.body.M.block1`) or in
diffusers' (`adapter.body.N.resnets.M.block1`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Shapes = Mapping[str, Sequence[int]]

LDM_PREFIX = "control_model."


class UnsupportedControlModel(ValueError):
    """A control model of a kind or family Latentloom cannot run; the message says which."""


@dataclass(frozen=True)
class ControlLayout:
    """What a control-model file holds: `kind` is "controlnet", "control_lora" or "t2i_adapter"; `layout` is "ldm"
    (original names, `prefix` before them), "diffusers" or, for adapters, "tencentarc"; `difference` marks a diff
    ControlNet."""

    kind: str
    layout: str
    prefix: str = ""
    difference: bool = False


def detect_control_layout(shapes: Shapes) -> ControlLayout | None:
    """The layout of a ControlNet or T2I-Adapter file; None when it is neither. Raises UnsupportedControlModel for
    control models of other kinds (control-LoRA, union ControlNets, other model families)."""
    keys = set(shapes)
    if "lora_controlnet" in keys:
        return ControlLayout("control_lora", "ldm")
    if "task_embedding" in keys or any(key.startswith("control_add_embedding.") for key in keys):
        raise UnsupportedControlModel("a union ControlNet (ControlNet++ / ProMax), which Latentloom cannot load yet; "
                                      "use a ControlNet trained for one control type")
    if any(key.startswith(("controlnet_blocks.", "controlnet_x_embedder.", "pos_embed_input.")) for key in keys):
        raise UnsupportedControlModel("a ControlNet for a transformer model family (SD3, FLUX, HunyuanDiT or "
                                      "Qwen-Image), which Latentloom cannot run")
    if LDM_PREFIX + "zero_convs.0.0.weight" in keys:
        return ControlLayout("controlnet", "ldm", LDM_PREFIX, difference="difference" in keys)
    if "zero_convs.0.0.weight" in keys:
        return ControlLayout("controlnet", "ldm", "", difference="difference" in keys)
    if "controlnet_cond_embedding.conv_in.weight" in keys:
        return ControlLayout("controlnet", "diffusers")
    if "adapter.conv_in.weight" in keys or "adapter.body.0.in_conv.weight" in keys:
        return ControlLayout("t2i_adapter", "diffusers")
    if ("conv_in.weight" in keys and "body.0.block1.weight" in keys) or "body.0.in_conv.weight" in keys:
        return ControlLayout("t2i_adapter", "tencentarc")
    if any(key.startswith(("backbone.0.", "backbone.10.")) for key in keys):
        raise UnsupportedControlModel("a Stable Cascade ControlNet, which Latentloom cannot run")
    return None


def controlnet_family(shapes: Shapes, prefix: str = "") -> str:
    """SD1.x, SD2.x or SDXL for an original-layout ControlNet, told as a lone UNet is: SDXL adds size conditioning
    (`label_emb`), SD2.x projects into its transformers with linear layers, SD1.x with 1x1 convolutions."""
    widths = {int(shape[1]) for key, shape in shapes.items()
              if key.startswith(prefix) and key.endswith("attn2.to_k.weight")}
    if len(widths) != 1:
        raise UnsupportedControlModel("a ControlNet without cross-attention to text of one width" if not widths
                                      else f"a ControlNet with several context widths {sorted(widths)}")
    if prefix + "label_emb.0.0.weight" in shapes:
        return "SDXL"
    projections = {len(shape) for key, shape in shapes.items()
                   if key.startswith(prefix) and key.endswith("proj_in.weight")}
    return "SD2.x" if projections == {2} else "SD1.x"


def diffusers_layers_per_block(shapes: Shapes) -> int:
    """Res blocks per level of a diffusers-layout ControlNet."""
    found = {int(m[1]) for key in shapes if (m := re.match(r"down_blocks\.0\.resnets\.(\d+)\.", key))}
    if not found:
        raise UnsupportedControlModel("a diffusers ControlNet without down blocks")
    return max(found) + 1
