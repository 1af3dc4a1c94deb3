"""ControlNet and T2I-Adapter files in their real layouts load into the same weights they were written from, the
family is told from shapes, and wrong files get errors that say what they are and where they go."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graph_engine import InvalidNodeInput
from nodes.runtime.checkpoints import classify_file, load_checkpoint
from nodes.runtime.checkpoints.errors import NotACheckpointError
from nodes.runtime.controlnet import ControlNetError, load_control_model
from nodes.runtime.models import DiffusionModel
from tests.fixtures.tiny_checkpoints import build_sd1, sd1_unet, sd2_unet, sdxl_unet
from tests.fixtures.tiny_controlnets import tiny_adapter, tiny_controlnet, write_adapter, write_controlnet

def xl_unet():
    return sdxl_unet(pooled_width=32, size_embed_channels=256)  # SDXL's 256 tells the pooled width from shapes


UNETS = {"SD1.x": sd1_unet, "SD2.x": sd2_unet, "SDXL": xl_unet}


def assert_same_weights(module: torch.nn.Module, reference: torch.nn.Module) -> None:
    got, expected = module.state_dict(), reference.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def _listed(value):
    return list(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("family", sorted(UNETS))
@pytest.mark.parametrize("layout", ["ldm", "ldm_bare", "diffusers"])
def test_controlnet_layouts_load_their_weights_and_family(tmp_path, family, layout):
    reference = tiny_controlnet(UNETS[family]())
    written = write_controlnet(tmp_path / "cn.safetensors", reference, layout)
    control = load_control_model(written.path)
    assert control.architecture == family
    assert_same_weights(control.control_model, reference)
    assert control.control_model.config.conditioning_channels == 3
    for name in ("block_out_channels", "layers_per_block", "down_block_types", "transformer_layers_per_block",
                 "cross_attention_dim", "use_linear_projection", "addition_time_embed_dim",
                 "projection_class_embeddings_input_dim", "conditioning_embedding_out_channels"):
        assert _listed(control.control_model.config[name]) == _listed(reference.config[name]), name
    assert control.control_model.config.upcast_attention == (family == "SD2.x")


def test_original_layout_keys_are_the_published_ones(tmp_path):
    written = write_controlnet(tmp_path / "cn.safetensors", tiny_controlnet(sd1_unet()), "ldm")
    keys = set(written.state)
    for key in ("control_model.input_hint_block.0.weight", "control_model.input_hint_block.14.weight",
                "control_model.zero_convs.0.0.weight", "control_model.middle_block_out.0.weight",
                "control_model.input_blocks.1.1.proj_in.weight", "control_model.middle_block.2.out_layers.3.weight",
                "control_model.time_embed.0.weight"):
        assert key in keys


@pytest.mark.parametrize("adapter_type", ["full_adapter", "light_adapter", "full_adapter_xl"])
@pytest.mark.parametrize("layout", ["tencentarc", "diffusers"])
def test_t2i_adapter_layouts_load_their_weights(tmp_path, adapter_type, layout):
    reference = tiny_adapter(adapter_type)
    written = write_adapter(tmp_path / "adapter.safetensors", reference, layout)
    control = load_control_model(written.path)
    assert control.config.adapter_type == adapter_type and control.config.in_channels == 3
    assert control.architecture == ("SDXL" if adapter_type.endswith("xl") else "SD1.x")
    assert_same_weights(control.t2i_model, reference)


def test_tencentarc_keys_number_the_full_adapters_blocks_in_one_list(tmp_path):
    written = write_adapter(tmp_path / "a.safetensors", tiny_adapter("full_adapter"), "tencentarc")
    # two res blocks per level: level 2's first block is body.4, and it changes the channels (32 to 64: in_conv)
    assert {"conv_in.weight", "body.4.in_conv.weight", "body.7.block2.weight"} <= set(written.state)
    light = write_adapter(tmp_path / "l.safetensors", tiny_adapter("light_adapter"), "tencentarc")
    assert {"body.3.in_conv.weight", "body.3.body.1.block1.weight", "body.3.out_conv.weight"} <= set(light.state)


def test_a_sketch_adapter_reads_one_channel(tmp_path):
    written = write_adapter(tmp_path / "sketch.safetensors", tiny_adapter("full_adapter", in_channels=1))
    control = load_control_model(written.path)
    assert control.config.in_channels == 1 and control.hint_channels is None


def test_diff_controlnet_adds_the_models_unet_weights(tmp_path):
    unet = sd1_unet()
    full = tiny_controlnet(unet)
    written = write_controlnet(tmp_path / "diff.safetensors", full, "diff", base=unet)
    model = DiffusionModel(unet=unet, architecture="SD1.x", prediction_type="epsilon", source="tiny")
    control = load_control_model(written.path, model)
    got = control.control_model.state_dict()
    for key, value in full.state_dict().items():  # offsets + the UNet's weights give the full ControlNet back
        torch.testing.assert_close(got[key], value, atol=1e-6, rtol=0)
    assert "down_blocks.0.resnets.0.conv1.weight" in unet.state_dict()  # the offsets really were offsets of it


def test_diff_controlnet_without_a_model_says_which_loader(tmp_path):
    unet = sd1_unet()
    written = write_controlnet(tmp_path / "diff.safetensors", tiny_controlnet(unet), "diff", base=unet)
    with pytest.raises(ControlNetError, match=r"diff ControlNet.*DiffControlNetLoader"):
        load_control_model(written.path)


def test_diff_controlnet_for_another_family_is_refused(tmp_path):
    unet = sd1_unet()
    written = write_controlnet(tmp_path / "diff.safetensors", tiny_controlnet(unet), "diff", base=unet)
    sdxl = DiffusionModel(unet=xl_unet(), architecture="SDXL", prediction_type="epsilon",
                          source="xl.safetensors")
    with pytest.raises(ControlNetError,
                       match=r"diff ControlNet for SD1\.x.*xl\.safetensors\) is SDXL: give it a SD1\.x model"):
        load_control_model(written.path, sdxl)


def test_a_checkpoint_given_as_controlnet_says_where_it_goes(tmp_path):
    checkpoint = build_sd1(tmp_path)
    with pytest.raises(ControlNetError, match=r"is a checkpoint \(SD1\.x\), not a ControlNet.*CheckpointLoaderSimple"):
        load_control_model(checkpoint.path)


def test_other_files_and_unsupported_control_models_are_named(tmp_path):
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_x.lora_down.weight": torch.zeros(2, 4), "lora_unet_x.lora_up.weight": torch.zeros(4, 2)},
              str(lora))
    with pytest.raises(ControlNetError, match=r"is a LoRA.*not a ControlNet"):
        load_control_model(lora)
    other = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(other))
    with pytest.raises(ControlNetError, match=r"not a ControlNet or T2I-Adapter"):
        load_control_model(other)
    union = tmp_path / "union.safetensors"
    save_file({"controlnet_cond_embedding.conv_in.weight": torch.zeros(16, 3, 3, 3),
               "task_embedding": torch.zeros(8, 4)}, str(union))
    with pytest.raises(ControlNetError, match=r"union ControlNet"):
        load_control_model(union)
    flux = tmp_path / "flux.safetensors"
    save_file({"controlnet_blocks.0.weight": torch.zeros(2, 2)}, str(flux))
    with pytest.raises(ControlNetError, match=r"transformer model family"):
        load_control_model(flux)


def test_a_controlnet_given_as_checkpoint_names_the_controlnet_loader(tmp_path):
    written = write_controlnet(tmp_path / "cn.safetensors", tiny_controlnet(sd1_unet()), "ldm")
    with pytest.raises(NotACheckpointError, match=r"is a ControlNet.*Load ControlNet Model \(ControlNetLoader\)"):
        load_checkpoint(written.path)
    adapter = write_adapter(tmp_path / "a.safetensors", tiny_adapter("light_adapter"))
    shapes = {key: tuple(value.shape) for key, value in adapter.state.items()}
    found = classify_file(shapes, {})
    assert (found.kind, found.description) == ("controlnet", "a T2I-Adapter")


def test_an_sdxl_controlnet_on_an_sd1_model_says_what_each_is(tmp_path):
    written = write_controlnet(tmp_path / "xl_cn.safetensors", tiny_controlnet(xl_unet()), "ldm")
    control = load_control_model(written.path).copy()
    model = DiffusionModel(unet=sd1_unet(), architecture="SD1.x", prediction_type="epsilon", source="sd15.safetensors")
    with pytest.raises(InvalidNodeInput, match=r"xl_cn\.safetensors is a SDXL ControlNet but the model being sampled "
                                               r"\(sd15\.safetensors\) is SD1\.x"):
        control.pre_run(model)


REAL_CONFIGS = {  # the published ControlNets' configs (lllyasviel SD1.5 v1.1, thibaud SD2.1, diffusers SDXL canny)
    "SD1.x": dict(cross_attention_dim=768, attention_head_dim=8),
    "SD2.x": dict(cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], use_linear_projection=True),
    "SDXL": dict(block_out_channels=(320, 640, 1280), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D",
                                                                        "CrossAttnDownBlock2D"),
                 transformer_layers_per_block=[1, 2, 10], cross_attention_dim=2048, attention_head_dim=[5, 10, 20],
                 use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816),
}


@pytest.mark.parametrize("family", sorted(REAL_CONFIGS))
def test_full_size_controlnets_are_detected_from_their_shapes(family):
    from diffusers import ControlNetModel

    from nodes.runtime.controlnet.controlnet_weights import controlnet_config, original_name

    with torch.device("meta"):  # shapes only: no memory
        real = ControlNetModel(**REAL_CONFIGS[family])
    shapes = {original_name(key, 2): tuple(value.shape) for key, value in real.state_dict().items()}
    assert shapes["input_hint_block.14.weight"] == (320, 256, 3, 3)
    architecture, config = controlnet_config(shapes, Path("real.safetensors"))
    assert str(architecture) == family
    with torch.device("meta"):
        rebuilt = ControlNetModel(**config)
    assert {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == {
        k: tuple(v.shape) for k, v in real.state_dict().items()}
    heads = [module.heads for name, module in rebuilt.named_modules() if name.endswith("attn1")]
    assert heads == [module.heads for name, module in real.named_modules() if name.endswith("attn1")]
