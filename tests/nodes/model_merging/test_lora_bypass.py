"""LoraLoaderBypass against LoraLoader on a tiny SD1 checkpoint: the same predictions and text encodings, with the
base weights untouched and the hooks gone once the plain model runs again."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from graph_engine import Folders, using_folders
from nodes.diffusion.lora import LoraLoader, LoraLoaderModelOnly
from nodes.model_merging.lora_bypass import LoraLoaderBypass, LoraLoaderBypassModelOnly

LINEAR = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"  # [32, 64]
PROJ_IN = "lora_unet_down_blocks_0_attentions_0_proj_in"  # 1x1 convolution [32, 32, 1, 1]
CONV = "lora_unet_down_blocks_0_resnets_0_conv1"  # 3x3 convolution [32, 32, 3, 3]
LOHA = "lora_unet_up_blocks_1_attentions_0_transformer_blocks_0_ff_net_2"  # [32, 128]
TEXT = "lora_te_text_model_encoder_layers_1_mlp_fc1"  # [128, 64]


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    folders = Folders.under(tmp_path_factory.mktemp("bypass"))
    g = torch.Generator().manual_seed(9)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.3  # noqa: E731
    tensors = {f"{LINEAR}.lora_down.weight": r(4, 64), f"{LINEAR}.lora_up.weight": r(32, 4),
               f"{LINEAR}.alpha": torch.tensor(2.0),
               f"{PROJ_IN}.lora_down.weight": r(2, 32, 1, 1), f"{PROJ_IN}.lora_up.weight": r(32, 2, 1, 1),
               f"{CONV}.lora_down.weight": r(3, 32, 3, 3), f"{CONV}.lora_up.weight": r(32, 3, 1, 1),
               f"{CONV}.alpha": torch.tensor(1.5),
               f"{LOHA}.hada_w1_a": r(32, 2), f"{LOHA}.hada_w1_b": r(2, 128), f"{LOHA}.hada_w2_a": r(32, 2),
               f"{LOHA}.hada_w2_b": r(2, 128),
               f"{TEXT}.lora_down.weight": r(4, 64), f"{TEXT}.lora_up.weight": r(128, 4)}
    (folders.models / "loras").mkdir(parents=True)
    save_file(tensors, str(folders.models / "loras" / "mixed.safetensors"))
    return folders


def predict(model) -> torch.Tensor:
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    context = torch.randn(1, 7, 64, generator=torch.Generator().manual_seed(4))
    model.prepare()
    return model.predict(x, torch.tensor([300.0]), context=context)


def encode(clip) -> torch.Tensor:
    from nodes.runtime.lora.views import ensure_patched

    ensure_patched(clip.loras, text_encoders=clip.text_encoders)
    tokens = torch.tensor([[0, 5, 17, 300, 2]])
    with torch.no_grad():
        return clip.text_encoders[0](tokens).last_hidden_state


def test_bypass_equals_the_merged_lora_and_leaves_the_weights_alone(installation, loaded):
    (model, clip, _), _ = loaded
    layer = model.unet.get_submodule("down_blocks.0.resnets.0.conv1")
    plain = predict(model)
    base = layer.weight
    with using_folders(installation):
        merged_model, merged_clip = LoraLoader().load_lora(model, clip, "mixed.safetensors", 0.7, -1.2)
        bypass_model, bypass_clip = LoraLoaderBypass().load_lora(model, clip, "mixed.safetensors", 0.7, -1.2)
    merged = predict(merged_model)
    bypassed = predict(bypass_model)
    assert layer.weight is base and len(layer._forward_hooks) == 1
    torch.testing.assert_close(bypassed, merged, rtol=1e-4, atol=1e-5)
    assert (merged - plain).abs().max() > 1e-3
    torch.testing.assert_close(encode(bypass_clip), encode(merged_clip), rtol=1e-4, atol=1e-5)
    assert (encode(merged_clip) - encode(clip)).abs().max() > 1e-3
    torch.testing.assert_close(predict(model), plain, rtol=0, atol=0)
    assert not layer._forward_hooks


def test_model_only_and_zero_strengths(installation, loaded):
    (model, clip, _), _ = loaded
    with using_folders(installation):
        bypass, = LoraLoaderBypassModelOnly().load_lora_model_only(model, "mixed.safetensors", 1.3)
        merged, = LoraLoaderModelOnly().load_lora_model_only(model, "mixed.safetensors", 1.3)
        assert LoraLoaderBypass().load_lora(model, clip, "mixed.safetensors", 0.0, 0.0) == (model, clip)
    torch.testing.assert_close(predict(bypass), predict(merged), rtol=1e-4, atol=1e-5)
