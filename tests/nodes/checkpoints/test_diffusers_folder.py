"""Diffusers-format folders (model_index.json + unet/, vae/, text_encoder/[, text_encoder_2/]) load into the modules
they were saved from, with the single-file loader's architecture, text encoder specs and prediction type."""
from __future__ import annotations

import copy
import json
import shutil
import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodes.runtime.checkpoints import (CheckpointError, CorruptCheckpointError, MissingComponentError,
                                       UnknownArchitectureError, inspect_checkpoint, load_checkpoint)
from nodes.runtime.checkpoints.diffusers_folder import (inspect_diffusers_folder, is_diffusers_folder,
                                                        load_diffusers_folder)
from nodes.runtime.checkpoints.meta_modules import meta_tensors
from nodes.runtime.text.encode import encode_prompt
from tests.fixtures.module_checks import assert_same_computation, assert_same_weights
from tests.fixtures.tiny_checkpoints import TinyCheckpoint, as_diffusers_unet

UNET_FILE = "diffusion_pytorch_model.safetensors"
PIPELINES = {"SD1.x": "StableDiffusionPipeline", "SD2.x": "StableDiffusionPipeline",
             "SDXL": "StableDiffusionXLPipeline"}


# ---------------------------------------------------------------- writing folders

def write_folder(directory: Path, tiny: TinyCheckpoint, *, prediction_type: str | None = None,
                 variant: str | None = None, shard_text_encoders: bool = False) -> Path:
    """Save the tiny checkpoint's reference modules as diffusers/transformers do, with a model_index.json and a
    scheduler config. With `variant="fp16"` the modules are saved in half precision under .fp16 names only."""
    directory.mkdir(parents=True)
    subfolders = {"unet": as_diffusers_unet(tiny.unet), "vae": tiny.vae, "text_encoder": tiny.text_encoders[0]}
    if len(tiny.text_encoders) == 2:
        subfolders["text_encoder_2"] = tiny.text_encoders[1]
    index = {"_class_name": PIPELINES[tiny.architecture], "_diffusers_version": "0.42.1",
             "scheduler": ["diffusers", "EulerDiscreteScheduler"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "safety_checker": [None, None]}
    for name, module in subfolders.items():
        saved = copy.deepcopy(module).half() if variant == "fp16" else module
        options = {"max_shard_size": "100KB"} if shard_text_encoders and name.startswith("text") else {}
        saved.save_pretrained(directory / name, variant=variant, **options)
        library = "diffusers" if name in ("unet", "vae") else "transformers"
        index[name] = [library, type(module).__name__]
    (directory / "model_index.json").write_text(json.dumps(index))
    scheduler = {"_class_name": "EulerDiscreteScheduler", "num_train_timesteps": 1000,
                 "prediction_type": prediction_type or tiny.prediction_type}
    (directory / "scheduler").mkdir()
    (directory / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    return directory


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_sd1, tiny_sd2_v, tiny_sdxl) -> dict[str, tuple[Path, TinyCheckpoint]]:
    root = tmp_path_factory.mktemp("diffusers_folders")
    return {name: (write_folder(root / name, tiny), tiny)
            for name, tiny in (("sd1", tiny_sd1), ("sd2_v", tiny_sd2_v), ("sdxl", tiny_sdxl))}


@pytest.fixture(params=["sd1", "sd2_v", "sdxl"])
def folder(request, folders) -> tuple[Path, TinyCheckpoint]:
    """Each saved folder in turn, with the reference checkpoint it came from."""
    return folders[request.param]


@pytest.fixture
def sd1_copy(folders, tmp_path) -> Path:
    """A private copy of the SD1 folder, for tests that break it."""
    return Path(shutil.copytree(folders["sd1"][0], tmp_path / "sd1 model"))




def assert_loads_reference(loaded, tiny: TinyCheckpoint, dtype=torch.float32) -> None:
    assert_same_weights(loaded.unet, tiny.unet, dtype)
    assert_same_weights(loaded.vae, tiny.vae, dtype)
    assert len(loaded.text_encoders) == len(tiny.text_encoders)
    for module, reference in zip(loaded.text_encoders, tiny.text_encoders):
        assert hasattr(module, "text_projection") == hasattr(reference, "text_projection")  # ours vs transformers
        assert_same_weights(module, reference, dtype)


# ---------------------------------------------------------------- loading

def test_loaded_modules_hold_exactly_the_saved_weights(folder):
    path, tiny = folder
    loaded = load_diffusers_folder(path)

    assert loaded.architecture == tiny.architecture
    assert loaded.prediction_type == tiny.prediction_type
    assert loaded.prediction.reason == "set by scheduler/scheduler_config.json"
    assert loaded.path == path
    assert_loads_reference(loaded, tiny)


def test_nothing_is_left_on_meta_and_nothing_trains(folder):
    loaded = load_diffusers_folder(folder[0])
    for module in (loaded.unet, loaded.vae, *loaded.text_encoders):
        assert meta_tensors(module) == []
        assert {tensor.device.type for tensor in [*module.parameters(), *module.buffers()]} == {"cpu"}
        assert not module.training
        assert not any(parameter.requires_grad for parameter in module.parameters())


@torch.no_grad()
def test_loaded_modules_compute_what_the_saved_modules_compute(folder):
    path, tiny = folder
    loaded = load_diffusers_folder(path)
    assert_same_computation(loaded, tiny)


def test_detection_agrees_with_the_single_file_loader(folder):
    """Same family, prediction type, encoder names, hidden layers and sizes as the same model as one file."""
    path, tiny = folder
    ours, theirs = inspect_diffusers_folder(path), inspect_checkpoint(tiny.path)

    assert ours.file_format == "diffusers" and ours.path == path
    assert ours.detected.architecture == theirs.detected.architecture
    assert ours.prediction.prediction_type == theirs.prediction.prediction_type
    assert len(ours.detected.text_encoders) == len(theirs.detected.text_encoders)
    for mine, single in zip(ours.detected.text_encoders, theirs.detected.text_encoders):
        assert (mine.name, mine.with_projection, mine.hidden_layer, mine.final_norm) == \
               (single.name, single.with_projection, single.hidden_layer, single.final_norm)
        assert mine.layout == "diffusers" and mine.prefix.startswith("text_encoder")
        for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "hidden_act", "projection_dim",
                    "intermediate_size", "vocab_size"):
            assert mine.config[key] == single.config[key], key
    for key in ("cross_attention_dim", "in_channels", "addition_embed_type"):
        assert ours.detected.unet_config.get(key) == theirs.detected.unet_config.get(key), key
    assert ours.detected.vae_config["scaling_factor"] == theirs.detected.vae_config["scaling_factor"]


def with_full_vocabulary(model, seed: int) -> None:
    """Grow the token embedding to CLIP's 49408 rows (the tiny one has 1000), so BOS/EOS ids fit."""
    old = model.text_model.embeddings.token_embedding
    grown = torch.nn.Embedding(49408, old.weight.shape[1])
    with torch.no_grad():
        grown.weight.copy_(torch.randn(grown.weight.shape, generator=torch.Generator().manual_seed(seed)) * 0.02)
        grown.weight[:old.weight.shape[0]] = old.weight
    model.text_model.embeddings.token_embedding = grown


def test_prompts_encode_as_for_the_single_file_checkpoint(folder):
    path, tiny = folder
    results = []
    for loaded in (load_diffusers_folder(path), load_checkpoint(tiny.path)):
        for number, model in enumerate(loaded.text_encoders):
            with_full_vocabulary(model, seed=number)
        results.append(encode_prompt(loaded, "a (cat:1.2) on a mat"))
    ours, theirs = results
    torch.testing.assert_close(ours.hidden, theirs.hidden, rtol=0, atol=0)
    torch.testing.assert_close(ours.pooled, theirs.pooled, rtol=0, atol=0)


def test_half_precision_variant_files_are_used_when_they_are_all_there_is(tmp_path, tiny_sdxl):
    path = write_folder(tmp_path / "sdxl16", tiny_sdxl, variant="fp16")
    assert not list(path.rglob(UNET_FILE)) and list(path.rglob("diffusion_pytorch_model.fp16.safetensors"))
    assert_loads_reference(load_diffusers_folder(path), tiny_sdxl)  # fp16-exact references, read to float32
    assert_loads_reference(load_diffusers_folder(path, dtype=torch.float16), tiny_sdxl, torch.float16)


def test_full_precision_files_win_over_variants(sd1_copy, tiny_sd1):
    unet = sd1_copy / "unet"
    zeros = {key: torch.zeros_like(value).half() for key, value in load_file(unet / UNET_FILE).items()}
    save_file(zeros, str(unet / "diffusion_pytorch_model.fp16.safetensors"))
    assert_same_weights(load_diffusers_folder(sd1_copy).unet, tiny_sd1.unet)


def test_sharded_text_encoders_load(tmp_path, tiny_sdxl):
    path = write_folder(tmp_path / "sharded", tiny_sdxl, shard_text_encoders=True)
    assert list((path / "text_encoder_2").glob("model-0000*-of-*.safetensors"))
    assert_loads_reference(load_diffusers_folder(path), tiny_sdxl)


def test_bin_weights_and_old_vae_attention_names_load(sd1_copy, tiny_sd1):
    """Older folders: pickled weights (read weights-only) and the VAE attention names diffusers used before."""
    vae = sd1_copy / "vae"
    old_names = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    state = {}
    for key, value in load_file(vae / UNET_FILE).items():
        for new, old in old_names.items():
            key = key.replace(new, old)
        state[key] = value
    assert any(".proj_attn." in key for key in state)
    (vae / UNET_FILE).unlink()
    torch.save(state, vae / "diffusion_pytorch_model.bin")
    text = sd1_copy / "text_encoder"
    torch.save(load_file(text / "model.safetensors"), text / "pytorch_model.bin")
    (text / "model.safetensors").unlink()
    assert_loads_reference(load_diffusers_folder(sd1_copy), tiny_sd1)


def test_bfloat16_load_converts_every_floating_weight(folders):
    path, tiny = folders["sdxl"]
    loaded = load_diffusers_folder(path, dtype=torch.bfloat16)
    assert_same_weights(loaded.unet, tiny.unet, torch.bfloat16)
    assert_same_weights(loaded.text_encoders[1], tiny.text_encoders[1], torch.bfloat16)


def test_loading_opens_no_network_connection(folders, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the loader tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert load_diffusers_folder(folders["sd2_v"][0]).prediction_type == "v_prediction"


# ---------------------------------------------------------------- prediction type

def test_a_sidecar_next_to_the_folder_overrides_the_scheduler(folders, tmp_path):
    path = Path(shutil.copytree(folders["sd2_v"][0], tmp_path / "sd-2.1"))
    (tmp_path / "sd-2.1.yaml").write_text("prediction_type: epsilon\n")
    prediction = inspect_diffusers_folder(path).prediction
    assert (prediction.prediction_type, prediction.reason) == ("epsilon", "set by sd-2.1.yaml")


def test_without_a_scheduler_config_the_prediction_is_epsilon(folders, tmp_path):
    path = Path(shutil.copytree(folders["sd2_v"][0], tmp_path / "sd2"))
    shutil.rmtree(path / "scheduler")
    assert inspect_diffusers_folder(path).prediction.prediction_type == "epsilon"


# ---------------------------------------------------------------- recognising folders

def test_is_diffusers_folder(folders, tmp_path):
    assert is_diffusers_folder(folders["sd1"][0])
    assert not is_diffusers_folder(folders["sd1"][1].path)  # a single file
    assert not is_diffusers_folder(tmp_path)  # no model_index.json
    assert not is_diffusers_folder(tmp_path / "missing")


# ---------------------------------------------------------------- errors name the folder and say what to do

def _edit_json(file: Path, **changes) -> None:
    data = json.loads(file.read_text())
    data.update(changes)
    file.write_text(json.dumps(data))


def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[:len(data) // 2])


def _drop_one_shard(folder: Path) -> None:
    """Split the text encoder into two shards with an index, then lose the second shard."""
    text = folder / "text_encoder"
    state = load_file(text / "model.safetensors")
    (text / "model.safetensors").unlink()
    names = sorted(state)
    halves = {"model-00001-of-00002.safetensors": names[:len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for shard, keys in halves.items():
        save_file({key: state[key] for key in keys}, str(text / shard))
    weight_map = {key: shard for shard, keys in halves.items() for key in keys}
    (text / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (text / "model-00002-of-00002.safetensors").unlink()


BREAKAGES = {
    "no model_index": (lambda f: (f / "model_index.json").unlink(), CheckpointError, "model_index.json"),
    "broken model_index": (lambda f: (f / "model_index.json").write_text("{not json"), CorruptCheckpointError,
                           "Download it again"),
    "no unet folder": (lambda f: shutil.rmtree(f / "unet"), MissingComponentError, "unet/"),
    "no vae weights": (lambda f: (f / "vae" / UNET_FILE).unlink(), MissingComponentError, "Download the vae weights"),
    "no text encoder config": (lambda f: (f / "text_encoder" / "config.json").unlink(), MissingComponentError,
                               "text_encoder/config.json"),
    "missing shard": (_drop_one_shard, MissingComponentError, "weight shards"),
    "truncated unet weights": (lambda f: _truncate(f / "unet" / UNET_FILE), CorruptCheckpointError, "unet"),
    "flux pipeline": (lambda f: _edit_json(f / "model_index.json", _class_name="FluxPipeline",
                                           transformer=["diffusers", "FluxTransformer2DModel"]),
                      UnknownArchitectureError, "Flux (FluxPipeline)"),
    "sdxl refiner": (lambda f: _edit_json(f / "model_index.json", _class_name="StableDiffusionXLImg2ImgPipeline",
                                          text_encoder=[None, None],
                                          text_encoder_2=["transformers", "CLIPTextModelWithProjection"]),
                     UnknownArchitectureError, "refiner"),
    "sample prediction": (lambda f: _edit_json(f / "scheduler" / "scheduler_config.json", prediction_type="sample"),
                          CheckpointError, "'epsilon' and 'v_prediction'"),
    "mismatched unet config": (lambda f: _edit_json(f / "unet" / "config.json", block_out_channels=[32, 32]),
                               CheckpointError, "variant this loader does not know"),
    "mixed components": (lambda f: _edit_json(f / "unet" / "config.json", cross_attention_dim=96),
                         UnknownArchitectureError, "mixes components"),
    "unsupported unet": (lambda f: _edit_json(f / "unet" / "config.json", resnet_time_scale_shift="scale_shift"),
                         UnknownArchitectureError, "resnet_time_scale_shift='scale_shift'"),
    "unsupported vae": (lambda f: _edit_json(f / "vae" / "config.json", act_fn="gelu"),
                        UnknownArchitectureError, "its VAE is not one this loader can build"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_errors_name_the_folder_and_say_what_to_do(sd1_copy, breakage):
    breaking, error_type, words = BREAKAGES[breakage]
    breaking(sd1_copy)
    with pytest.raises(error_type) as raised:
        load_diffusers_folder(sd1_copy)
    message = str(raised.value)
    assert str(sd1_copy) in message
    assert words in message


def test_a_missing_path_or_a_file_is_refused_with_advice(tmp_path, tiny_sd1):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_diffusers_folder(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="single-file checkpoint"):
        inspect_diffusers_folder(tiny_sd1.path)


@pytest.mark.parametrize(("layers", "hidden_layer"), [(23, -1), (24, -2)])
def test_sd2_folders_without_openclip_hs_last_layer_condition_on_their_last_layer(folders, tmp_path, layers,
                                                                                  hidden_layer):
    """diffusers ships SD2.x's OpenCLIP-H with 23 of its 24 layers; SD2.x's penultimate layer is then the last."""
    path = Path(shutil.copytree(folders["sd2_v"][0], tmp_path / "sd2"))
    _edit_json(path / "text_encoder" / "config.json", hidden_size=1024, num_hidden_layers=layers)
    _edit_json(path / "unet" / "config.json", cross_attention_dim=1024)
    [spec] = inspect_diffusers_folder(path).detected.text_encoders
    assert (spec.name, spec.hidden_layer, spec.final_norm) == ("open_clip_h", hidden_layer, True)
