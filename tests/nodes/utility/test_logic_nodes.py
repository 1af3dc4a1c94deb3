"""ComfyUI's logic nodes (comfy_extras.nodes_logic) run through the engine: truth by Python's rules, the switch that
runs only its chosen branch, and the Custom Combo."""
from __future__ import annotations

import pytest

from graph_engine import InvalidNodeInput
from nodes.utility.logic import ComfyAndNode, ComfyNotNode, CustomCombo


class Explode:
    """A source that must never run: the branch a switch did not choose."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        raise RuntimeError("the branch that was not chosen ran")


@pytest.fixture
def engine(runner):
    runner.engine.registry.register_mappings({"Explode": Explode}, source="test")
    return runner.engine


@pytest.mark.parametrize("value,expected", [(0, True), (2, False), ("", True), ("no", False), ([], True),
                                            ([0], False), (None, True), (False, True), (0.0, True)])
def test_not_follows_pythons_truth(runner, value, expected):
    assert runner.output("ComfyNotNode", {}, {"value": value}) is expected


def test_not_takes_a_constant_too(runner):
    assert runner.output("ComfyNotNode", {"value": True}) is False


@pytest.mark.parametrize("values,all_true,any_true", [
    ([1], True, True), ([0], False, False), ([1, "x", [2]], True, True), ([1, "", 3], False, True),
    ([0, "", None, []], False, False), ([0] * 9 + [1], False, True)])
def test_and_or_over_the_connected_values(runner, values, all_true, any_true):
    links = {f"values.value{i}": value for i, value in enumerate(values)}
    assert runner.output("ComfyAndNode", {}, links) is all_true
    assert runner.output("ComfyOrNode", {}, links) is any_true


def test_and_needs_its_first_value(runner):
    report = runner.engine.validate(runner.prompt("ComfyAndNode", {}))
    [error] = report.node_errors["node"].errors
    assert (error.type, error.input_name) == ("required_input_missing", "values.value0")


def test_and_or_skip_missing_entries_in_the_middle(runner):
    assert runner.output("ComfyOrNode", {}, {"values.value0": 0, "values.value7": "yes"}) is True
    assert runner.output("ComfyAndNode", {}, {"values.value0": 1, "values.value7": ""}) is False


def test_a_value_with_no_single_truth_is_refused_by_name():
    class Ambiguous:
        def __bool__(self):
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")

    with pytest.raises(InvalidNodeInput, match=r"values\.value1 \(Ambiguous\) is neither true nor false"):
        ComfyAndNode().execute({"value0": 1, "value1": Ambiguous()})
    with pytest.raises(InvalidNodeInput, match=r"^value \(Ambiguous\)"):
        ComfyNotNode().execute(Ambiguous())
    assert ComfyAndNode().execute({"value0": 0, "value1": Ambiguous()}) == (False,)  # stops early


def test_switch_runs_only_the_chosen_branch(engine):
    prompt = {"chosen": {"class_type": "PrimitiveInt", "inputs": {"value": 8}},
              "never": {"class_type": "Explode", "inputs": {}},
              "switch": {"class_type": "ComfySwitchNode", "inputs": {
                  "switch": True, "on_true": ["chosen", 0], "on_false": ["never", 0]}},
              "out": {"class_type": "PreviewAny", "inputs": {"source": ["switch", 0]}}}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["out"]["text"] == ["8"]
    assert "never" not in result.executed
    prompt["switch"]["inputs"]["switch"] = False
    result = engine.run(prompt)
    assert result.status == "error" and result.error.node_id == "never"


def test_switch_on_false_from_a_linked_boolean(runner):
    prompt = {"flag": {"class_type": "PrimitiveBoolean", "inputs": {"value": False}},
              "yes": {"class_type": "PrimitiveString", "inputs": {"value": "yes"}},
              "no": {"class_type": "PrimitiveString", "inputs": {"value": "no"}},
              "switch": {"class_type": "ComfySwitchNode", "inputs": {
                  "switch": ["flag", 0], "on_true": ["yes", 0], "on_false": ["no", 0]}},
              "out": {"class_type": "PreviewAny", "inputs": {"source": ["switch", 0]}}}
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["out"]["text"] == ["no"]
    assert "yes" not in result.executed


def test_switch_branches_must_match_and_switch_must_be_boolean(runner):
    prompt = {"text": {"class_type": "PrimitiveString", "inputs": {"value": "t"}},
              "number": {"class_type": "PrimitiveInt", "inputs": {"value": 1}},
              "switch": {"class_type": "ComfySwitchNode", "inputs": {
                  "switch": True, "on_true": ["text", 0], "on_false": ["number", 0]}},
              "out": {"class_type": "PreviewAny", "inputs": {"source": ["switch", 0]}}}
    [error] = runner.engine.validate(prompt).node_errors["switch"].errors
    assert (error.type, error.input_name) == ("return_type_mismatch", "on_true")
    assert "on_true receives STRING but on_false receives INT" in error.details
    prompt["switch"]["inputs"].update(on_false=["text", 0], switch=["text", 0])
    [error] = runner.engine.validate(prompt).node_errors["switch"].errors
    assert (error.type, error.input_name) == ("return_type_mismatch", "switch")


def test_custom_combo_passes_the_users_choice_and_its_index(runner):
    assert runner.outputs("CustomCombo", {"choice": "my own option", "index": 2}, outputs=2) == ["my own option", 2]
    assert runner.outputs("CustomCombo", {"choice": "first"}, outputs=2) == ["first", 0]


def test_custom_combo_from_comfyuis_editor_file(runner):
    """ComfyUI's canvas saves the combo, the hidden index of the pick among the options, then the options."""
    from graph_engine.ui_format import ui_to_api

    editor = {"nodes": [
        {"id": 1, "type": "CustomCombo", "mode": 0, "inputs": [], "properties": {},
         "outputs": [{"name": "STRING", "type": "STRING", "links": [1]}, {"name": "INDEX", "type": "INT", "links": []}],
         "widgets_values": ["green", 1, "red", "green", "blue", ""]},
        {"id": 2, "type": "PreviewAny", "mode": 0, "properties": {}, "outputs": [],
         "inputs": [{"name": "source", "type": "*", "link": 1}]}],
        "links": [[1, 1, 0, 2, 0, "STRING"]], "version": 0.4}
    prompt = ui_to_api(editor, runner.engine.registry)
    assert prompt["1"]["inputs"] == {"choice": "green", "index": 1}
    assert CustomCombo().execute(**prompt["1"]["inputs"]) == ("green", 1)
