"""SaveLatent and LoadLatent through the real engine: ComfyUI's .latent format (read back with safetensors
itself), names and counters in the output folder, the input folder's list, the first format's scale, errors."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from graph_engine import WorkflowInvalid, using_folders
from nodes.latent.latent_files import LoadLatent
from tests.nodes.latent.latent_helpers import CAUGHT, FEED, LATENT

WORKFLOW = {"last_node_id": 1, "nodes": [{"id": 1, "type": "SaveLatent"}], "links": []}


def save_prompt(latent: dict, prefix: str = "latents/ComfyUI", key: str = "save-source") -> dict:
    FEED[key] = latent
    return {"src": {"class_type": "TFeed", "inputs": {"key": key}},
            "save": {"class_type": "SaveLatent", "inputs": {"samples": ["src", LATENT], "filename_prefix": prefix}}}


def load_prompt(name: str, key: str = "loaded") -> dict:
    return {"load": {"class_type": "LoadLatent", "inputs": {"latent": name}},
            "out": {"class_type": "TCatch", "inputs": {"value": ["load", 0], "key": key}}}


def test_save_latent_writes_comfyui_format_with_prompt_and_workflow(engine):
    samples = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    prompt = save_prompt({"samples": samples, "batch_index": [4, 5]})
    result = engine.run(prompt, extra_data={"extra_pnginfo": {"workflow": WORKFLOW}})
    assert result.ok, result.error
    assert result.outputs["save"]["latents"] == [{"filename": "ComfyUI_00001_.latent", "subfolder": "latents",
                                                  "type": "output"}]
    path = engine.folders.output / "latents" / "ComfyUI_00001_.latent"
    with safe_open(str(path), framework="pt") as opened:
        assert sorted(opened.keys()) == ["latent_format_version_0", "latent_tensor"]
        assert torch.equal(opened.get_tensor("latent_tensor"), samples)
        assert opened.get_tensor("latent_format_version_0").shape == (0,)
        metadata = opened.metadata()
    assert json.loads(metadata["prompt"])["save"]["class_type"] == "SaveLatent"
    assert json.loads(metadata["workflow"]) == WORKFLOW
    # the next save counts on; nothing temporary is left beside the files
    result = engine.run(save_prompt({"samples": samples * 2}, key="another"))
    assert result.outputs["save"]["latents"][0]["filename"] == "ComfyUI_00002_.latent"
    assert sorted(p.name for p in path.parent.iterdir()) == ["ComfyUI_00001_.latent", "ComfyUI_00002_.latent"]


def test_save_latent_passes_the_latent_on(runner):
    latent = {"samples": torch.ones(1, 4, 2, 2), "batch_index": [3]}
    out = runner.run("SaveLatent", {"filename_prefix": "x"}, {"samples": (latent, LATENT)})
    assert out is not None and torch.equal(out["samples"], latent["samples"]) and out["batch_index"] == [3]


def test_save_latent_refuses_a_prefix_outside_the_output_folder(engine):
    with pytest.raises(WorkflowInvalid) as info:
        engine.run(save_prompt({"samples": torch.ones(1, 4, 2, 2)}, prefix="../escape"))
    (error,) = info.value.report.node_errors["save"].errors
    assert "outside the output folder" in error.details
    assert not (engine.folders.base / "escape_00001_.latent").exists()


def write_input_file(engine, name: str, tensors: dict) -> None:
    engine.folders.input.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(engine.folders.input / name))


def test_load_latent_lists_the_input_folders_latent_files(engine):
    write_input_file(engine, "b.latent", {"latent_tensor": torch.zeros(1, 4, 2, 2)})
    write_input_file(engine, "a.latent", {"latent_tensor": torch.zeros(1, 4, 2, 2)})
    write_input_file(engine, "model.safetensors", {"x": torch.zeros(1)})
    (engine.folders.input / "folder.latent").mkdir()
    with using_folders(engine.folders):
        assert LoadLatent.INPUT_TYPES()["required"]["latent"] == (["a.latent", "b.latent"],)


def test_load_latent_reads_both_formats(engine):
    samples = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    write_input_file(engine, "new.latent", {"latent_tensor": samples.half(),
                                            "latent_format_version_0": torch.tensor([])})
    write_input_file(engine, "old.latent", {"latent_tensor": samples})
    assert engine.run(load_prompt("new.latent", "new")).ok
    assert engine.run(load_prompt("old.latent", "old")).ok
    new, old = CAUGHT.pop("new"), CAUGHT.pop("old")
    assert set(new) == {"samples"} and new["samples"].dtype == torch.float32
    torch.testing.assert_close(new["samples"], samples.half().float())
    torch.testing.assert_close(old["samples"], samples / 0.18215)  # the first format stored samples x 0.18215


def test_saved_latent_loads_back_and_a_changed_file_is_read_again(engine):
    samples = torch.randn(2, 4, 2, 3, generator=torch.Generator().manual_seed(2))
    assert engine.run(save_prompt({"samples": samples})).ok
    engine.folders.input.mkdir(parents=True, exist_ok=True)
    shutil.copy(engine.folders.output / "latents" / "ComfyUI_00001_.latent", engine.folders.input / "mine.latent")
    assert engine.run(load_prompt("mine.latent")).ok
    assert torch.equal(CAUGHT.pop("loaded")["samples"], samples)
    write_input_file(engine, "mine.latent", {"latent_tensor": samples * 3, "latent_format_version_0": torch.tensor([])})
    result = engine.run(load_prompt("mine.latent"))
    assert result.ok and "load" in result.executed
    assert torch.equal(CAUGHT.pop("loaded")["samples"], samples * 3)


def test_load_latent_errors_name_the_file(engine):
    engine.folders.input.mkdir(parents=True, exist_ok=True)
    (engine.folders.input / "broken.latent").write_bytes(b"not a safetensors file")
    result = engine.run(load_prompt("broken.latent"))
    assert not result.ok and "'broken.latent' is not a .latent file" in result.error.exception_message
    write_input_file(engine, "other.latent", {"weights": torch.zeros(2)})
    result = engine.run(load_prompt("other.latent"))
    assert not result.ok and "holds no 'latent_tensor'" in result.error.exception_message
    with pytest.raises(WorkflowInvalid) as info:
        engine.run(load_prompt("missing.latent"))
    (error,) = info.value.report.node_errors["load"].errors
    assert "'missing.latent' is not in the input folder" in error.details


def test_load_latent_refuses_names_outside_the_input_folder(engine):
    write_input_file(engine, "inside.latent", {"latent_tensor": torch.zeros(1, 4, 2, 2)})
    save_file({"latent_tensor": torch.zeros(1, 4, 2, 2)}, str(engine.folders.base / "secret.latent"))
    with pytest.raises(WorkflowInvalid) as info:
        engine.run(load_prompt("../secret.latent"))
    (error,) = info.value.report.node_errors["load"].errors
    assert "points outside the input folder" in error.details
