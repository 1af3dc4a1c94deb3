"""Kind, base family and precision of every kind of model file, from headers; unusable files named for what they are."""
from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import save_file

from model_library.identify import identify_model
from nodes.runtime.lora.training_info import read_training_info
from tests.fixtures.hostile_files import write_deeply_nested_safetensors
from tests.fixtures.tiny_checkpoints import build_sd1, write_kohya_lora


def test_checkpoints_of_each_family(tiny):
    found = identify_model(tiny.path)
    assert (found.kind, found.architecture, found.file_format) == ("checkpoint", tiny.architecture, "safetensors")
    assert found.precision == "fp16"
    assert found.size == tiny.path.stat().st_size
    assert found.problem is None


def test_a_float32_checkpoint_and_a_pickle_checkpoint(tmp_path):
    fp32 = build_sd1(tmp_path, "fp32.safetensors", dtype=torch.float32)
    assert identify_model(fp32.path).precision == "fp32"
    ckpt = tmp_path / "old.ckpt"
    torch.save({"state_dict": fp32.ldm_state_dict}, ckpt)
    found = identify_model(ckpt)
    assert (found.kind, found.architecture, found.file_format, found.precision) == ("checkpoint", "SD1.x",
                                                                                     "pickle", "fp32")


@pytest.mark.parametrize("sdxl", [False, True], ids=["sd1", "sdxl"])
def test_kohya_loras_with_their_training_facts(tmp_path, sdxl):
    tags = {"10_mychar": {"mychar": 40, "1girl": 38, "smile": 3}, "5_reg": {"1girl": 5}}
    metadata = {"ss_network_dim": "4", "ss_network_alpha": "4.0", "ss_network_module": "networks.lora",
                "ss_base_model_version": "sdxl_base_v1-0" if sdxl else "sd_v1",
                "ss_tag_frequency": json.dumps(tags), "modelspec.trigger_phrase": "mychar, red scarf"}
    path = write_kohya_lora(tmp_path / "mychar.safetensors", sdxl=sdxl, context_width=2048 if sdxl else 768,
                            metadata=metadata)
    found = identify_model(path)
    assert (found.kind, found.architecture) == ("lora", "SDXL" if sdxl else "SD1.x")
    assert found.description == f"a LoRA for {found.architecture}"
    training = found.training
    assert (training.network_dim, training.network_alpha, training.network_module) == (4, 4.0, "networks.lora")
    assert training.base_model == metadata["ss_base_model_version"]
    assert training.trigger_words == ("mychar", "red scarf")
    assert training.top_tags == ("1girl", "mychar", "smile")  # 43 > 40 > 3, summed over both folders


def test_a_lora_without_metadata_gets_its_base_from_shapes(tmp_path):
    path = write_kohya_lora(tmp_path / "plain.safetensors", context_width=1024, text_width=1024)
    found = identify_model(path)
    assert (found.kind, found.architecture, found.training) == ("lora", "SD2.x", None)


def test_peft_lora_embedding_and_vae(tmp_path, tiny_sd1):
    peft = tmp_path / "peft.safetensors"
    save_file({"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": torch.zeros(4, 768),
               "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight": torch.zeros(320, 4)},
              peft)
    assert (identify_model(peft).kind, identify_model(peft).architecture) == ("lora", "SD1.x")
    embedding = tmp_path / "easynegative.safetensors"
    save_file({"emb_params": torch.zeros(8, 768, dtype=torch.float16)}, embedding)
    found = identify_model(embedding)
    assert (found.kind, found.architecture, found.precision) == ("embedding", "SD1.x", "fp16")
    assert "embedding:easynegative" in found.advice
    vae = tmp_path / "vae.safetensors"
    save_file({key.removeprefix("first_stage_model."): tensor for key, tensor in tiny_sd1.ldm_state_dict.items()
               if key.startswith("first_stage_model.")}, vae)
    found = identify_model(vae)
    assert (found.kind, found.description) == ("vae", "a VAE")
    assert "models/vae" in found.advice


def test_an_unrecognised_safetensors_file_is_unknown(tmp_path):
    path = tmp_path / "something.safetensors"
    save_file({"encoder.weight": torch.zeros(2, 2)}, path)
    found = identify_model(path)
    assert (found.kind, found.problem) == ("unknown", None)
    assert "not a model file Latentloom recognises" in found.description


def test_a_truncated_download_is_named(tmp_path, tiny_sd1):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(tiny_sd1.path.read_bytes()[: tiny_sd1.path.stat().st_size // 2])
    found = identify_model(path)
    assert found.kind == "unknown"
    assert "truncated" in found.problem and "download it again" in found.problem


def test_a_header_nested_far_too_deep_is_a_problem_not_a_crash(tmp_path):
    found = identify_model(write_deeply_nested_safetensors(tmp_path / "deep.safetensors"))
    assert (found.kind, found.file_format) == ("unknown", "")
    assert "its header is not a safetensors header: nested too deeply" in found.problem


@pytest.mark.parametrize("content, words", [
    (b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>", "web page (HTML)"),
    (b"\n  <html><body>404</body></html>", "web page (HTML)"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 2132625894\n", "Git LFS pointer"),
    (b'{"error": "Repository not found"}', "JSON text file"),
    (b"", "empty (0 bytes)"),
], ids=["html", "html-with-space", "lfs-pointer", "json", "empty"])
def test_things_saved_under_a_model_name_by_mistake(tmp_path, content, words):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    found = identify_model(path)
    assert words in found.problem
    assert str(path) in found.problem


def test_an_unsafe_pickle_is_diagnosed_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class RunsCode:
        def __reduce__(self):
            return open, (str(marker), "w")

    path = tmp_path / "evil.ckpt"
    with path.open("wb") as handle:
        pickle.dump({"state_dict": {}, "payload": RunsCode()}, handle, protocol=2)
    found = identify_model(path)
    assert not marker.exists()
    assert "safetensors" in found.problem and found.kind == "unknown"


def test_a_diffusers_folder_and_a_plain_folder(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "not a diffusers model folder" in identify_model(plain).problem
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    found = identify_model(broken)
    assert found.file_format == "diffusers" and found.problem


def test_training_info_ignores_files_without_trainer_keys_and_bad_values():
    assert read_training_info({"format": "pt"}) is None
    info = read_training_info({"ss_network_dim": "None", "ss_network_alpha": "x", "ss_tag_frequency": "{bad"})
    assert (info.network_dim, info.network_alpha, info.top_tags) == (None, None, ())


def test_a_moved_file_keeps_its_identity(tmp_path, tiny_sdxl):
    copy = tmp_path / "renamed.bin.safetensors"
    shutil.copyfile(tiny_sdxl.path, copy)
    assert identify_model(copy).architecture == "SDXL"
