"""LoRA library layer: real tiny diffusers/transformers modules, real safetensors files written here, no mocks."""
from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPTextModel

from nodes.runtime.lora.deltas import restore, weight_delta
from nodes.runtime.lora.key_map import Target, build_key_map, model_components
from nodes.runtime.lora.lora_file import LoraError, LoraFamilyError, NotALoraError, check_family, read_lora
from tests.fixtures.tiny_checkpoints import sd1_unet, tiny_clip_config
from tests.nodes.lora.conftest import (_apply, _assert_identical, _assert_only_changed, _seeded, _snapshot,
                                       _text_module_name)

ATTN2_K = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
CONV1 = "down_blocks.0.resnets.0.conv1"
PROJ_IN = "down_blocks.0.attentions.0.proj_in"  # a 1x1 conv in SD1
Q_PROJ = "encoder.layers.0.self_attn.q_proj"


@pytest.fixture(scope="module")
def sd1():
    _seeded(0)
    unet = sd1_unet().eval()
    text = CLIPTextModel(tiny_clip_config(layers=1, activation="quick_gelu")).eval()
    return unet, text


def test_kohya_lora_changes_exactly_the_targeted_weights(sd1, tmp_path):
    unet, text = sd1
    g = torch.Generator().manual_seed(5)
    k_weight = unet.get_submodule(ATTN2_K).weight
    q_name = _text_module_name(text, Q_PROJ)
    q_weight = text.get_submodule(q_name).weight
    rank = 4
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight":
            torch.randn(rank, k_weight.shape[1], generator=g),
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight":
            torch.randn(k_weight.shape[0], rank, generator=g),
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.alpha": torch.tensor(2.0),
        # no alpha here: scale 1
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.randn(rank, 64, generator=g),
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.randn(64, rank, generator=g),
    }
    path = tmp_path / "kohya.safetensors"
    save_file(tensors, str(path), metadata={"ss_network_dim": "4", "ss_network_alpha": "2"})
    before_unet, before_text = _snapshot(unet, text)
    components = model_components(unet, [text])
    lora, applied = _apply(path, components, 0.7, build_key_map(unet, [text]))

    assert lora.metadata["ss_network_dim"] == "4"
    prefix = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    up, down = tensors[f"{prefix}.lora_up.weight"], tensors[f"{prefix}.lora_down.weight"]
    te = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    expected_k = before_unet[f"{ATTN2_K}.weight"] + 0.7 * (2.0 / rank) * (up @ down)
    expected_q = (before_text[f"{q_name}.weight"]
                  + 0.7 * 1.0 * (tensors[f"{te}.lora_up.weight"] @ tensors[f"{te}.lora_down.weight"]))
    _assert_only_changed(unet, before_unet, {f"{ATTN2_K}.weight": expected_k})
    _assert_only_changed(text, before_text, {f"{q_name}.weight": expected_q})
    assert set(applied.changed_weights) == {Target("unet", ATTN2_K), Target("text_encoder", q_name)}
    assert applied.unmatched == [] and applied.mismatched == []
    assert q_weight.dtype == torch.float32

    restore(components, applied)
    _assert_identical(unet, before_unet)
    _assert_identical(text, before_text)


def test_half_precision_weights_are_computed_in_float32_and_restored_bit_identically(tmp_path):
    _seeded(2)
    text = CLIPTextModel(tiny_clip_config(layers=1, activation="gelu")).half()
    g = torch.Generator().manual_seed(3)
    key = "text_encoder.text_model.encoder.layers.0.self_attn.q_proj"
    down, up = torch.randn(2, 64, generator=g) * 1e-3, torch.randn(64, 2, generator=g) * 1e-3
    save_file({f"{key}.lora_A.weight": down, f"{key}.lora_B.weight": up, f"{key}.alpha": torch.tensor(1.0)},
              str(tmp_path / "peft.safetensors"))
    name = _text_module_name(text, Q_PROJ)
    before = _snapshot(text)[0]
    components = model_components(None, [text])
    _, applied = _apply(tmp_path / "peft.safetensors", components, 1.0, build_key_map(None, [text]))
    weight = text.get_submodule(name).weight
    assert weight.dtype == torch.float16
    expected = (before[f"{name}.weight"].float() + 0.5 * up @ down).half()
    assert torch.equal(weight, expected)
    restore(components, applied)
    _assert_identical(text, before)


def test_locon_3x3_conv_and_1x1_conv(sd1, tmp_path):
    unet, text = sd1
    g = torch.Generator().manual_seed(6)
    conv = unet.get_submodule(CONV1).weight  # [32, 32, 3, 3]
    proj = unet.get_submodule(PROJ_IN).weight  # [32, 32, 1, 1]
    out_c, in_c = conv.shape[:2]
    tensors = {
        "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": torch.randn(4, in_c, 3, 3, generator=g),
        "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight": torch.randn(out_c, 4, 1, 1, generator=g),
        "lora_unet_down_blocks_0_resnets_0_conv1.alpha": torch.tensor(1.0),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.randn(2, 32, 1, 1, generator=g),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.randn(32, 2, 1, 1, generator=g),
    }
    save_file(tensors, str(tmp_path / "locon.safetensors"))
    before = _snapshot(unet)[0]
    components = model_components(unet, [text])
    _, applied = _apply(tmp_path / "locon.safetensors", components, 1.0, build_key_map(unet, [text]))
    down = tensors["lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight"]
    up = tensors["lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight"]
    # by definition: delta[o, i, h, w] = sum_r up[o, r] * down[r, i, h, w]
    conv_delta = torch.einsum("or,rihw->oihw", up[:, :, 0, 0], down) * (1.0 / 4)
    proj_delta = (tensors["lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"][:, :, 0, 0]
                  @ tensors["lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"][:, :, 0, 0])
    _assert_only_changed(unet, before, {f"{CONV1}.weight": before[f"{CONV1}.weight"] + conv_delta,
                                        f"{PROJ_IN}.weight": before[f"{PROJ_IN}.weight"] + proj_delta[..., None, None]})
    restore(components, applied)
    _assert_identical(unet, before)


def test_locon_with_tucker_mid_matches_sequential_convolutions():
    from nodes.runtime.lora.lora_file import LoraPatch
    g = torch.Generator().manual_seed(7)
    down, mid, up = torch.randn(3, 5, 1, 1, generator=g), torch.randn(3, 3, 3, 3, generator=g), \
        torch.randn(6, 3, 1, 1, generator=g)
    delta = weight_delta(LoraPatch("x", "lora", {"down": down, "mid": mid, "up": up}), (6, 5, 3, 3))
    x = torch.randn(1, 5, 7, 7, generator=g)
    sequential = torch.nn.functional.conv2d(torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, down), mid), up)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, delta), sequential, rtol=1e-4, atol=1e-4)


def test_loha_and_lokr(sd1, tmp_path):
    unet, text = sd1
    g = torch.Generator().manual_seed(8)
    k = unet.get_submodule(ATTN2_K).weight  # [32, 64]
    to_q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"  # [32, 32]
    to_v = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v"  # [32, 32]
    loha = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    lokr_full = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    lokr_factored = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v"
    t = {f"{loha}.hada_w1_a": torch.randn(32, 2, generator=g), f"{loha}.hada_w1_b": torch.randn(2, 64, generator=g),
         f"{loha}.hada_w2_a": torch.randn(32, 2, generator=g), f"{loha}.hada_w2_b": torch.randn(2, 64, generator=g),
         f"{loha}.alpha": torch.tensor(1.0),
         f"{lokr_full}.lokr_w1": torch.randn(4, 8, generator=g), f"{lokr_full}.lokr_w2": torch.randn(8, 4, generator=g),
         f"{lokr_full}.alpha": torch.tensor(3.0),  # ignored: both factors full, no rank
         f"{lokr_factored}.lokr_w1": torch.randn(2, 4, generator=g),
         f"{lokr_factored}.lokr_w2_a": torch.randn(16, 2, generator=g),
         f"{lokr_factored}.lokr_w2_b": torch.randn(2, 8, generator=g), f"{lokr_factored}.alpha": torch.tensor(1.0)}
    save_file(t, str(tmp_path / "lycoris.safetensors"))
    before = _snapshot(unet)[0]
    components = model_components(unet, [text])
    lora, applied = _apply(tmp_path / "lycoris.safetensors", components, 0.5, build_key_map(unet, [text]))
    assert {p.kind for p in lora.patches.values()} == {"loha", "lokr"}
    loha_delta = (t[f"{loha}.hada_w1_a"] @ t[f"{loha}.hada_w1_b"]) * (t[f"{loha}.hada_w2_a"] @ t[f"{loha}.hada_w2_b"])
    full_delta = torch.kron(t[f"{lokr_full}.lokr_w1"], t[f"{lokr_full}.lokr_w2"])
    factored_delta = torch.kron(t[f"{lokr_factored}.lokr_w1"],
                                t[f"{lokr_factored}.lokr_w2_a"] @ t[f"{lokr_factored}.lokr_w2_b"]) * 0.5
    assert k.shape == loha_delta.shape
    _assert_only_changed(unet, before, {
        f"{ATTN2_K}.weight": before[f"{ATTN2_K}.weight"] + 0.5 * 0.5 * loha_delta,
        f"{to_q}.weight": before[f"{to_q}.weight"] + 0.5 * full_delta,
        f"{to_v}.weight": before[f"{to_v}.weight"] + 0.5 * factored_delta})
    restore(components, applied)
    _assert_identical(unet, before)


def test_dora_renormalises_each_output_channel_to_dora_scale(sd1, tmp_path):
    unet, text = sd1
    g = torch.Generator().manual_seed(9)
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    magnitude = torch.rand(32, 1, generator=g) + 0.5
    t = {f"{key}.lora_down.weight": torch.randn(4, 64, generator=g), f"{key}.lora_up.weight":
         torch.randn(32, 4, generator=g) * 0.1, f"{key}.alpha": torch.tensor(4.0), f"{key}.dora_scale": magnitude}
    save_file(t, str(tmp_path / "dora.safetensors"))
    before = _snapshot(unet)[0]
    components = model_components(unet, [text])
    key_map = build_key_map(unet, [text])
    _, applied = _apply(tmp_path / "dora.safetensors", components, 1.0, key_map)
    weight = unet.get_submodule(ATTN2_K).weight.detach()
    directional = before[f"{ATTN2_K}.weight"] + t[f"{key}.lora_up.weight"] @ t[f"{key}.lora_down.weight"]
    expected = magnitude * directional / directional.norm(dim=1, keepdim=True)
    torch.testing.assert_close(weight, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weight.norm(dim=1), magnitude[:, 0], rtol=1e-5, atol=1e-6)
    restore(components, applied)
    _assert_identical(unet, before)
    # strength 0 leaves the weight as it was
    _, applied = _apply(tmp_path / "dora.safetensors", components, 0.0, key_map)
    assert torch.equal(unet.get_submodule(ATTN2_K).weight, before[f"{ATTN2_K}.weight"])
    restore(components, applied)


@pytest.mark.parametrize("down, up", [("lora_A.weight", "lora_B.weight"), ("lora.down.weight", "lora.up.weight")])
def test_diffusers_and_peft_names(sd1, tmp_path, down, up):
    unet, text = sd1
    g = torch.Generator().manual_seed(10)
    keys = [f"unet.{ATTN2_K}", f"base_model.model.unet.{CONV1}", "text_encoder.text_model.encoder.layers.0.mlp.fc1",
            "text_encoder.encoder.layers.0.self_attn.out_proj"]
    key_map = build_key_map(unet, [text])
    components = model_components(unet, [text])
    tensors = {}
    for key in keys:
        weight = components[key_map[key.replace("base_model.model.", "")].component].get_submodule(
            key_map[key.replace("base_model.model.", "")].module_name).weight
        tensors[f"{key}.{down}"] = torch.randn(2, *weight.shape[1:], generator=g)
        tensors[f"{key}.{up}"] = torch.randn(weight.shape[0], 2, *([1, 1] if weight.dim() == 4 else []), generator=g)
    save_file(tensors, str(tmp_path / "diffusers.safetensors"))
    before_unet, before_text = _snapshot(unet, text)
    _, applied = _apply(tmp_path / "diffusers.safetensors", components, 1.0, key_map)
    assert len(applied.changed_weights) == 4 and not applied.unmatched
    assert {t.module_name.removeprefix("text_model.") for t in applied.changed_weights} == {
        ATTN2_K, CONV1, "encoder.layers.0.mlp.fc1", "encoder.layers.0.self_attn.out_proj"}
    restore(components, applied)
    _assert_identical(unet, before_unet)
    _assert_identical(text, before_text)


# the real SDXL base numbering (2 res blocks per level): names as published SDXL LoRAs use them
SDXL_PAIRS = {
    "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_k":
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k",
    "lora_unet_input_blocks_8_1_transformer_blocks_9_attn2_to_out_0":
        "down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_out.0",
    "lora_unet_middle_block_1_transformer_blocks_0_ff_net_0_proj":
        "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj",
    "lora_unet_middle_block_2_in_layers_2": "mid_block.resnets.1.conv1",
    "lora_unet_output_blocks_0_1_proj_in": "up_blocks.0.attentions.0.proj_in",
    "lora_unet_output_blocks_2_2_conv": "up_blocks.0.upsamplers.0.conv",
    "lora_unet_output_blocks_5_2_conv": "up_blocks.1.upsamplers.0.conv",
    "lora_unet_output_blocks_8_0_skip_connection": "up_blocks.2.resnets.2.conv_shortcut",
    "lora_unet_input_blocks_3_0_op": "down_blocks.0.downsamplers.0.conv",
    "lora_unet_input_blocks_1_0_emb_layers_1": "down_blocks.0.resnets.0.time_emb_proj",
    "lora_unet_label_emb_0_0": "add_embedding.linear_1",
}


def test_full_size_sdxl_sgm_names_reach_the_same_modules_as_diffusers_names():
    from tests.fixtures.tiny_checkpoints import full_size_layout

    unet = full_size_layout("SDXL").unet  # the published SDXL base config on meta: no memory, no init
    key_map = build_key_map(unet)
    for sgm, diffusers_name in SDXL_PAIRS.items():
        assert key_map[sgm] == Target("unet", diffusers_name), sgm
        assert key_map["lora_unet_" + diffusers_name.replace(".", "_")] == key_map[sgm]


def test_tiny_sdxl_sgm_names_and_two_text_encoders(sdxl):
    unet, text_l, text_g = sdxl
    key_map = build_key_map(unet, [text_l, text_g])
    # one res block per level here: input_blocks.i = 1 + 2 * level + block
    pairs = {"lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_k":
             "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k",
             "lora_unet_input_blocks_5_1_transformer_blocks_1_attn2_to_v":
             "down_blocks.2.attentions.0.transformer_blocks.1.attn2.to_v",
             "lora_unet_output_blocks_1_2_conv": "up_blocks.0.upsamplers.0.conv"}
    for sgm, diffusers_name in pairs.items():
        assert key_map[sgm] == Target("unet", diffusers_name), sgm
    # every patchable UNet layer is reachable both ways
    targets = {t for t in key_map.values() if t.component == "unet"}
    sgm_reached = {t for k, t in key_map.items()
                   if k.startswith("lora_unet_") and k != "lora_unet_" + t.module_name.replace(".", "_")}
    assert len(targets) > 50 and sgm_reached == targets
    assert key_map["lora_te1_text_model_encoder_layers_0_self_attn_q_proj"].component == "text_encoder"
    assert key_map["lora_te2_text_model_encoder_layers_0_mlp_fc2"].component == "text_encoder_2"
    assert key_map["text_encoder_2.text_model.encoder.layers.0.mlp.fc2"] == \
        key_map["lora_te2_text_model_encoder_layers_0_mlp_fc2"]


def test_a_checkpoint_given_as_a_lora_is_refused_with_advice(tmp_path):
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3),
               "first_stage_model.decoder.conv_in.weight": torch.zeros(2, 2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(NotALoraError, match="full checkpoint.*models/checkpoints"):
        read_lora(tmp_path / "model.safetensors")
    save_file({"emb_params": torch.zeros(2, 768)}, str(tmp_path / "emb.safetensors"))
    with pytest.raises(NotALoraError, match="embedding.*models/embeddings"):
        read_lora(tmp_path / "emb.safetensors")


def test_a_lora_for_another_family_is_named(sd1, tmp_path):
    unet, text = sd1
    g = torch.Generator().manual_seed(11)
    xl = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k"
    save_file({f"{xl}.lora_down.weight": torch.randn(4, 2048, generator=g),
               f"{xl}.lora_up.weight": torch.randn(640, 4, generator=g),
               "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.randn(4, 1280),
               "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.randn(1280, 4)},
              str(tmp_path / "xl.safetensors"))
    lora = read_lora(tmp_path / "xl.safetensors")
    assert lora.family == "SDXL"
    with pytest.raises(LoraFamilyError, match="LoRA for SDXL but the model is SD1.x"):
        check_family(lora, "SD1.x")
    check_family(lora, "SDXL")

    sd1_lora = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file({f"{sd1_lora}.lora_down.weight": torch.randn(4, 768), f"{sd1_lora}.lora_up.weight": torch.randn(320, 4)},
              str(tmp_path / "sd1.safetensors"))
    assert read_lora(tmp_path / "sd1.safetensors").family == "SD1.x"
    save_file({f"{sd1_lora}.lora_down.weight": torch.randn(4, 64), f"{sd1_lora}.lora_up.weight": torch.randn(32, 4)},
              str(tmp_path / "v2.safetensors"), metadata={"ss_base_model_version": "sd_v2_768_v"})
    assert read_lora(tmp_path / "v2.safetensors").family == "SD2.x"


def test_unmatched_and_misshapen_keys_are_counted_and_named(sd1, tmp_path, caplog):
    unet, text = sd1
    g = torch.Generator().manual_seed(12)
    good = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {f"{good}.lora_down.weight": torch.randn(2, 64, generator=g),
               f"{good}.lora_up.weight": torch.randn(32, 2, generator=g),
               # the right layer name but SD1.5 full-size shapes: does not fit the tiny model
               "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v.lora_down.weight":
                   torch.randn(2, 768), "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v"
                                        ".lora_up.weight": torch.randn(320, 2)}
    for i in range(7):
        tensors[f"lora_unet_nowhere_{i}.lora_down.weight"] = torch.randn(2, 8)
        tensors[f"lora_unet_nowhere_{i}.lora_up.weight"] = torch.randn(8, 2)
    save_file(tensors, str(tmp_path / "partial.safetensors"))
    components = model_components(unet, [text])
    before = _snapshot(unet)[0]
    with caplog.at_level(logging.DEBUG):
        _, applied = _apply(tmp_path / "partial.safetensors", components, 1.0, build_key_map(unet, [text]))
    assert len(applied.unmatched) == 7
    assert applied.mismatched == ["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v"]
    message = applied.message()
    assert "7 keys matched no layer" in message and "lora_unet_nowhere_0" in message
    assert "lora_unet_nowhere_6" not in message  # only a few are named
    assert "1 keys did not fit" in message
    assert "matched no layer" in caplog.text  # in the debug log, not a flood of warnings
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    restore(components, applied)
    _assert_identical(unet, before)


def test_incomplete_and_unknown_files(tmp_path):
    save_file({"lora_unet_x.lora_down.weight": torch.zeros(2, 4)}, str(tmp_path / "half.safetensors"))
    with pytest.raises(LoraError, match="lacks up"):
        read_lora(tmp_path / "half.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"not a file")
    with pytest.raises(LoraError, match="download it again"):
        read_lora(tmp_path / "broken.safetensors")
    with pytest.raises(LoraError, match="models/loras"):
        read_lora(tmp_path / "missing.safetensors")


class Payload:
    """Not a tensor: a weights-only load must refuse it."""


def test_pickle_loras_load_weights_only(tmp_path):
    torch.save({"lora_unet_a.lora_down.weight": torch.ones(2, 4), "lora_unet_a.lora_up.weight": torch.ones(4, 2),
                "lora_unet_a.alpha": torch.tensor(1.0)}, tmp_path / "old.pt")
    lora = read_lora(tmp_path / "old.pt")
    assert lora.patches["lora_unet_a"].alpha == 1.0 and lora.patches["lora_unet_a"].rank == 2

    torch.save({"x": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(LoraError, match="safetensors"):
        read_lora(tmp_path / "evil.ckpt")


def test_old_diffusers_attention_processor_names(sd1, tmp_path):
    unet, text = sd1
    g = torch.Generator().manual_seed(13)
    base = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor"
    tensors = {f"{base}.to_q_lora.down.weight": torch.randn(2, 32, generator=g),
               f"{base}.to_q_lora.up.weight": torch.randn(32, 2, generator=g),
               f"{base}.to_out_lora.down.weight": torch.randn(2, 32, generator=g),
               f"{base}.to_out_lora.up.weight": torch.randn(32, 2, generator=g)}
    save_file(tensors, str(tmp_path / "processor.safetensors"))
    components = model_components(unet, [text])
    before = _snapshot(unet)[0]
    _, applied = _apply(tmp_path / "processor.safetensors", components, 1.0, build_key_map(unet, [text]))
    attn = "down_blocks.0.attentions.0.transformer_blocks.0.attn1"
    assert set(applied.changed_weights) == {Target("unet", f"{attn}.to_q"), Target("unet", f"{attn}.to_out.0")}
    restore(components, applied)
    _assert_identical(unet, before)


def test_memory_mapped_weights_are_never_written_and_come_back_as_the_same_tensors(sd1, tmp_path):
    """Same-dtype CPU loads keep weights mapped read-only from the file: patching must replace, not write."""
    import mmap

    unet, text = sd1
    layer = unet.get_submodule(ATTN2_K)
    own = layer.weight  # put back at the end: the fixture's modules are shared with other tests
    raw = tmp_path / "weight.bin"
    raw.write_bytes(layer.weight.detach().numpy().tobytes())
    with open(raw, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    with pytest.warns(UserWarning, match="not writable"):
        read_only = torch.frombuffer(mapped, dtype=torch.float32).reshape(layer.weight.shape)
    original = torch.nn.Parameter(read_only, requires_grad=False)
    layer.weight = original
    g = torch.Generator().manual_seed(9)
    prefix = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {f"{prefix}.lora_down.weight": torch.randn(2, layer.weight.shape[1], generator=g),
               f"{prefix}.lora_up.weight": torch.randn(layer.weight.shape[0], 2, generator=g)}
    save_file(tensors, str(tmp_path / "mapped.safetensors"))
    components = model_components(unet, [text])
    _, applied = _apply(tmp_path / "mapped.safetensors", components, 1.0, build_key_map(unet, [text]))
    expected = read_only + tensors[f"{prefix}.lora_up.weight"] @ tensors[f"{prefix}.lora_down.weight"]
    assert torch.allclose(layer.weight, expected) and layer.weight is not original
    restore(components, applied)
    assert layer.weight is original
    layer.weight = own
