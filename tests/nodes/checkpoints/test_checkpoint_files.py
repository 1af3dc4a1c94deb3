"""Broken, unsafe and wrong files get errors that name the file and say what to do; pickles never run code."""
from __future__ import annotations

import json
import shutil
import sys
import types

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodes.runtime.checkpoints import (CheckpointError, CorruptCheckpointError, MissingComponentError,
                                       NotACheckpointError, UnknownArchitectureError, UnsafePickleError,
                                       load_checkpoint)
from nodes.runtime.checkpoints.safetensors_header import read_safetensors_header
from tests.fixtures.hostile_files import write_deeply_nested_safetensors
from tests.fixtures.tiny_checkpoints import clip_weights, write_kohya_lora


class CreatesMarkerWhenUnpickled:
    """A pickle payload: unpickling it calls open(marker, "w"), which would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_a_pickle_whose_payload_would_run_code_is_refused_and_the_payload_never_runs(tmp_path, tiny_sd1,
                                                                                     zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.ckpt"
    state = {"state_dict": {"model.diffusion_model.x": torch.zeros(1)}, "payload": CreatesMarkerWhenUnpickled(marker)}
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)

    with pytest.raises(UnsafePickleError) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert str(path) in message and "open" in message
    assert "run code" in message and ".safetensors" in message and "weights_only=False" in message
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_a_plain_tensor_ckpt_loads_like_the_safetensors_file(tmp_path, tiny_sd1, zip_format):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": load_file(tiny_sd1.path), "global_step": 470000, "epoch": 3}, path,
               _use_new_zipfile_serialization=zip_format)
    loaded = load_checkpoint(path)
    assert loaded.architecture == "SD1.x"
    weights, reference = clip_weights(loaded.unet), clip_weights(tiny_sd1.unet)
    assert all(torch.equal(weights[name], reference[name]) for name in reference)


@pytest.mark.parametrize("old_numpy_name", [False, True])
def test_old_sd_ckpts_with_a_lightning_callback_and_numpy_scalars_load_without_lightning(tmp_path, tiny_sd1,
                                                                                        monkeypatch, old_numpy_name):
    """The original SD1.x .ckpt files pickle pytorch_lightning's ModelCheckpoint class and numpy scalars (named
    numpy.core.multiarray.scalar before numpy 2); both are read as inert data, without Lightning installed."""
    import numpy

    module = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        pass

    ModelCheckpoint.__module__, ModelCheckpoint.__qualname__ = module.__name__, "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    path = tmp_path / "sd-v1-4.ckpt"
    callbacks = {ModelCheckpoint: {"best_model_score": numpy.float64(0.5), "monitor": None}}
    torch.save({"state_dict": load_file(tiny_sd1.path), "callbacks": callbacks}, path,
               _use_new_zipfile_serialization=not old_numpy_name)
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks", module.__name__):
        monkeypatch.delitem(sys.modules, name)
    if old_numpy_name:  # the legacy format keeps the pickle uncompressed, so the global's name can be edited
        data = path.read_bytes()
        assert b"numpy._core.multiarray\nscalar" in data
        path.write_bytes(data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"))

    assert load_checkpoint(path).architecture == "SD1.x"


def test_a_truncated_safetensors_file_is_reported_as_an_interrupted_download(tmp_path, tiny_sd1):
    data = tiny_sd1.path.read_bytes()
    path = tmp_path / "model.safetensors"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CorruptCheckpointError) as broken:
        load_checkpoint(path)
    message = str(broken.value)
    assert str(path) in message and "truncated" in message and "interrupted" in message
    assert "download it again" in message


@pytest.mark.parametrize("content", [b"<!DOCTYPE html><html>Sign in to download</html>", b"", b"\x00" * 64])
def test_a_file_that_is_not_safetensors_at_all_is_named(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError, match=r"model\.safetensors is not a valid safetensors file"):
        load_checkpoint(path)


def test_a_truncated_or_foreign_ckpt_is_reported_as_corrupt(tmp_path, tiny_sd1):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": load_file(tiny_sd1.path)}, path)
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(CorruptCheckpointError, match=r"model\.ckpt could not be read.*download it again"):
        load_checkpoint(path)
    path.write_bytes(b"<html>404</html>")
    with pytest.raises(CorruptCheckpointError, match=r"model\.ckpt is not a PyTorch checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("lora, base", [
    (dict(), "SD1.x"),
    (dict(context_width=1024, text_width=1024), "SD2.x"),
    (dict(context_width=2048, sdxl=True), "SDXL"),
    (dict(context_width=333, metadata={"ss_base_model_version": "sd_v1"}), "SD1.x"),
])
def test_a_kohya_lora_given_as_a_checkpoint_says_where_it_belongs(tmp_path, lora, base):
    path = write_kohya_lora(tmp_path / "detail_tweaker.safetensors", **lora)
    with pytest.raises(NotACheckpointError) as wrong:
        load_checkpoint(path)
    assert wrong.value.kind == "lora"
    assert f"is a LoRA for {base}" in str(wrong.value)
    assert "put it in models/loras" in str(wrong.value) and str(path) in str(wrong.value)


def test_an_embedding_or_a_vae_given_as_a_checkpoint_says_where_it_belongs(tmp_path, tiny_sd1):
    embedding = tmp_path / "easynegative.safetensors"
    save_file({"emb_params": torch.zeros(8, 768)}, embedding)
    with pytest.raises(NotACheckpointError, match=r"embedding for SD1\.x.*models/embeddings.*embedding:easynegative"):
        load_checkpoint(embedding)

    sdxl_embedding = tmp_path / "xl_neg.safetensors"
    save_file({"clip_l": torch.zeros(2, 768), "clip_g": torch.zeros(2, 1280)}, sdxl_embedding)
    with pytest.raises(NotACheckpointError, match=r"embedding for SDXL"):
        load_checkpoint(sdxl_embedding)

    vae = tmp_path / "vae-ft-mse.safetensors"
    weights = load_file(tiny_sd1.path)
    save_file({k.removeprefix("first_stage_model."): v for k, v in weights.items()
               if k.startswith("first_stage_model.")}, vae)
    with pytest.raises(NotACheckpointError, match=r"is a VAE.*models/vae") as wrong:
        load_checkpoint(vae)
    assert wrong.value.kind == "vae"


def without(tiny, tmp_path, *prefixes: str, extra: dict | None = None):
    """A copy of a tiny checkpoint with some components removed or keys added."""
    weights = {k: v for k, v in load_file(tiny.path).items() if not k.startswith(prefixes)}
    path = tmp_path / "edited.safetensors"
    save_file({**weights, **(extra or {})}, path)
    return path


def test_an_unknown_architecture_lists_what_was_recognised(tmp_path, tiny_sd1):
    path = without(tiny_sd1, tmp_path, extra={"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight":
                                              torch.zeros(3, 1)})
    with pytest.raises(UnknownArchitectureError) as unknown:
        load_checkpoint(path)
    message = str(unknown.value)
    assert str(path) in message and "Stable Diffusion 3" in message
    assert "Recognised: a diffusion model (model.diffusion_model.*" in message and "a VAE" in message
    assert "SD1.x layout" in message and "SDXL base" in message


def test_a_unet_whose_context_does_not_fit_its_text_encoder_is_unknown(tmp_path, tiny_sd1):
    key = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
    path = without(tiny_sd1, tmp_path, key, extra={key: torch.zeros(1000, 128)})
    with pytest.raises(UnknownArchitectureError, match=r"expects text features of width 64 but .* give 128"):
        load_checkpoint(path)


def test_missing_components_are_named(tmp_path, tiny_sd1):
    with pytest.raises(MissingComponentError, match=r"no VAE \(no first_stage_model"):
        load_checkpoint(without(tiny_sd1, tmp_path, "first_stage_model."))
    with pytest.raises(MissingComponentError, match=r"has a UNet but no text encoder"):
        load_checkpoint(without(tiny_sd1, tmp_path, "cond_stage_model."))


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing\.safetensors does not exist"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    with pytest.raises(CheckpointError, match=r"is a folder"):
        load_checkpoint(tmp_path)


def test_a_ckpt_named_file_that_is_really_safetensors_is_read_as_safetensors(tmp_path, tiny_sd1):
    path = shutil.copy(tiny_sd1.path, tmp_path / "renamed.ckpt")
    assert load_checkpoint(path).architecture == "SD1.x"


def test_other_model_files_are_told_apart(tmp_path, tiny_sd1):
    upscaler = tmp_path / "4x_upscaler.pth"
    torch.save({"model.0.weight": torch.zeros(4, 3, 3, 3), "model.1.sub.0.weight": torch.zeros(4)}, upscaler)
    with pytest.raises(UnknownArchitectureError, match=r"holds no Stable Diffusion component.*under model\.0"):
        load_checkpoint(upscaler)

    unet_only = tmp_path / "unet.safetensors"
    save_file({k.removeprefix("model.diffusion_model."): v for k, v in load_file(tiny_sd1.path).items()
               if k.startswith("model.diffusion_model.")}, unet_only)
    with pytest.raises(NotACheckpointError, match=r"diffusion model \(UNet\) without VAE") as wrong:
        load_checkpoint(unet_only)
    assert wrong.value.kind == "unet"

    peft_lora = tmp_path / "peft_lora.safetensors"
    key = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"
    save_file({f"{key}.lora_A.weight": torch.zeros(4, 2048), f"{key}.lora_B.weight": torch.zeros(640, 4)}, peft_lora)
    with pytest.raises(NotACheckpointError, match=r"LoRA for SDXL"):
        load_checkpoint(peft_lora)


def test_an_sdxl_refiner_is_named_as_such(tmp_path, tiny_sd1):
    path = without(tiny_sd1, tmp_path, "cond_stage_model.",
                   extra={"conditioner.embedders.0.model.text_projection": torch.zeros(64, 64)})
    with pytest.raises(UnknownArchitectureError, match=r"looks like an SDXL refiner"):
        load_checkpoint(path)


def test_a_header_nested_far_too_deep_is_named_and_brackets_inside_strings_do_not_count(tmp_path):
    """json.loads recursed until RecursionError on 100,000 levels; real metadata often holds JSON text, whose
    brackets are inside strings (with escaped quotes) and must not count."""
    deep = write_deeply_nested_safetensors(tmp_path / "deep.safetensors")
    with pytest.raises(CorruptCheckpointError) as broken:
        read_safetensors_header(deep)
    assert str(deep) in str(broken.value)
    assert "its header is not a safetensors header: nested too deeply" in str(broken.value)

    nested_text = json.dumps({"a": [[[[[{"b": "say \"[[[\""}]]]]]})
    path = tmp_path / "metadata.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"ss_tag_frequency": nested_text, "odd": "\\\"{{{"})
    assert read_safetensors_header(path).metadata["ss_tag_frequency"] == nested_text
