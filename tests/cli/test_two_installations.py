"""Two installations in one process (a notebook with two projects, a test suite, a server hosting two base folders):
each engine, and each Python API Workflow, lists, validates and runs its own models and files and writes its own
outputs however the calls interleave, and no module is left pointing at either installation."""
from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from graph_engine import Folders
from latentloom import Workflow, WorkflowInvalid
from latentloom.startup import Options, build_engine
from tests.fixtures.example_workflows import example_prompt
from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1

NAMES = ("alpha", "beta")


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Two base folders, each with its own tiny SD1 checkpoint and input picture, named after the installation."""
    made = {}
    for seed, name in enumerate(NAMES, 1):
        base = tmp_path_factory.mktemp(name)
        build_sd1(base / "models" / "checkpoints", name=f"{name}.safetensors", seed=seed, vocab_size=FULL_VOCABULARY)
        (base / "input").mkdir()
        Image.new("RGB", (4 * seed, 2 * seed)).save(base / "input" / f"{name}.png")
        made[name] = base
    return made


def text_to_image(name: str, seed: int = 1) -> dict:
    """The default graph on installation `name`'s checkpoint, small, plus its input picture saved as it is."""
    prompt = example_prompt("text_to_image.json")
    prompt["4"]["inputs"]["ckpt_name"] = f"{name}.safetensors"
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=2, seed=seed)
    prompt["9"]["inputs"]["filename_prefix"] = name
    prompt["load"] = {"class_type": "LoadImage", "inputs": {"image": f"{name}.png"}}
    prompt["keep"] = {"class_type": "SaveImage", "inputs": {"images": ["load", 0], "filename_prefix": f"{name}_input"}}
    return prompt


def outputs_of(base: Path) -> list[str]:
    return sorted(path.name for path in (base / "output").glob("*.png"))


def test_two_engines_list_validate_and_run_their_own_models_and_files_interleaved(bases):
    engines = {name: build_engine(Options(base_dir=bases[name], disable_custom_nodes=True))[0] for name in NAMES}
    for name, engine in engines.items():
        required = engine.object_info()
        assert required["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [f"{name}.safetensors"]
        assert required["LoadImage"]["input"]["required"]["image"][0] == [f"{name}.png"]

    for name, other in (("alpha", "beta"), ("beta", "alpha")):  # each refuses the other's files, naming its own
        report = engines[name].validate(text_to_image(other))
        assert {node: [error.type for error in errors.errors] for node, errors in report.node_errors.items()} == {
            "4": ["value_not_in_list"], "load": ["custom_validation_failed"]}
        assert str(bases[name] / "models" / "checkpoints") in report.node_errors["4"].errors[0].message

    reports = {name: engines[name].validate(text_to_image(name)) for name in NAMES}  # both validated, then run
    assert all(report.ok for report in reports.values())
    ran = [engines["beta"].execute(reports["beta"], text_to_image("beta")),
           engines["alpha"].execute(reports["alpha"], text_to_image("alpha")),
           engines["beta"].run(text_to_image("beta", seed=2))]
    assert all(result.ok for result in ran), [result.error for result in ran]
    assert outputs_of(bases["alpha"]) == ["alpha_00001_.png", "alpha_input_00001_.png"]
    assert outputs_of(bases["beta"]) == ["beta_00001_.png", "beta_00002_.png", "beta_input_00001_.png"]
    with Image.open(bases["beta"] / "output" / "beta_input_00001_.png") as saved:
        assert saved.size == (8, 4)  # beta's own picture


def test_two_python_api_workflows_over_two_base_folders(bases):
    workflows = {name: Workflow(options=Options(base_dir=bases[name], disable_custom_nodes=True)) for name in NAMES}
    saves = {}
    for name in NAMES:  # built side by side
        wf = workflows[name]
        ckpt = wf.CheckpointLoaderSimple(ckpt_name=f"{name}.safetensors")
        saves[name] = wf.SaveImage(images=wf.LoadImage(image=f"{name}.png").IMAGE, filename_prefix=f"{name}_api")
        wf.SaveImage(images=wf.VAEDecode(samples=wf.EmptyLatentImage(width=64, height=64).LATENT, vae=ckpt.VAE).IMAGE,
                     filename_prefix=f"{name}_api_decoded")
    results = {name: workflows[name].run() for name in reversed(NAMES)}
    for name, result in results.items():
        (path,) = result.image_paths(saves[name])
        assert path.parent == bases[name] / "output" and path.name == f"{name}_api_00001_.png"
        assert len(result.image_paths()) == 2 and all(p.parent == bases[name] / "output" for p in result.image_paths())

    stray = Workflow(options=Options(base_dir=bases["alpha"], disable_custom_nodes=True))
    stray.SaveImage(images=stray.LoadImage(image="beta.png").IMAGE)
    with pytest.raises(WorkflowInvalid, match="beta.png"):
        stray.run()


# --- nothing keeps an installation ------------------------------------------------------------------------------------

OLD_SETTERS = [("model_library.folders", "set_models_folder"), ("model_library.folders", "models_folder"),
               ("nodes.images", "set_input_folder"), ("nodes.images", "set_output_folder"),
               ("nodes.images.input_folder", "get_input_folder"), ("nodes.images.input_folder", "get_output_folder"),
               ("nodes.comfy_compat", "installation_folders"), ("model_library.hashes", "set_hash_cache"),
               ("model_library.hashes", "hash_cache"), ("latentloom.startup", "use_model_folders")]
ROOMS = ("graph_engine", "model_library", "nodes", "latentloom", "web")


def holds(value: Any, paths: tuple[str, ...], depth: int = 4, seen: set[int] | None = None) -> bool:
    """Whether `value` is, or holds within `depth` levels of containers and plain objects, a path under `paths`."""
    seen = set() if seen is None else seen
    if id(value) in seen or depth < 0 or isinstance(value, type):
        return False
    seen.add(id(value))
    if isinstance(value, (str, os.PathLike)):
        return any(os.fspath(value).startswith(path) for path in paths)
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    elif dataclasses.is_dataclass(value):
        items = [getattr(value, field.name) for field in dataclasses.fields(value)]
    elif isinstance(value, functools.partial):
        items = [*value.args, *value.keywords.values()]
    else:
        items = list(getattr(value, "__dict__", {}).values())
    return any(holds(item, paths, depth - 1, seen) for item in items)


def attributes_holding(paths: tuple[str, ...], rooms: tuple[str, ...]) -> list[str]:
    return [f"{name}.{attribute}" for name, module in list(sys.modules.items())
            if name.split(".")[0] in rooms and module is not None
            for attribute, value in list(vars(module).items())
            if not attribute.startswith("__") and not isinstance(value, type(sys)) and holds(value, paths)]


def test_no_module_outside_start_up_keeps_the_installation(tmp_path):
    import nodes  # noqa: F401  the node classes and everything they import

    for module, name in OLD_SETTERS:
        assert not hasattr(importlib.import_module(module), name), f"{module}.{name} is back"
    engines = []
    for name in NAMES:
        base = tmp_path / name
        build_sd1(base / "models" / "checkpoints", name=f"{name}.safetensors")
        engines.append(build_engine(Options(base_dir=base))[0])  # plugins on: folder_paths gets its folders
    for engine in engines:
        engine.object_info()
        engine.validate(text_to_image(engine.folders.base.name))
    bases = tuple(str(engine.folders.base) for engine in engines)

    assert attributes_holding(bases, ROOMS) == []
    import folder_paths  # ComfyUI plugins' module: the one process-wide installation, by design

    assert attributes_holding(bases, ("folder_paths",)) == ["folder_paths._plugin_folders"]  # the scan sees it
    assert folder_paths._plugin_folders is engines[-1].folders  # the very value of the engine that loaded plugins
    assert isinstance(folder_paths._plugin_folders, Folders)
