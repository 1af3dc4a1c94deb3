"""Our /object_info against ComfyUI's own for its Stable Diffusion node set (shared/reference/comfyui_sd_nodes.json).

Every reference node we offer must match it in what a client or a saved workflow depends on: display name,
category, python_module, each input's name, section, order, type, default, range and combo choices, the outputs
with their names and list flags, and the output-node and input-list flags. Combos that list files are compared by
type only (their choices are this installation's files). Where we differ on purpose, `DEVIATIONS` says why.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph_engine import Folders, using_folders
from tests.fixtures.registries import builtin_registry

# ComfyUI 0.33's own /object_info for its SD node set (its "source" field says which commit), copied from the
# project's shared/reference so that the suite runs from any clone
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference" / "comfyui_sd_nodes.json"
COMPARED_OPTIONS = ("default", "min", "max", "step", "round", "multiline", "image_upload", "lazy", "forceInput")
FILE_LISTS = {  # combos whose choices are the installation's files: both sides list them, neither is the spec
    ("CheckpointLoaderSimple", "ckpt_name"), ("VAELoader", "vae_name"), ("LoraLoader", "lora_name"),
    ("LoraLoaderModelOnly", "lora_name"), ("LoadImage", "image"), ("LoraLoaderBypass", "lora_name"),
    ("LoraLoaderBypassModelOnly", "lora_name"),
}
# (node, what differs) -> why we differ on purpose; each entry is checked to still be needed
DEVIATIONS: dict[tuple[str, str], str] = {
    ("CustomCombo", "input_order"): "ComfyUI passes a node every input it is sent (the canvas sends `index`); our "
                                    "engine passes declared inputs only, so index is declared",
    ("CustomCombo", "optional/index"): "ComfyUI passes a node every input it is sent (the canvas sends `index`); "
                                       "our engine passes declared inputs only, so index is declared",
}
OURS_ONLY = {"MathInt": "integer arithmetic for the utility example (ComfyUI has ComfyMathExpression)",
             "MathFloat": "float arithmetic for the utility example (ComfyUI has ComfyMathExpression)"}


def reference_nodes() -> dict[str, dict[str, Any]]:
    return json.loads(REFERENCE.read_text())["nodes"]


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> dict[str, dict[str, Any]]:
    folders = Folders.under(tmp_path_factory.mktemp("empty_installation"))
    with using_folders(folders):
        return builtin_registry(folders).object_info()


def _type_and_choices(declaration: list) -> tuple[str, tuple | None]:
    declared = declaration[0]
    options = declaration[1] if len(declaration) > 1 and isinstance(declaration[1], dict) else {}
    if isinstance(declared, list):
        return "COMBO", tuple(declared)
    if declared == "COMBO":
        return "COMBO", tuple(options.get("options", ()))
    return declared, None


def shape(node: str, info: dict[str, Any]) -> dict[str, Any]:
    """What is compared of one node's /object_info entry, in a form both spellings of a combo agree on."""
    inputs = {}
    for section in ("required", "optional"):
        for name in info.get("input_order", {}).get(section, []):
            declaration = info["input"][section][name]
            type_, choices = _type_and_choices(declaration)
            options = declaration[1] if len(declaration) > 1 and isinstance(declaration[1], dict) else {}
            compared = {key: options[key] for key in COMPARED_OPTIONS if key in options}
            if options.get("lazy") is False:
                compared.pop("lazy")
            if (node, name) in FILE_LISTS:
                choices = "files"
            inputs[f"{section}/{name}"] = {"type": type_, "choices": choices, **compared}
    return {
        # ComfyUI's V3 nodes without a display name list null; its clients then show the class name, which is what a
        # classic node class without one lists (ComfyUI's own rule), so null is compared as the class name.
        "display_name": info["display_name"] or node, "category": info["category"],
        "python_module": info["python_module"],
        "input_order": {section: info.get("input_order", {}).get(section, []) for section in ("required", "optional")},
        "inputs": inputs,
        "hidden": sorted(info["input"].get("hidden", {})),
        "output": [list(o) if isinstance(o, list) else o for o in info["output"]],
        "output_name": info["output_name"], "output_is_list": info["output_is_list"],
        "output_node": info["output_node"], "is_input_list": info.get("is_input_list", False),
    }


def differences(node: str, ours: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """One line per field that differs, minus those DEVIATIONS explains."""
    mine, theirs = shape(node, ours), shape(node, reference)
    lines = []
    for key in theirs:
        if key == "inputs":
            for name in sorted(set(mine["inputs"]) | set(theirs["inputs"])):
                if mine["inputs"].get(name) != theirs["inputs"].get(name) and (node, name) not in DEVIATIONS:
                    lines.append(f"{name}: ours {mine['inputs'].get(name)} != ComfyUI's {theirs['inputs'].get(name)}")
        elif mine[key] != theirs[key] and (node, key) not in DEVIATIONS:
            lines.append(f"{key}: ours {mine[key]!r} != ComfyUI's {theirs[key]!r}")
    return lines


@pytest.mark.parametrize("node", sorted(reference_nodes()))
def test_each_node_we_offer_matches_comfyuis_object_info(node, ours):
    if node not in ours:
        pytest.skip(f"{node} is not offered yet")
    assert differences(node, ours[node], reference_nodes()[node]) == []


def test_every_deviation_is_still_needed(ours):
    reference = reference_nodes()
    for (node, what), why in DEVIATIONS.items():
        assert why and node in ours, (node, what)
        mine, theirs = shape(node, ours[node]), shape(node, reference[node])
        if what in mine or what in theirs:
            assert mine.get(what) != theirs.get(what), f"{node} {what}: now matches; drop the deviation"
        else:
            assert mine["inputs"].get(what) != theirs["inputs"].get(what), f"{node} {what}: now matches"


def test_nodes_beyond_comfyuis_set_are_the_documented_ones(ours):
    assert sorted(set(ours) - set(reference_nodes())) == sorted(OURS_ONLY)
