"""One rule for which API-format input values are links (graph_engine.plan: `is_link`, `Link.of`): validation, the
run and the editor-format writer agree on every value, tuples (from Python callers) included."""
from __future__ import annotations

import pytest

from graph_engine import WorkflowFormatError, api_to_ui, validate_prompt
from graph_engine.plan import Link, is_link

WELL_FORMED = [(["4", 0], Link("4", 0)), (("4", 1), Link("4", 1)), ([4, 0], Link("4", 0)), (["5:3", 2], Link("5:3", 2))]
MALFORMED = [[], ["4"], ["4", 0, 1], ["4", "0"], ["4", 0.0], ["4", False], [True, 0], [None, 0], ("4",)]
CONSTANTS = ["4", 4, 0.5, None, True, {"4": 0}]


@pytest.mark.parametrize("value,link", WELL_FORMED, ids=repr)
def test_a_well_formed_link_is_read_the_same_from_a_list_or_a_tuple(value, link):
    assert is_link(value) and Link.of(value) == link


@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_a_malformed_link_is_meant_as_a_link_but_links_nothing(value):
    assert is_link(value) and Link.of(value) is None


@pytest.mark.parametrize("value", CONSTANTS, ids=repr)
def test_anything_but_a_list_or_tuple_is_a_constant(value):
    assert not is_link(value) and Link.of(value) is None


def multiply(a, b) -> dict:
    """6 * 7 shown by PreviewAny, the product's inputs `a` and `b` as given (links or constants)."""
    return {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 6}},
            "2": {"class_type": "MathInt", "inputs": {"a": a, "b": b, "operation": "multiply"}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ("2", 0)}}}


def test_tuple_links_validate_run_and_become_editor_links(registry, engine):
    prompt = multiply(("1", 0), 7)
    report = validate_prompt(prompt, registry)
    assert report.ok and report.nodes["2"].links == {"a": Link("1", 0)}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["3"]["text"] == ["42"]
    workflow = api_to_ui(prompt, registry)
    assert sorted(row[1:5] for row in workflow["links"]) == [[1, 0, 2, 0], [2, 0, 3, 0]]
    product = next(node for node in workflow["nodes"] if node["id"] == 2)
    assert product["widgets_values"][1:] == [7, "multiply"]  # `a` is fed by the link: no value of its own


@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_a_malformed_link_is_refused_by_validation_and_by_the_editor_writer_alike(registry, value):
    prompt = multiply(value, 7)
    report = validate_prompt(prompt, registry)
    assert [(e.type, e.input_name) for e in report.node_errors["2"].errors] == [("bad_linked_input", "a")]
    with pytest.raises(WorkflowFormatError) as refused:
        api_to_ui(prompt, registry)
    assert "node 2 (MathInt), input 'a'" in str(refused.value) and "[node id, output index]" in str(refused.value)
