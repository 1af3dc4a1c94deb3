"""API format → UI format on the real built-in nodes: links, widgets, ids, titles, errors and the layout."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from graph_engine import (NodeRegistry, WorkflowFormatError, api_to_ui, discover_plugins, load_plugins,
                          read_workflow_file, ui_to_api)
from tests.fixtures.registries import builtin_registry

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    """The built-in nodes and the shipped example plugin (workflows/example_plugin.json uses it)."""
    registry = builtin_registry()
    plugins = REPO / "custom_nodes"
    before = set(sys.modules)
    reports = load_plugins(registry, [s for s in discover_plugins([plugins]) if s.path is not None])
    for name in set(sys.modules) - before:  # keep the module names free for other tests that load it
        file = getattr(sys.modules[name], "__file__", None)
        if file and Path(file).resolve().is_relative_to(plugins):
            del sys.modules[name]
    assert all(r.ok for r in reports), [r.error for r in reports]
    return registry


def read(path: Path, registry: NodeRegistry) -> dict:
    """A shipped workflow (editor or API format) as its API prompt."""
    return read_workflow_file(path, registry=registry)


def by_id(workflow: dict) -> dict[int, dict]:
    return {node["id"]: node for node in workflow["nodes"]}


def assert_links_consistent(workflow: dict) -> None:
    """Each link row agrees with the input socket it ends on and the output it leaves from."""
    nodes = by_id(workflow)
    for link_id, source, slot, target, target_slot, type_ in workflow["links"]:
        assert nodes[target]["inputs"][target_slot]["link"] == link_id
        assert link_id in nodes[source]["outputs"][slot]["links"]
        assert nodes[source]["outputs"][slot]["type"] == type_
    linked = [i["link"] for n in workflow["nodes"] for i in n["inputs"] if i["link"] is not None]
    assert sorted(linked) == sorted(row[0] for row in workflow["links"])
    assert workflow["last_link_id"] == max((row[0] for row in workflow["links"]), default=0)
    assert workflow["last_node_id"] == max(nodes)


def test_text_to_image_nodes_links_and_widgets(registry):
    prompt = read(REPO / "workflows" / "text_to_image.json", registry)
    workflow = api_to_ui(prompt, registry)
    assert workflow["version"] == 0.4
    assert workflow["groups"] == [] and workflow["config"] == {} and workflow["extra"] == {}
    nodes = by_id(workflow)
    assert set(nodes) == {int(k) for k in prompt}
    assert len(workflow["links"]) == sum(isinstance(v, list) for n in prompt.values() for v in n["inputs"].values())
    assert_links_consistent(workflow)

    sampler = nodes[3]
    inputs = prompt["3"]["inputs"]
    assert sampler["type"] == "KSampler" and sampler["mode"] == 0
    assert sampler["widgets_values"] == [inputs["seed"], "fixed", inputs["steps"], inputs["cfg"],
                                         inputs["sampler_name"], inputs["scheduler"], inputs["denoise"]]
    assert [i["name"] for i in sampler["inputs"]] == ["model", "positive", "negative", "latent_image"]
    assert [(o["name"], o["type"], o["slot_index"]) for o in nodes[4]["outputs"]] == [
        ("MODEL", "MODEL", 0), ("CLIP", "CLIP", 1), ("VAE", "VAE", 2)]
    model_link = next(row for row in workflow["links"] if row[3] == 3 and row[4] == 0)
    assert model_link[1:] == [4, 0, 3, 0, "MODEL"]
    assert sorted(n["order"] for n in workflow["nodes"]) == list(range(len(prompt)))
    assert nodes[4]["order"] < nodes[3]["order"] < nodes[8]["order"] < nodes[9]["order"]


def test_titles_are_kept_and_display_names_left_implicit(registry):
    prompt = read(REPO / "workflows" / "utility_example.json", registry)
    nodes = by_id(api_to_ui(prompt, registry))
    assert nodes[1]["title"] == "Six" and nodes[4]["title"] == "Answer"
    assert "title" not in nodes[3]


def test_widget_fed_by_a_link_is_an_input_with_a_widget_and_keeps_its_place(registry):
    prompt = read(REPO / "workflows" / "utility_example.json", registry)
    workflow = api_to_ui(prompt, registry)
    math = by_id(workflow)[3]
    assert math["inputs"] == [
        {"name": "a", "type": "INT", "link": math["inputs"][0]["link"], "widget": {"name": "a"}},
        {"name": "b", "type": "INT", "link": math["inputs"][1]["link"], "widget": {"name": "b"}},
    ]
    assert len(math["widgets_values"]) == 3 and math["widgets_values"][2] == "multiply"
    assert_links_consistent(workflow)


def test_non_integer_ids_get_fresh_numbers(registry):
    prompt = {
        "7": {"class_type": "PrimitiveInt", "inputs": {"value": 2}},
        "5:3": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
        "05": {"class_type": "MathInt", "inputs": {"a": ["7", 0], "b": ["5:3", 0], "operation": "add"}},
    }
    workflow = api_to_ui(prompt, registry)
    nodes = by_id(workflow)
    assert nodes[7]["type"] == "PrimitiveInt" and set(nodes) == {7, 8, 9}
    math = next(n for n in workflow["nodes"] if n["type"] == "MathInt")
    sources = {row[1] for row in workflow["links"] if row[3] == math["id"]}
    assert sources == {7, next(i for i, n in nodes.items() if n["type"] == "PrimitiveInt" and i != 7)}
    assert_links_consistent(workflow)


def boxes(workflow: dict) -> dict[int, tuple[float, float, float, float]]:
    return {n["id"]: (n["pos"][0], n["pos"][1], n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
            for n in workflow["nodes"]}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_layout_flows_left_to_right_without_overlaps(registry, path):
    workflow = api_to_ui(read(path, registry), registry)
    box = boxes(workflow)
    for _link, source, _slot, target, _tslot, _type in workflow["links"]:
        assert box[source][2] < box[target][0], f"link {source} → {target} does not go right"
    for (a, ra), (b, rb) in itertools.combinations(box.items(), 2):
        apart = ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1]
        assert apart, f"nodes {a} and {b} overlap: {ra} {rb}"
    assert min(w for n in workflow["nodes"] for w in n["size"]) > 0
    assert api_to_ui(read(path, registry), registry) == workflow  # deterministic


def test_a_node_with_many_widgets_is_taller_than_one_without(registry):
    nodes = by_id(api_to_ui(read(REPO / "workflows" / "text_to_image.json", registry), registry))
    assert nodes[3]["size"][1] > nodes[8]["size"][1]  # KSampler's seven widgets vs VAEDecode's two sockets


@pytest.mark.parametrize("prompt,words", [
    ({"1": {"class_type": "NoSuchNode", "inputs": {}}}, ["node 1", "NoSuchNode", "install"]),
    ({"1": {"class_type": "StringLength", "inputs": {"string": ["9", 0]}}}, ["node 1", "'string'", "node 9"]),
    ({"1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
      "2": {"class_type": "StringLength", "inputs": {"string": ["1", 3]}}}, ["node 2", "output 3", "1 output"]),
    ({"1": {"class_type": "MathInt", "inputs": {"a": ["2", 0], "b": 1, "operation": "add"}},
      "2": {"class_type": "MathInt", "inputs": {"a": ["1", 0], "b": 1, "operation": "add"}}}, ["loop", "1", "2"]),
    ({"1": "KSampler"}, ["node 1", "class_type"]),
    ({"1": {"class_type": "PrimitiveInt", "inputs": [1]}}, ["node 1", "PrimitiveInt", "inputs"]),
    ({}, ["non-empty"]),
])
def test_bad_prompts_raise_errors_that_name_the_problem(registry, prompt, words):
    with pytest.raises(WorkflowFormatError) as caught:
        api_to_ui(prompt, registry)
    for word in words:
        assert word in str(caught.value)


def comparable(prompt: dict) -> dict:
    """The parts a round trip must keep: class, inputs (links as [str id, slot]) and the title when one is given."""
    return {node_id: {"class_type": node["class_type"],
                      "inputs": {k: [str(v[0]), v[1]] if isinstance(v, list) else v for k, v in node["inputs"].items()},
                      "title": node.get("_meta", {}).get("title")}
            for node_id, node in prompt.items()}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_round_trip_api_to_ui_to_api_keeps_the_prompt(registry, path):
    prompt = read(path, registry)
    back = ui_to_api(api_to_ui(prompt, registry), registry)
    expected = comparable(prompt)
    got = comparable(back)
    for node_id, node in expected.items():
        if node["title"] is None:  # the editor names an untitled node after its class
            got[node_id]["title"] = None
    assert got == expected


def test_links_to_undeclared_inputs_become_sockets_of_the_source_type(registry):
    """Plugins with dynamic inputs (image_1, image_2, ...) take inputs their INPUT_TYPES does not list."""
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0], "extra_1": ["1", 0], "note": "x"}}}
    workflow = api_to_ui(prompt, registry)
    preview = by_id(workflow)[2]
    assert [(i["name"], i["type"]) for i in preview["inputs"]] == [("source", "*"), ("extra_1", "INT")]
    assert_links_consistent(workflow)
