"""Shared by the LoRA tests: the tiny SDXL model (UNet + both text encoders) and the weight snapshot checks."""
from __future__ import annotations

import pytest
import torch
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from nodes.runtime.lora.deltas import apply_patches, patches_with_strength
from nodes.runtime.lora.lora_file import read_lora
from tests.fixtures.tiny_checkpoints import sdxl_unet, tiny_clip_config


def _seeded(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def sdxl():
    _seeded(1)
    unet = sdxl_unet(32).eval()
    text_l = CLIPTextModel(tiny_clip_config(layers=1, activation="quick_gelu")).eval()
    text_g = CLIPTextModelWithProjection(tiny_clip_config(layers=1, activation="gelu", projection=32)).eval()
    return unet, text_l, text_g


def _text_module_name(text: torch.nn.Module, bare: str) -> str:
    names = dict(text.named_modules())
    return bare if bare in names else f"text_model.{bare}"


def _snapshot(*modules: torch.nn.Module) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]


def _assert_only_changed(module, before, changed: dict[str, torch.Tensor]) -> None:
    for name, tensor in module.state_dict().items():
        if name in changed:
            torch.testing.assert_close(tensor, changed[name], rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(tensor, before[name]), name


def _assert_identical(module, before) -> None:
    for name, tensor in module.state_dict().items():
        assert torch.equal(tensor, before[name]), name


def _apply(path, components, strength, key_map, family=None):
    lora = read_lora(path)
    return lora, apply_patches(components, patches_with_strength(lora, strength), key_map, family)
