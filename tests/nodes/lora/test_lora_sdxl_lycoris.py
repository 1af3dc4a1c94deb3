"""LyCORIS LoHa / LoKr and DoRA files for SDXL, named as kohya/LyCORIS SDXL trainers write them: original (SGM)
UNet block names and `lora_te1_` (CLIP-L) / `lora_te2_` (OpenCLIP bigG) text encoder names.

Each expected weight is merged here from the file's own tensors with the published formulas, never with the
library's delta functions, so a wrong scale, factor order or target layer shows as a mismatch.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from nodes.runtime.lora.deltas import restore
from nodes.runtime.lora.key_map import Target, build_key_map, model_components
from tests.nodes.lora.conftest import _apply, _assert_identical, _assert_only_changed, _snapshot, _text_module_name

# tiny SDXL numbering (one res block per level): input_blocks.i = 1 + 2 * level + block, see test_lora_files.py
UNET_LAYERS = {
    "lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q":
        "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",  # [64, 64]
    "lora_unet_input_blocks_5_1_transformer_blocks_1_attn2_to_k":
        "down_blocks.2.attentions.0.transformer_blocks.1.attn2.to_k",  # [64, 128]: reads the text
    "lora_unet_input_blocks_5_1_transformer_blocks_0_attn1_to_v":
        "down_blocks.2.attentions.0.transformer_blocks.0.attn1.to_v",  # [64, 64]
    "lora_unet_output_blocks_0_1_transformer_blocks_1_ff_net_0_proj":
        "up_blocks.0.attentions.0.transformer_blocks.1.ff.net.0.proj",  # [512, 64]
    "lora_unet_input_blocks_5_0_in_layers_2": "down_blocks.2.resnets.0.conv1",  # [64, 64, 3, 3]
    "lora_unet_middle_block_1_transformer_blocks_0_attn2_to_v":
        "mid_block.attentions.0.transformer_blocks.0.attn2.to_v",  # [64, 128]
}
TE1_Q = "lora_te1_text_model_encoder_layers_0_self_attn_q_proj"  # CLIP-L [64, 64]
TE2_FC1 = "lora_te2_text_model_encoder_layers_0_mlp_fc1"  # bigG [128, 64]
TE2_OUT = "lora_te2_text_model_encoder_layers_0_self_attn_out_proj"  # bigG [64, 64]
SDXL_METADATA = {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_module": "lycoris.kohya"}


def _targets(text_l: torch.nn.Module, text_g: torch.nn.Module) -> dict[str, Target]:
    """Where each file key must land, written out independently of the key map."""
    targets = {key: Target("unet", name) for key, name in UNET_LAYERS.items()}
    targets[TE1_Q] = Target("text_encoder", _text_module_name(text_l, "encoder.layers.0.self_attn.q_proj"))
    targets[TE2_FC1] = Target("text_encoder_2", _text_module_name(text_g, "encoder.layers.0.mlp.fc1"))
    targets[TE2_OUT] = Target("text_encoder_2", _text_module_name(text_g, "encoder.layers.0.self_attn.out_proj"))
    return targets


def _check(sdxl, path: Path, strength: float, expected_deltas: dict[str, torch.Tensor]):
    """Apply the file to the tiny SDXL model; every file key must hit its own layer, exactly the expected weights
    change (to base + delta, float32 round-off), and restore must give back the very same bits."""
    unet, text_l, text_g = sdxl
    modules = {"unet": unet, "text_encoder": text_l, "text_encoder_2": text_g}
    targets = _targets(text_l, text_g)
    key_map = build_key_map(unet, [text_l, text_g])
    befores = dict(zip(modules, _snapshot(*modules.values())))
    components = model_components(unet, [text_l, text_g])
    lora, applied = _apply(path, components, strength, key_map)

    assert set(lora.patches) == set(expected_deltas) and not lora.unrecognised
    for key in lora.patches:
        assert key_map[key] == targets[key], key
    assert sorted(applied.applied) == sorted(expected_deltas)
    assert applied.unmatched == [] and applied.mismatched == []
    assert set(applied.changed_weights) == {targets[key] for key in expected_deltas}
    for component, module in modules.items():
        before = befores[component]
        changed = {targets[key].weight_name: before[targets[key].weight_name] + delta
                   for key, delta in expected_deltas.items() if targets[key].component == component}
        _assert_only_changed(module, before, changed)

    restore(components, applied)
    for component, module in modules.items():
        _assert_identical(module, befores[component])
    return lora


def test_sdxl_loha_on_the_unet_and_both_text_encoders(sdxl, tmp_path):
    g = torch.Generator().manual_seed(21)
    # key -> (out, in, rank, alpha or None)
    layers = {"lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q": (64, 64, 4, 2.0),
              "lora_unet_input_blocks_5_1_transformer_blocks_1_attn2_to_k": (64, 128, 2, 1.0),
              TE1_Q: (64, 64, 2, 1.0),
              TE2_FC1: (128, 64, 4, None)}  # no alpha: scale 1
    t: dict[str, torch.Tensor] = {}
    for key, (out_f, in_f, rank, alpha) in layers.items():
        t[f"{key}.hada_w1_a"] = torch.randn(out_f, rank, generator=g)
        t[f"{key}.hada_w1_b"] = torch.randn(rank, in_f, generator=g)
        t[f"{key}.hada_w2_a"] = torch.randn(out_f, rank, generator=g)
        t[f"{key}.hada_w2_b"] = torch.randn(rank, in_f, generator=g)
        if alpha is not None:
            t[f"{key}.alpha"] = torch.tensor(alpha)
    path = tmp_path / "sdxl_loha.safetensors"
    save_file(t, str(path))  # no metadata: the te1/te2 names alone say SDXL
    strength = 0.8
    # LoHa: delta = alpha / rank * (w1_a @ w1_b) ⊙ (w2_a @ w2_b), rank = rows of w1_b
    expected = {key: strength * ((alpha / rank) if alpha is not None else 1.0)
                * (t[f"{key}.hada_w1_a"] @ t[f"{key}.hada_w1_b"]) * (t[f"{key}.hada_w2_a"] @ t[f"{key}.hada_w2_b"])
                for key, (_, _, rank, alpha) in layers.items()}

    lora = _check(sdxl, path, strength, expected)
    assert lora.family == "SDXL"
    assert {p.kind for p in lora.patches.values()} == {"loha"}


def test_sdxl_lokr_full_factored_and_conv(sdxl, tmp_path):
    g = torch.Generator().manual_seed(22)
    full = "lora_unet_input_blocks_5_1_transformer_blocks_0_attn1_to_v"  # [64, 64] = kron([4, 8], [16, 8])
    factored = "lora_unet_output_blocks_0_1_transformer_blocks_1_ff_net_0_proj"  # [512, 64] = kron([8, 4], [64, 16])
    conv = "lora_unet_input_blocks_5_0_in_layers_2"  # [64, 64, 3, 3] = kron([4, 4], [16, 16, 3, 3])
    t = {f"{full}.lokr_w1": torch.randn(4, 8, generator=g), f"{full}.lokr_w2": torch.randn(16, 8, generator=g),
         f"{full}.alpha": torch.tensor(3.0),  # ignored: both factors full, there is no rank to divide by
         # both factors low-rank (LyCORIS decompose_both), one rank for both
         f"{factored}.lokr_w1_a": torch.randn(8, 2, generator=g),
         f"{factored}.lokr_w1_b": torch.randn(2, 4, generator=g),
         f"{factored}.lokr_w2_a": torch.randn(64, 2, generator=g),
         f"{factored}.lokr_w2_b": torch.randn(2, 16, generator=g), f"{factored}.alpha": torch.tensor(1.0),
         # conv without Tucker core: LyCORIS flattens the kernel into the columns of w2_b ([rank, in * kh * kw])
         f"{conv}.lokr_w1": torch.randn(4, 4, generator=g), f"{conv}.lokr_w2_a": torch.randn(16, 4, generator=g),
         f"{conv}.lokr_w2_b": torch.randn(4, 16 * 3 * 3, generator=g), f"{conv}.alpha": torch.tensor(2.0),
         # a text encoder layer of the bigG encoder, full w1 and low-rank w2
         f"{TE2_OUT}.lokr_w1": torch.randn(8, 8, generator=g), f"{TE2_OUT}.lokr_w2_a": torch.randn(8, 2, generator=g),
         f"{TE2_OUT}.lokr_w2_b": torch.randn(2, 8, generator=g), f"{TE2_OUT}.alpha": torch.tensor(1.0)}
    path = tmp_path / "sdxl_lokr.safetensors"
    save_file(t, str(path), metadata=SDXL_METADATA)
    strength = 0.6
    # LoKr: delta = alpha / rank * kron(w1, w2), each factor full or a @ b; scale 1 when both are full
    w2_conv = (t[f"{conv}.lokr_w2_a"] @ t[f"{conv}.lokr_w2_b"]).reshape(16, 16, 3, 3)
    expected = {
        full: strength * 1.0 * torch.kron(t[f"{full}.lokr_w1"], t[f"{full}.lokr_w2"]),
        factored: strength * (1.0 / 2) * torch.kron(t[f"{factored}.lokr_w1_a"] @ t[f"{factored}.lokr_w1_b"],
                                                    t[f"{factored}.lokr_w2_a"] @ t[f"{factored}.lokr_w2_b"]),
        conv: strength * (2.0 / 4) * torch.kron(t[f"{conv}.lokr_w1"][:, :, None, None], w2_conv),
        TE2_OUT: strength * (1.0 / 2) * torch.kron(t[f"{TE2_OUT}.lokr_w1"],
                                                   t[f"{TE2_OUT}.lokr_w2_a"] @ t[f"{TE2_OUT}.lokr_w2_b"]),
    }
    assert expected[conv].shape == (64, 64, 3, 3) and expected[factored].shape == (512, 64)

    lora = _check(sdxl, path, strength, expected)
    assert lora.family == "SDXL"
    assert {p.kind for p in lora.patches.values()} == {"lokr"}


def test_sdxl_dora_renormalises_each_output_channel_to_dora_scale(sdxl, tmp_path):
    unet, _, _ = sdxl
    g = torch.Generator().manual_seed(23)
    key = "lora_unet_middle_block_1_transformer_blocks_0_attn2_to_v"
    name = UNET_LAYERS[key]
    magnitude = torch.rand(64, 1, generator=g) + 0.5  # one magnitude per output channel
    t = {f"{key}.lora_down.weight": torch.randn(4, 128, generator=g),
         f"{key}.lora_up.weight": torch.randn(64, 4, generator=g) * 0.1,
         f"{key}.alpha": torch.tensor(2.0), f"{key}.dora_scale": magnitude}
    path = tmp_path / "sdxl_dora.safetensors"
    save_file(t, str(path), metadata=SDXL_METADATA)  # UNet only: the family comes from the metadata
    base = unet.get_submodule(name).weight.detach().clone()
    # DoRA: W' = m * (W + alpha / rank * up @ down) / ||row||; strength s gives W + s * (W' - W)
    directional = base + (2.0 / 4) * t[f"{key}.lora_up.weight"] @ t[f"{key}.lora_down.weight"]
    dora = magnitude * directional / directional.norm(dim=1, keepdim=True)

    lora = _check(sdxl, path, 1.0, {key: dora - base})
    assert lora.family == "SDXL"
    assert lora.patches[key].dora_scale is not None

    components = model_components(unet)
    _, applied = _apply(path, components, 1.0, build_key_map(unet))
    torch.testing.assert_close(unet.get_submodule(name).weight.norm(dim=1), magnitude[:, 0], rtol=1e-5, atol=1e-6)
    restore(components, applied)
    assert torch.equal(unet.get_submodule(name).weight, base)

    _check(sdxl, path, 0.5, {key: 0.5 * (dora - base)})


def test_sdxl_dora_with_an_input_channel_scale_on_a_square_layer(sdxl, tmp_path):
    """Older LyCORIS files (wd_on_out=False) store one magnitude per input channel, shaped [1, in]; on a square
    attention projection its length alone cannot tell the axis, its shape must."""
    unet, _, _ = sdxl
    g = torch.Generator().manual_seed(24)
    key = "lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q"  # [64, 64]
    magnitude = torch.rand(1, 64, generator=g) + 0.5
    t = {f"{key}.lora_down.weight": torch.randn(4, 64, generator=g),
         f"{key}.lora_up.weight": torch.randn(64, 4, generator=g) * 0.1,
         f"{key}.alpha": torch.tensor(4.0), f"{key}.dora_scale": magnitude}
    path = tmp_path / "sdxl_dora_input_axis.safetensors"
    save_file(t, str(path), metadata=SDXL_METADATA)
    base = unet.get_submodule(UNET_LAYERS[key]).weight.detach().clone()
    directional = base + (4.0 / 4) * t[f"{key}.lora_up.weight"] @ t[f"{key}.lora_down.weight"]
    dora = magnitude * directional / directional.norm(dim=0, keepdim=True)  # each column to its magnitude

    _check(sdxl, path, 1.0, {key: dora - base})
