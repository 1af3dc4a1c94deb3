"""Our UNet patched by our LoRA code against diffusers' UNet with diffusers' own LoRA loading (load_lora_adapter +
fuse_lora, through peft), same weights and file: kohya files (converted by diffusers' lora_state_dict) and PEFT
files."""
from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import save_file

from nodes.runtime.lora.deltas import apply_patches, patches_with_strength
from nodes.runtime.lora.key_map import build_key_map, model_components
from nodes.runtime.lora.lora_file import read_lora
from nodes.runtime.models.unet_model import UNetModel
from tests.fixtures.tiny_checkpoints import as_our_unet, perturb, sd1_unet

LAYERS = ("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
          "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
          "up_blocks.1.attentions.0.proj_in",  # a 1x1 convolution in SD1
          "mid_block.attentions.0.transformer_blocks.0.ff.net.2")
STRENGTH = 0.7


def pairs(unet, rank=4):
    generator = torch.Generator().manual_seed(3)
    for name in LAYERS:
        weight = unet.get_submodule(name).weight
        down = torch.randn(rank, *weight.shape[1:], generator=generator) * 0.1
        up = torch.randn(weight.shape[0], rank, *([1] * (weight.ndim - 2)), generator=generator) * 0.1
        yield name, down, up


def unet_output(unet):
    generator = torch.Generator().manual_seed(4)
    x, context = torch.randn(1, 4, 8, 8, generator=generator), torch.randn(1, 77, 64, generator=generator)
    with torch.no_grad():
        return unet(x, 500, context) if isinstance(unet, UNetModel) else unet(x, 500, context).sample


def ours(unet, path):
    patched = as_our_unet(unet)
    applied = apply_patches(model_components(patched, []), patches_with_strength(read_lora(path), STRENGTH),
                            build_key_map(patched))
    assert len(applied.applied) == len(LAYERS) and not applied.unmatched
    return unet_output(patched)


@pytest.fixture
def unet():
    return perturb(sd1_unet(), torch.Generator().manual_seed(1))


def test_a_kohya_file_gives_what_diffusers_gives(unet, tmp_path):
    from diffusers import StableDiffusionPipeline

    tensors = {}
    for name, down, up in pairs(unet):
        key = "lora_unet_" + name.replace(".", "_")
        tensors.update({f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up, f"{key}.alpha": torch.tensor(2.0)})
    path = tmp_path / "kohya.safetensors"
    save_file(tensors, str(path))
    reference = copy.deepcopy(unet)
    state, alphas = StableDiffusionPipeline.lora_state_dict(str(path))
    reference.load_lora_adapter(state, prefix="unet", network_alphas=alphas)
    reference.fuse_lora(lora_scale=STRENGTH)
    expected = unet_output(reference)
    got = ours(unet, path)
    assert (got - expected).abs().max() < 1e-5
    assert (unet_output(unet) - expected).abs().max() > 1e-3  # the LoRA does change the output


def test_a_peft_file_gives_what_diffusers_gives(unet, tmp_path):
    tensors = {}
    for name, down, up in pairs(unet):
        tensors.update({f"unet.{name}.lora_A.weight": down, f"unet.{name}.lora_B.weight": up})
    path = tmp_path / "peft.safetensors"
    save_file(tensors, str(path))
    reference = copy.deepcopy(unet)
    reference.load_lora_adapter(dict(tensors), prefix="unet")
    reference.fuse_lora(lora_scale=STRENGTH)
    expected = unet_output(reference)
    assert (ours(unet, path) - expected).abs().max() < 1e-5
