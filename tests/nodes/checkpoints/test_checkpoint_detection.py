"""Architecture, component configs and prediction type are read from key names and shapes (and sidecars)."""
from __future__ import annotations

import json
import shutil

import pytest

from nodes.runtime.checkpoints import (Architecture, SidecarConfigError, detect_architecture, inspect_checkpoint,
                                       open_checkpoint_file)
from tests.fixtures.tiny_checkpoints import full_size_layout

UNET_FIELDS = ("in_channels", "out_channels", "block_out_channels", "layers_per_block", "down_block_types",
               "up_block_types", "cross_attention_dim", "attention_head_dim", "use_linear_projection",
               "addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim",
               "norm_num_groups")
VAE_FIELDS = ("in_channels", "out_channels", "latent_channels", "block_out_channels", "layers_per_block",
              "down_block_types", "up_block_types", "norm_num_groups", "mid_block_add_attention", "scaling_factor")
CLIP_FIELDS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "max_position_embeddings", "hidden_act", "eos_token_id")


def listed(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def per_level(value, levels: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * levels


def assert_configs_match(detected, unet, vae, text_encoders) -> None:
    for name in UNET_FIELDS:
        assert listed(detected.unet_config.get(name)) == listed(unet.config[name]), name
    levels = len(unet.config.block_out_channels)
    assert (per_level(detected.unet_config["transformer_layers_per_block"], levels)
            == per_level(unet.config.transformer_layers_per_block, levels))
    for name in VAE_FIELDS:
        assert listed(detected.vae_config[name]) == listed(vae.config[name]), name
    assert len(detected.text_encoders) == len(text_encoders)
    for spec, reference in zip(detected.text_encoders, text_encoders):
        for name in CLIP_FIELDS:
            assert spec.config[name] == getattr(reference.config, name), (spec.name, name)
        if spec.with_projection:
            assert spec.config["projection_dim"] == reference.config.projection_dim


def test_each_tiny_checkpoint_is_detected_with_the_configs_of_the_modules_it_was_made_from(tiny):
    detected = detect_architecture(open_checkpoint_file(tiny.path).shapes, tiny.path)
    assert detected.architecture == tiny.architecture
    assert_configs_match(detected, tiny.unet, tiny.vae, tiny.text_encoders)
    assert [spec.with_projection for spec in detected.text_encoders] == [
        hasattr(reference, "text_projection") for reference in tiny.text_encoders]


@pytest.mark.parametrize("architecture", ["SD1.x", "SD2.x", "SDXL"])
def test_full_size_layouts_give_the_published_configs(architecture):
    """The real models' shapes (built on meta, so free) give SD1.5's, SD2.1's and SDXL base's diffusers configs."""
    layout = full_size_layout(architecture)
    detected = detect_architecture(layout.shapes)
    assert detected.architecture == architecture
    assert_configs_match(detected, layout.unet, layout.vae, layout.text_encoders)


def test_text_encoder_specs_say_which_hidden_state_each_family_conditions_on(tiny_sd1, tiny_sd2, tiny_sdxl):
    def specs(tiny):
        detected = detect_architecture(open_checkpoint_file(tiny.path).shapes)
        return [(s.name, s.layout, s.hidden_layer, s.final_norm) for s in detected.text_encoders]

    assert specs(tiny_sd1) == [("clip_l", "transformers", -1, True)]
    assert specs(tiny_sd2) == [("open_clip_h", "open_clip", -2, True)]
    assert specs(tiny_sdxl) == [("clip_l", "transformers", -2, False), ("clip_g", "open_clip", -2, False)]


def test_sd2_upcasts_attention_and_architecture_names_read_as_users_know_them(tiny_sd2):
    detected = detect_architecture(open_checkpoint_file(tiny_sd2.path).shapes)
    assert detected.unet_config["upcast_attention"] is True
    assert str(Architecture.SDXL) == "SDXL" and Architecture.SD1 == "SD1.x"


def test_prediction_type_follows_the_documented_rule(tiny_sd1, tiny_sd2, tiny_sd2_v, tiny_sdxl):
    for tiny in (tiny_sd1, tiny_sd2, tiny_sd2_v, tiny_sdxl):
        summary = inspect_checkpoint(tiny.path)
        assert summary.prediction.prediction_type == tiny.prediction_type, summary.prediction.reason
    assert "heuristic" in inspect_checkpoint(tiny_sd2_v.path).prediction.reason


@pytest.fixture
def sd2_v_copy(tiny_sd2_v, tmp_path):
    """The v-prediction SD2 file copied where a sidecar can be put next to it."""
    return shutil.copy(tiny_sd2_v.path, tmp_path / "model.safetensors")


def test_an_ldm_yaml_sidecar_decides_the_prediction_type(sd2_v_copy, tmp_path):
    (tmp_path / "model.yaml").write_text("model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n"
                                         "  params:\n    linear_start: 0.00085\n")
    prediction = inspect_checkpoint(sd2_v_copy).prediction
    assert (prediction.prediction_type, prediction.reason) == ("epsilon", "set by model.yaml")

    (tmp_path / "model.yaml").write_text("model:\n  params:\n    parameterization: \"v\"\n")
    assert inspect_checkpoint(sd2_v_copy).prediction.prediction_type == "v_prediction"


def test_a_json_sidecar_overrides_the_heuristic_and_a_bad_one_is_named(sd2_v_copy, tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"prediction_type": "epsilon"}))
    assert inspect_checkpoint(sd2_v_copy).prediction.prediction_type == "epsilon"

    (tmp_path / "model.json").write_text(json.dumps({"prediction_type": "sample"}))
    with pytest.raises(SidecarConfigError, match=r"model\.json.*'sample'.*epsilon.*v_prediction"):
        inspect_checkpoint(sd2_v_copy)

    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(SidecarConfigError, match=r"model\.json.*could not be read"):
        inspect_checkpoint(sd2_v_copy)


def test_a_v_pred_marker_key_makes_any_family_v_prediction(tiny_sd1, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(tiny_sd1.path)
    weights["v_pred"] = torch.tensor([])
    save_file(weights, tmp_path / "vpred.safetensors")
    assert inspect_checkpoint(tmp_path / "vpred.safetensors").prediction.prediction_type == "v_prediction"
