"""The folders of UNETLoader, CLIPLoader, CheckpointLoader and DiffusersLoader: ComfyUI's two names for the UNet and
text-encoder folders are searched together, configs list .yaml files, models/diffusers lists model folders only, and
the model listing files each where it belongs."""
from __future__ import annotations

from pathlib import Path

import pytest

from graph_engine import Folders
from graph_engine.folders import ModelRoot
from model_library.folders import find_model, list_models
from model_library.listing import installed_models
from tests.fixtures.tiny_checkpoints import SD1_TEXT, UNET, build_sd1


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind, legacy", [("diffusion_models", "unet"), ("text_encoders", "clip")])
def test_both_names_are_searched_current_name_first_whichever_is_asked(tmp_path, kind, legacy):
    extra = tmp_path / "elsewhere"
    folders = Folders.under(tmp_path, extra_model_roots=[ModelRoot(legacy, extra, "yaml")])
    touch(folders.models / kind / "a.safetensors", b"current")
    touch(folders.models / legacy / "a.safetensors", b"legacy")
    touch(folders.models / legacy / "b.safetensors")
    touch(extra / "c.sft")
    for asked in (kind, legacy):
        assert list_models(folders, asked) == ["a.safetensors", "b.safetensors", "c.sft"]
        assert find_model(folders, asked, "a.safetensors").read_bytes() == b"current"
        assert find_model(folders, asked, "c.sft") == extra / "c.sft"


def test_configs_list_yaml_files_and_diffusers_lists_folders_only(tmp_path):
    folders = Folders.under(tmp_path)
    touch(folders.models / "configs" / "v1-inference.yaml")
    touch(folders.models / "configs" / "sd2" / "v2-inference-v.yml")
    touch(folders.models / "configs" / "weights.safetensors")
    touch(folders.models / "diffusers" / "tiny" / "model_index.json", b"{}")
    touch(folders.models / "diffusers" / "tiny" / "unet" / "diffusion_pytorch_model.safetensors")
    touch(folders.models / "diffusers" / "loose.safetensors")
    assert list_models(folders, "configs") == ["sd2/v2-inference-v.yml", "v1-inference.yaml"]
    assert list_models(folders, "diffusers") == ["tiny"]


def test_parts_in_their_folders_are_listed_as_what_they_are_and_not_misplaced(tmp_path):
    folders = Folders.under(tmp_path)
    tiny = build_sd1(tmp_path / "build")
    from safetensors.torch import save_file

    for folder, prefix in (("unet", UNET), ("diffusion_models", UNET), ("clip", SD1_TEXT),
                           ("text_encoders", SD1_TEXT)):
        part = {key[len(prefix):]: tensor.contiguous() for key, tensor in tiny.ldm_state_dict.items()
                if key.startswith(prefix)}
        (folders.models / folder).mkdir(parents=True)
        save_file(part, str(folders.models / folder / f"{folder}_part.safetensors"))
    touch(folders.models / "configs" / "v1-inference.yaml", b"model:\n  params: {}\n")
    touch(folders.models / "checkpoints" / "lost_unet.safetensors", (folders.models / "unet" / "unet_part.safetensors")
          .read_bytes())
    found = {(model.folder, model.file.kind): model for model in installed_models(folders, compute_hashes=False)}
    assert set(found) == {("unet", "unet"), ("diffusion_models", "unet"), ("clip", "text_encoder"),
                          ("text_encoders", "text_encoder"), ("configs", "config"), ("checkpoints", "unet")}
    placed = [model for key, model in found.items() if key[0] != "checkpoints"]
    assert all(model.misplaced is None and model.file.problem is None for model in placed)
    assert "models/diffusion_models" in found["checkpoints", "unet"].misplaced
    assert "UNETLoader" in found["checkpoints", "unet"].misplaced
