"""Several model roots per kind: BASE/models/<kind>, --<kind>-dir folders and ComfyUI's extra_model_paths.yaml
(with an AUTOMATIC1111 install used in place), merged listings, the first root winning, and the safety rules."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from graph_engine import Engine, Folders
from latentloom.startup import Options, build_registry
from model_library.extra_model_paths import ExtraModelPathsError, read_extra_model_paths
from model_library.folders import find_model, list_models, model_roots, scan_models

A1111_YAML = """\
    # an AUTOMATIC1111 install, used in place
    a111:
        base_path: ../sd

        checkpoints: models/Stable-diffusion
        vae: models/VAE
        loras: |
            models/Lora
            models/LyCORIS
        embeddings: embeddings
        controlnet: models/ControlNet
"""


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def a1111(tmp_path) -> Path:
    """An AUTOMATIC1111-layout tree at tmp/sd and a base folder tmp/base whose yaml points at it."""
    sd = tmp_path / "sd"
    touch(sd / "models" / "Stable-diffusion" / "x.safetensors")
    touch(sd / "models" / "Stable-diffusion" / "sdxl" / "y.safetensors")
    touch(sd / "models" / "Lora" / "detail.safetensors")
    touch(sd / "models" / "LyCORIS" / "loha.safetensors")
    touch(sd / "models" / "VAE" / "vae-ft-mse.safetensors")
    touch(sd / "embeddings" / "easynegative.safetensors")
    base = tmp_path / "base"
    write(base / "extra_model_paths.yaml", A1111_YAML)
    return base


def start(base: Path, **options) -> Folders:
    """The installation start-up builds from these options."""
    return Options(base_dir=base, disable_custom_nodes=True, **options).folders()


# --- extra_model_paths.yaml -------------------------------------------------------------------------------------------


def test_the_yaml_maps_each_folder_name_to_paths_under_base_path(a1111, tmp_path):
    entries = read_extra_model_paths(a1111 / "extra_model_paths.yaml")
    sd = tmp_path / "sd"
    assert [(e.folder_name, e.path, e.block) for e in entries] == [
        ("checkpoints", sd / "models" / "Stable-diffusion", "a111"), ("vae", sd / "models" / "VAE", "a111"),
        ("loras", sd / "models" / "Lora", "a111"), ("loras", sd / "models" / "LyCORIS", "a111"),
        ("embeddings", sd / "embeddings", "a111"), ("controlnet", sd / "models" / "ControlNet", "a111")]
    assert entries[0].line == 5


def test_a_block_without_base_path_is_relative_to_the_yaml_and_home_is_expanded(tmp_path):
    config = write(tmp_path / "conf" / "extra.yaml", """\
        comfyui:
            checkpoints: ckpts
            loras: ~/loras
            is_default: true
        empty:
    """)
    entries = read_extra_model_paths(config)
    assert [(e.path, e.is_default) for e in entries] == [(tmp_path / "conf" / "ckpts", True),
                                                         (Path.home() / "loras", True)]


@pytest.mark.parametrize("text, line, problem", [
    ("a111:\n  base_path: /x\n  checkpoints: [a\n", 4, "not valid YAML"),
    ("a111:\n  checkpoints:\n    nested: x\n", 3, "'checkpoints' must be a path"),
    ("- checkpoints\n", 1, "expected blocks"),
    ("a111:\n  is_default: maybe\n", 2, "is_default must be true or false"),
])
def test_a_malformed_yaml_names_the_file_the_line_and_the_problem(tmp_path, text, line, problem):
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text(text)
    with pytest.raises(ExtraModelPathsError) as caught:
        read_extra_model_paths(config)
    message = str(caught.value)
    assert message.startswith(f"{config}, line {line}") and problem in message, message


# --- roots and listings -----------------------------------------------------------------------------------------------


def test_an_a1111_tree_lists_in_the_combos_through_the_yaml(a1111, tmp_path):
    touch(a1111 / "models" / "checkpoints" / "local.safetensors")
    options = Options(base_dir=a1111, disable_custom_nodes=True)
    folders = options.folders()
    registry, _ = build_registry(options, folders)
    assert list_models(folders, "checkpoints") == ["local.safetensors", "sdxl/y.safetensors", "x.safetensors"]
    assert list_models(folders, "loras") == ["detail.safetensors", "loha.safetensors"]
    assert list_models(folders, "vae") == ["vae-ft-mse.safetensors"]
    assert list_models(folders, "embeddings") == ["easynegative.safetensors"]
    info = Engine(registry, folders).object_info()
    assert "x.safetensors" in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert {"detail.safetensors", "loha.safetensors"} <= set(info["LoraLoader"]["input"]["required"]["lora_name"][0])
    assert find_model(folders, "loras", "loha.safetensors") == \
        tmp_path / "sd" / "models" / "LyCORIS" / "loha.safetensors"
    assert model_roots(folders, "loras") == [a1111 / "models" / "loras", tmp_path / "sd" / "models" / "Lora",
                                    tmp_path / "sd" / "models" / "LyCORIS"]


def test_search_order_is_models_then_flags_then_yaml(a1111, tmp_path):
    extra = tmp_path / "more-loras"
    folders = start(a1111, kind_dirs={"loras": [extra]})
    assert model_roots(folders, "loras") == [a1111 / "models" / "loras", extra, tmp_path / "sd" / "models" / "Lora",
                                    tmp_path / "sd" / "models" / "LyCORIS"]
    assert model_roots(folders, "checkpoints")[0] == a1111 / "models" / "checkpoints"  # where installs go


def test_a_name_clash_is_listed_once_and_the_first_root_wins(a1111, tmp_path):
    first = touch(a1111 / "models" / "loras" / "detail.safetensors", b"first")
    touch(tmp_path / "sd" / "models" / "LyCORIS" / "detail.safetensors", b"third")
    folders = start(a1111)
    assert list_models(folders, "loras") == ["detail.safetensors", "loha.safetensors"]
    assert find_model(folders, "loras", "detail.safetensors") == first
    first.unlink()
    assert find_model(folders, "loras", "detail.safetensors") == \
        tmp_path / "sd" / "models" / "Lora" / "detail.safetensors"


def test_a_folder_named_twice_is_searched_once(a1111, tmp_path):
    folders = start(a1111, kind_dirs={"checkpoints": [tmp_path / "sd" / "models" / "Stable-diffusion"]})
    assert model_roots(folders, "checkpoints") == [a1111 / "models" / "checkpoints",
                                          tmp_path / "sd" / "models" / "Stable-diffusion"]


def test_links_the_owner_put_in_a_root_are_followed_names_still_cannot_go_up(a1111, tmp_path):
    """Links used to be left out when they led outside their root; they are the owner's, so they are followed now."""
    drive = tmp_path / "big-drive"
    linked_file = touch(drive / "style.safetensors")
    touch(drive / "pack" / "inner.safetensors")
    os.symlink(linked_file, tmp_path / "sd" / "models" / "Lora" / "style.safetensors")
    os.symlink(drive / "pack", tmp_path / "sd" / "models" / "Lora" / "pack")
    folders = start(a1111)
    assert list_models(folders, "loras") == ["detail.safetensors", "loha.safetensors", "pack/inner.safetensors",
                                    "style.safetensors"]
    assert find_model(folders, "loras", "style.safetensors").resolve() == linked_file
    assert find_model(folders, "loras", "pack/inner.safetensors").read_bytes() == b"x"
    for name in ("../VAE/vae-ft-mse.safetensors", "pack/../../VAE/vae-ft-mse.safetensors"):  # both exist
        with pytest.raises(ValueError, match=r"leads outside the loras folder \('\.\.' is not allowed\)"):
            find_model(folders, "loras", name)
    with pytest.raises(ValueError, match="is an absolute path"):
        find_model(folders, "loras", str(linked_file))


def test_a_link_loop_and_a_dangling_link_are_broken_entries_and_never_hang(tmp_path):
    loras = tmp_path / "models" / "loras"
    touch(loras / "sub" / "a.safetensors")
    os.symlink("..", loras / "sub" / "up")  # back to loras/: walking into it would never end
    os.symlink(tmp_path / "models", loras / "sub" / "models")  # a folder holding loras/ itself
    os.symlink(tmp_path / "gone.safetensors", loras / "gone.safetensors")
    os.symlink("self.safetensors", loras / "self.safetensors")  # a link to itself
    folders = Folders.under(tmp_path)
    scan = scan_models(folders, "loras")
    assert scan.names == ["sub/a.safetensors"]
    reasons = {entry.name: entry.reason for entry in scan.broken}
    assert set(reasons) == {"sub/up", "sub/models", "gone.safetensors", "self.safetensors"}
    assert "link loop" in reasons["sub/up"] and "link loop" in reasons["sub/models"]
    assert "target does not exist" in reasons["gone.safetensors"]
    assert "leads back to itself" in reasons["self.safetensors"]
    assert list_models(folders, "loras") == ["sub/a.safetensors"]


def test_a_missing_model_names_the_install_folder_and_every_root(a1111, tmp_path):
    folders = start(a1111)
    with pytest.raises(FileNotFoundError) as caught:
        find_model(folders, "checkpoints", "absent.safetensors")
    message = str(caught.value)
    assert str(a1111 / "models" / "checkpoints") in message and "Stable-diffusion" in message


def test_the_embeddings_of_every_root_reach_the_text_encoders(a1111, tmp_path):
    from nodes.runtime.text import EmbeddingFolder

    folders = start(a1111)
    assert EmbeddingFolder(model_roots(folders, "embeddings")).find("easynegative") == \
        tmp_path / "sd" / "embeddings" / "easynegative.safetensors"
