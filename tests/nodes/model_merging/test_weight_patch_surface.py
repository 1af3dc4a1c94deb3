"""ComfyUI's add_patches / get_key_patches on a MODEL, as plugins call them: each patch form, the order of
strength_model scaling and diffs, LoRAs before and after, clones that do not share their patches."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nodes.runtime.lora.lora_file import read_lora
from tests.nodes.model_merging.file_weights import unet_file_weights

KEY = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"  # [32, 64]
BIAS = "diffusion_model.input_blocks.1.1.proj_in.bias"  # [32]
KOHYA = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"


@pytest.fixture
def model(loaded):
    return loaded[0][0]


@pytest.fixture
def w(first):
    return unet_file_weights(first)


def weight(value, key=KEY) -> torch.Tensor:
    return value.patched_parameters()[key].float().clone()


def diff(seed: int, shape=(32, 64)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("form", [lambda t: t, lambda t: (t,), lambda t: ("diff", (t,))])
def test_diff_forms(model, w, form):
    patched = model.clone()
    assert patched.add_patches({KEY: form(diff(1)), "not.a.key": (diff(1),)}, 0.5, 2.0) == [KEY]
    torch.testing.assert_close(weight(patched), 2.0 * w[KEY] + 0.5 * diff(1))
    assert model.loras == ()


def test_records_apply_in_order_and_scale_what_came_before(model, w):
    patched = model.clone()
    patched.add_patches({KEY: (diff(1),)}, 1.0, 1.0)
    patched.add_patches({KEY: (None,), BIAS: ()}, 0.0, 3.0)  # pure scaling, of the weight already patched
    patched.add_patches({KEY: (diff(2),)}, -1.0, 1.0)
    torch.testing.assert_close(weight(patched), 3.0 * (w[KEY] + diff(1)) - diff(2))
    torch.testing.assert_close(weight(patched, BIAS), 3.0 * w[BIAS])
    records = patched.get_key_patches()[KEY]
    assert torch.equal(records[0][0].float(), w[KEY]) and len(records) == 4
    assert [record[0] for record in records[1:]] == [1.0, 0.0, -1.0]


def test_offset_and_function(model, w):
    patched = model.clone()
    patched.add_patches({(KEY, (0, 4, 8)): (diff(3, (8, 64)),)}, 2.0, 1.0)
    patched.add_patches({(KEY, None, torch.tanh): (diff(4),)}, 1.0, 1.0)
    expected = w[KEY].clone()
    expected[4:12] += 2.0 * diff(3, (8, 64))
    torch.testing.assert_close(weight(patched), expected + torch.tanh(diff(4)))


def test_clones_keep_their_own_patches(model, w):
    a = model.clone()
    a.add_patches({KEY: (diff(1),)})
    b = a.clone()
    b.add_patches({KEY: (diff(2),)})
    torch.testing.assert_close(weight(a), w[KEY] + diff(1))
    torch.testing.assert_close(weight(b), w[KEY] + diff(1) + diff(2))
    torch.testing.assert_close(weight(a), w[KEY] + diff(1))


def test_a_shape_mismatch_is_skipped_and_an_unknown_form_named(model, w):
    patched = model.clone()
    patched.add_patches({KEY: (torch.ones(3, 3),)})
    torch.testing.assert_close(weight(patched), w[KEY])
    with pytest.raises(ValueError, match=KEY):
        model.clone().add_patches({KEY: ("merge", (torch.ones(1),))})
    with pytest.raises(ValueError, match=KEY):
        model.clone().add_patches({KEY: (torch.ones(1), torch.ones(1), torch.ones(1))})
    replaced = model.clone()
    replaced.add_patches({KEY: ("set", (diff(6),))}, 1.0, 1.0)
    torch.testing.assert_close(weight(replaced), diff(6))


def test_lora_views_and_weight_patches_stack_in_order(model, w, tmp_path):
    g = torch.Generator().manual_seed(5)
    down, up = torch.randn(2, 64, generator=g), torch.randn(32, 2, generator=g)
    save_file({f"{KOHYA}.lora_down.weight": down, f"{KOHYA}.lora_up.weight": up,
               f"{KOHYA}.alpha": torch.tensor(1.0)}, str(tmp_path / "l.safetensors"))
    lora = read_lora(tmp_path / "l.safetensors")
    delta = 0.5 * up @ down  # alpha / rank = 0.5
    scaled = model.with_lora(lora, 2.0)
    scaled.add_patches({KEY: (None,)}, 0.0, 0.5)  # halves the LoRA'd weight
    torch.testing.assert_close(weight(scaled), 0.5 * (w[KEY] + 2.0 * delta), rtol=1e-5, atol=1e-6)
    after = scaled.with_lora(lora, 1.0)
    torch.testing.assert_close(weight(after), 0.5 * (w[KEY] + 2.0 * delta) + delta, rtol=1e-5, atol=1e-6)
    # a LoRA'd model's key patches carry the LoRA: merged at full strength into the base, it gives the LoRA'd weight
    merged = model.clone()
    merged.add_patches({KEY: model.with_lora(lora, 3.0).get_key_patches()[KEY]}, 1.0, 0.0)
    torch.testing.assert_close(weight(merged), w[KEY] + 3.0 * delta, rtol=1e-5, atol=1e-6)
