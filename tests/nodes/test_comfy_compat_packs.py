"""ComfyUI-style packs loaded by the real plugin loader and run by a real engine: the for-loop pack of the fixtures,
built with comfy_execution's GraphBuilder, and packs written here reaching for parts of ComfyUI that Latentloom does
not offer, which fail to load with one line naming what they need while the others load."""
from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from graph_engine import Engine, Folders, discover_plugins, load_plugins
from nodes.comfy_compat import explain_import_failure, install_comfy_modules
from tests.fixtures.registries import builtin_registry

PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "comfy_plugin_packs"


GOOD_PACK = '''
import comfy
import comfy_extras.nodes_mask
import folder_paths

# a bare `import comfy`, then its submodules, at import time
BAR_CLASS = comfy.utils.ProgressBar
SAMPLERS = comfy.samplers.KSampler.SAMPLERS


class Uses:
    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT", {"default": 1})}}

    def run(self, x):
        return (x + len(SAMPLERS),)


NODE_CLASS_MAPPINGS = {"LLUsesComfy": Uses}
'''

NEEDS = {  # pack -> (its import line, what its report must say it needs)
    "needs_hooks": ("import comfy.hooks", "comfy.hooks"),
    "needs_from_comfy": ("from comfy import sd1_clip", "comfy.sd1_clip"),
    "needs_ldm_model": ("import comfy.ldm.flux.layers", "comfy.ldm.flux"),
    "needs_attention_name": ("from comfy.ldm.modules.attention import SpatialTransformer",
                             "comfy.ldm.modules.attention.SpatialTransformer"),
    "needs_attribute": ("import comfy\nHOOKS = comfy.hooks.EnumHookMode", "comfy.hooks"),
    "needs_sd_name": ("from comfy.sd import load_bypass_lora_for_models", "comfy.sd.load_bypass_lora_for_models"),
    "needs_extras_module": ("from comfy_extras.nodes_audio import EmptyLatentAudio", "comfy_extras.nodes_audio"),
    "needs_extras_node": ("from comfy_extras.nodes_mask import NoSuchMaskNode", "comfy_extras.nodes_mask.NoSuchMaskNode"),
    "needs_shim_name": ("from comfy.model_management import get_supported_float8_types",
                        "comfy.model_management.get_supported_float8_types"),
    "needs_graph_name": ("from comfy_execution.graph import DependencyCycleError",
                         "comfy_execution.graph.DependencyCycleError"),
    "needs_folder_name": ("import folder_paths\nfolder_paths.filename_list_cache", "folder_paths.filename_list_cache"),
    "needs_nodes_function": ("from nodes import common_ksampler", "nodes.common_ksampler"),
}


def write_pack(folder: Path, name: str, source: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(textwrap.dedent(source))


def load_packs(tmp_path: Path, packs: dict[str, str], folder: Path | None = None, allow: list[str] | None = None):
    """The built-in registry plus the packs (written to a folder, or those of `folder` named in `allow`), loaded as
    start-up loads plugins; (engine, reports by pack)."""
    if folder is None:
        folder = tmp_path / "custom_nodes"
        for name, source in packs.items():
            write_pack(folder, name, source)
    folders = Folders.under(tmp_path)
    install_comfy_modules(folders)
    registry = builtin_registry(folders)
    reports = load_plugins(registry, discover_plugins([folder]), allow=allow, explain_failure=explain_import_failure)
    return Engine(registry, folders), {report.name: report for report in reports}


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


@pytest.fixture
def loop_engine(tmp_path):
    engine, reports = load_packs(tmp_path, {}, PACKS, allow=["ll_comfy_loops"])
    assert reports["ll_comfy_loops"].ok, reports["ll_comfy_loops"].error
    import sys

    pack = next(module for name, module in sys.modules.items() if name.endswith("ll_comfy_loops"))
    pack.CALLS.clear()
    return engine, pack.CALLS


def test_a_for_loop_pack_built_with_graph_builder_runs_each_turn(loop_engine):
    """value <- value + index for index 0..3, from 10: 10, 11, 13, 16."""
    engine, calls = loop_engine
    prompt = {"1": node("LLComfyForLoopOpen", total=4, value=10),
              "2": node("LLComfyAddInts", a=["1", 2], b=["1", 1]),
              "3": node("LLComfyForLoopClose", flow=["1", 0], value=["2", 0]),
              "9": node("LLComfyShowInt", value=["3", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["9"]["value"] == [10 + sum(range(4))]
    closes = [node_id for class_type, node_id in calls if class_type == "ForLoopClose"]
    # ComfyUI's ids: the running node's id, call 0, graph 0, then the builder's own id
    assert closes == ["3", "3.0.0.Recurse", "3.0.0.Recurse.0.0.Recurse", "3.0.0.Recurse.0.0.Recurse.0.0.Recurse"]
    adds = [node_id for class_type, node_id in calls if class_type == "AddInts"]
    assert adds == ["2", "3.0.0.2", "3.0.0.Recurse.0.0.3.0.0.2", "3.0.0.Recurse.0.0.Recurse.0.0.3.0.0.Recurse.0.0.3.0.0.2"]
    calls.clear()
    assert engine.run(prompt).outputs["9"]["value"] == [16] and calls == []  # all cached
    prompt["1"]["inputs"]["total"] = 1
    assert engine.run(prompt).outputs["9"]["value"] == [10]  # one turn: no expansion


def test_packs_needing_what_latentloom_does_not_offer_are_named_and_the_others_load(tmp_path, caplog):
    packs = {name: f"{line}\nNODE_CLASS_MAPPINGS = {{}}\n" for name, (line, _) in NEEDS.items()}
    with caplog.at_level(logging.ERROR, logger="graph_engine.plugins"):
        engine, reports = load_packs(tmp_path, {**packs, "ll_good_pack": GOOD_PACK})
    for name, (_, needed) in NEEDS.items():
        expected = f"this pack needs {needed}, which Latentloom does not offer yet"
        assert reports[name].error == expected, name
        assert f"plugin {name} failed to load" in caplog.text and expected in caplog.text
    assert reports["ll_good_pack"].ok, reports["ll_good_pack"].error
    from nodes.runtime.sampler_names import SAMPLER_NAMES

    result = engine.run({"1": node("LLUsesComfy", x=2), "2": node("PreviewAny", source=["1", 0])})
    assert result.ok, result.error
    assert result.outputs["2"]["text"] == [str(2 + len(SAMPLER_NAMES))]


def test_a_pack_failing_for_its_own_reasons_keeps_its_own_message(tmp_path):
    probing = "try:\n    import comfy.hooks\nexcept ImportError:\n    comfy_hooks = None\nNODE_CLASS_MAPPINGS = {}\n"
    _, reports = load_packs(tmp_path, {
        "own_bug": "import comfy.utils\nraise ValueError('my config is wrong')\n",
        "own_module": "import some_module_of_its_own\n",
        "fails_after_probing": "try:\n    import comfy.hooks\nexcept ImportError:\n"
                               "    raise KeyError('fallback broke')\n",
        "raises_from": "try:\n    import comfy.hooks\nexcept ImportError as e:\n"
                       "    raise RuntimeError('old ComfyUI') from e\n",
        "probes_and_loads": probing})
    assert reports["own_bug"].error == "ValueError: my config is wrong"
    assert reports["own_module"].error == "ModuleNotFoundError: No module named 'some_module_of_its_own'"
    assert reports["fails_after_probing"].error == "KeyError: 'fallback broke'"
    assert reports["raises_from"].error == "this pack needs comfy.hooks, which Latentloom does not offer yet"
    assert reports["probes_and_loads"].ok


BLOCKING_PACK = '''
from comfy_execution.graph import ExecutionBlocker


class Switch:
    """ComfyUI's pattern: the output not chosen is blocked, so the nodes behind it do not run."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT", "INT")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT", {"default": 0}), "first": ("BOOLEAN", {"default": True})}}

    def run(self, x, first):
        return (x, ExecutionBlocker(None)) if first else (ExecutionBlocker(None), x)


NODE_CLASS_MAPPINGS = {"LLSwitch": Switch}
'''


def test_a_pack_blocks_the_branch_it_does_not_choose(tmp_path):
    engine, reports = load_packs(tmp_path, {"ll_blocking": BLOCKING_PACK})
    assert reports["ll_blocking"].ok, reports["ll_blocking"].error
    prompt = {"1": node("LLSwitch", x=4, first=False),
              "2": node("PreviewAny", source=["1", 0]), "3": node("PreviewAny", source=["1", 1])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs == {"3": {"text": ["4"]}}
