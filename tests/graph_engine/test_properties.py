"""Property tests: whatever JSON arrives, validation answers with a report and runs end in a result.

No exception other than the documented ones may escape `Engine.validate` / `Engine.run`, reports must always
serialise to JSON (the server sends them as they are), and a failed run names a node of the workflow.
"""
from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import nodes.utility as builtin_nodes  # the model-free nodes: the property is about the engine
from graph_engine import (Engine, Folders, NodeRegistry, RunResult, ValidationReport, WorkflowInvalid,
                          discover_plugins, load_plugins)
from graph_engine.specs import types_compatible

REPO = Path(__file__).resolve().parents[2]
UTILITY = json.loads((REPO / "workflows" / "utility_example.json").read_text())
EXAMPLE = json.loads((REPO / "workflows" / "example_plugin.json").read_text())
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _registry() -> NodeRegistry:
    """Utility built-ins and the shipped example plugin (its list-input and list-output nodes widen the search).

    Nodes that allocate tensors are left out: random sizes up to their maxima would fill the memory.
    """
    registry = NodeRegistry()
    registry.register_mappings(builtin_nodes.NODE_CLASS_MAPPINGS, builtin_nodes.NODE_DISPLAY_NAME_MAPPINGS,
                               source="built-in")
    plugins = REPO / "custom_nodes"
    before = set(sys.modules)
    sources = [s for s in discover_plugins([plugins]) if s.path is not None]
    reports = load_plugins(registry, sources)
    for name in set(sys.modules) - before:  # the classes stay registered; the module names stay free
        file = getattr(sys.modules[name], "__file__", None)
        if file and Path(file).resolve().is_relative_to(plugins):
            del sys.modules[name]
    assert all(r.ok for r in reports), [r.error for r in reports]
    return registry


REGISTRY = _registry()


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return Engine(REGISTRY, Folders.under(tmp_path_factory.mktemp("properties")))


def note_event(text: str) -> None:
    """Count outcomes in hypothesis' statistics (pytest --hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(text)


CLASS_TYPES = sorted(builtin_nodes.NODE_CLASS_MAPPINGS) + ["ExampleRepeatText", "ExampleSplitWords",
                                                            "ExampleJoinWords"]
INPUT_NAMES = ["value", "a", "b", "operation", "source", "string", "string_a", "string_b", "delimiter", "find",
               "replace", "text", "times", "separator", "words"]
NODE_IDS = ["1", "2", "3", "4", "5", "6", "7", "8"]
INT_LIMIT = 2**63 - 1

# --- strategies -------------------------------------------------------------------------------------------------------
# No subnormal floats: an engine run earlier in the same test process switches the thread that computes to flush them
# to zero (nodes/runtime/devices/denormals.py), hypothesis then refuses to draw them, and they say nothing a
# workflow's other numbers do not.
MODERATE_FLOATS = st.floats(-1e6, 1e6, allow_subnormal=False)

scalars = (st.none() | st.booleans()
           | st.integers()
           | st.sampled_from([0, 1, -1, INT_LIMIT, INT_LIMIT + 1, -INT_LIMIT - 2, 10**30, 10**400, -(10**400)])
           | st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False)
           | st.text(max_size=20)
           | st.sampled_from(["add", "divide", "power", "modulo", "4.0", "1e999", "nan", "true", "", "1"] + NODE_IDS))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
node_ids = st.sampled_from(NODE_IDS) | st.text(max_size=4)
links = st.lists(st.sampled_from(NODE_IDS) | st.integers(-1, 9) | json_values, min_size=0, max_size=3) | st.tuples(
    st.sampled_from(NODE_IDS), st.integers(-2, 3)).map(list)
input_values = json_values | links
class_types = st.sampled_from(CLASS_TYPES) | json_values
node_bodies = st.fixed_dictionaries(
    {"class_type": class_types,
     "inputs": st.dictionaries(st.sampled_from(INPUT_NAMES) | st.text(max_size=6), input_values, max_size=4)},
    optional={"_meta": json_values},
) | json_values
structured_prompts = st.dictionaries(node_ids, node_bodies, max_size=6)


MOSTLY_NOT = st.sampled_from([False] * 15 + [True])  # hypothesis favours small draws; this one stays rare


def plausible_value(spec):
    """A value an input of this spec could well receive: mostly right, sometimes out of range or wrong."""
    if spec.type == "COMBO":  # a combo may list nothing (Custom Combo: its choices are written on the canvas)
        right = st.sampled_from(spec.choices) if spec.choices else st.text(max_size=12)
    elif spec.type == "INT":
        right = st.integers(-3, 3) | st.integers(-10**6, 10**6) | st.sampled_from([INT_LIMIT, -INT_LIMIT, 64, 65])
    elif spec.type == "FLOAT":
        right = (MODERATE_FLOATS
                 | st.sampled_from([0.0, 1e300, -1e300, 1e-300, 3, 10**400, -(10**400)]))
    elif spec.type == "STRING":
        right = st.text(max_size=12)
    elif spec.type == "BOOLEAN":
        right = st.booleans()
    else:  # "*": any value
        right = scalars
    return MOSTLY_NOT.flatmap(lambda wrong: json_values if wrong else right)


@st.composite
def plausible_prompts(draw) -> dict:
    """Well-formed graphs of known nodes, wired mostly forwards, ending in PreviewAny nodes."""
    prompt: dict = {}
    count = draw(st.integers(1, 6))
    for index in range(1, count + 1):
        class_type = draw(st.sampled_from(CLASS_TYPES))
        spec = REGISTRY.get(class_type)
        inputs = {}
        for name, input_spec in spec.inputs.items():
            if input_spec.hidden or draw(MOSTLY_NOT):
                continue  # now and then a missing input
            earlier = [str(i) for i in range(1, index)]
            fitting = [i for i in earlier if REGISTRY.get(prompt[i]["class_type"]).outputs
                       and types_compatible(REGISTRY.get(prompt[i]["class_type"]).outputs[0], input_spec)]
            if earlier and (not input_spec.accepts_constant or draw(st.booleans())):
                # mostly a link that fits, sometimes any link
                pool = earlier if not fitting or draw(MOSTLY_NOT) else fitting
                inputs[name] = [draw(st.sampled_from(pool)), 1 if draw(MOSTLY_NOT) else 0]
            else:
                inputs[name] = draw(plausible_value(input_spec))
        prompt[str(index)] = {"class_type": class_type, "inputs": inputs}
    producers = [i for i in prompt if REGISTRY.get(prompt[i]["class_type"]).outputs] or list(prompt)
    for index in range(count + 1, count + 1 + draw(st.integers(1, 2))):
        prompt[str(index)] = {"class_type": "PreviewAny", "inputs": {"source": [draw(st.sampled_from(producers)), 0]}}
    return prompt


# --- the property -------------------------------------------------------------------------------------------------------


def check(engine: Engine, prompt) -> ValidationReport:
    """Validate (and, when valid, run) `prompt`; assert everything the property promises."""
    before = repr(prompt)
    report = engine.validate(prompt)
    assert isinstance(report, ValidationReport)
    json.dumps(report.to_json())
    lines = report.lines()
    assert all(isinstance(line, str) for line in lines)
    if not report.ok:
        assert lines, "an invalid workflow must say why"
        note_event("invalid")
        with pytest.raises(WorkflowInvalid):
            engine.run(prompt)
    else:
        assert report.outputs, "a valid workflow has output nodes"
        result = engine.run(prompt)
        assert isinstance(result, RunResult)
        assert result.status in ("success", "error")
        note_event(f"run: {result.status}")
        json.dumps(result.outputs)
        json.dumps(result.messages)
        if result.status == "error":
            node_ids = {str(k) for k in prompt}
            assert result.error.node_id in node_ids
            assert result.error.node_type == prompt_class(prompt, result.error.node_id)
            json.dumps(result.error.to_json())
        else:
            assert set(result.outputs) <= set(report.outputs)
    assert repr(prompt) == before, "validating and running must not change the workflow"
    return report


def prompt_class(prompt: dict, node_id: str):
    for key, body in prompt.items():
        if str(key) == node_id:
            return body["class_type"]
    raise AssertionError(f"no node {node_id}")


@settings(max_examples=300, **SETTINGS)
@given(json_values)
def test_any_json_value_gives_a_report(engine, value):
    check(engine, value)


@settings(max_examples=400, **SETTINGS)
@given(structured_prompts)
def test_any_node_shaped_json_gives_a_report_or_a_result(engine, prompt):
    check(engine, prompt)


@settings(max_examples=400, **SETTINGS)
@given(plausible_prompts())
def test_plausible_workflows_give_a_report_or_a_result(engine, prompt):
    check(engine, prompt)


# --- mutated real workflows -----------------------------------------------------------------------------------------------


@st.composite
def mutation(draw, prompt: dict) -> None:
    """Apply one random mutation to `prompt` in place."""
    ids = list(prompt) or ["1"]
    node_id = draw(st.sampled_from(ids))
    node = prompt.get(node_id)
    inputs = node.get("inputs") if isinstance(node, dict) else None
    if not isinstance(inputs, dict):
        inputs = None
    known = sorted(inputs) if inputs else []
    input_name = draw(st.sampled_from(known) if known else st.sampled_from(INPUT_NAMES))
    kind = draw(st.sampled_from(["value", "rewire", "class_type", "delete_node", "delete_input", "self_link",
                                 "cycle", "add_input", "replace_node", "valid_value", "failing_math"]))
    if kind == "delete_node" and prompt:
        del prompt[node_id]
    elif kind == "replace_node":
        prompt[node_id] = draw(node_bodies)
    elif kind == "failing_math":
        # a valid graph whose arithmetic fails at run time: division by zero, a negative or huge exponent
        maths = [i for i, n in prompt.items() if isinstance(n, dict) and n.get("class_type") in ("MathInt", "MathFloat")
                 and isinstance(n.get("inputs"), dict)]
        if maths:
            target = prompt[draw(st.sampled_from(maths))]["inputs"]
            target["operation"], target["b"] = draw(st.sampled_from(
                [("divide", 0), ("modulo", 0), ("power", -1), ("power", 65), ("power", 10**4)]))
    elif kind == "class_type" and isinstance(node, dict):
        node["class_type"] = draw(class_types)
    elif inputs is None:
        return
    elif kind == "value":
        inputs[input_name] = draw(json_values)
    elif kind == "valid_value":
        inputs[input_name] = draw(st.integers(-50, 50) | st.text(max_size=5) | MODERATE_FLOATS
                                  | st.sampled_from(["add", "subtract", "multiply", "divide", "modulo", "power",
                                                     "min", "max", True]))
    elif kind == "rewire":
        inputs[input_name] = [draw(st.sampled_from(ids + ["99"]) | st.integers(0, 9) | json_values),
                              draw(st.integers(-1, 3) | json_values)]
    elif kind == "delete_input" and known:
        del inputs[input_name]
    elif kind == "self_link":
        inputs[input_name] = [node_id, draw(st.integers(0, 1))]
    elif kind == "cycle":
        # link this node to one that (maybe indirectly) depends on it
        inputs[input_name] = [draw(st.sampled_from(ids)), 0]
    elif kind == "add_input":
        inputs[draw(st.text(max_size=6))] = draw(input_values)


@st.composite
def mutated_workflows(draw) -> dict:
    prompt = copy.deepcopy(draw(st.sampled_from([UTILITY, EXAMPLE])))
    for _ in range(draw(st.integers(1, 5))):
        draw(mutation(prompt))
    return prompt


@settings(max_examples=500, **SETTINGS)
@given(mutated_workflows())
def test_mutated_workflows_give_a_report_or_a_result(engine, prompt):
    check(engine, prompt)


def test_the_unmutated_workflows_run(engine):
    """The base of the mutations is sound, so the mutations are what the property test exercises."""
    for prompt in (UTILITY, EXAMPLE):
        report = check(engine, copy.deepcopy(prompt))
        assert report.ok
        assert engine.run(copy.deepcopy(prompt)).status == "success"


def test_nan_and_infinity_are_refused_with_a_json_safe_report(engine):
    prompt = copy.deepcopy(UTILITY)
    prompt["1"]["class_type"] = "PrimitiveFloat"
    prompt["1"]["inputs"]["value"] = math.nan
    prompt["2"]["inputs"]["value"] = math.inf
    report = check(engine, prompt)
    assert not report.ok
    assert set(report.node_errors) >= {"1", "2"}


def test_a_node_failing_at_run_time_is_named(engine):
    prompt = copy.deepcopy(UTILITY)
    prompt["2"]["inputs"]["value"] = 0
    prompt["3"]["inputs"]["operation"] = "divide"
    report = check(engine, prompt)
    assert report.ok
    result = engine.run(prompt)
    assert result.status == "error"
    assert result.error.node_id == "3" and result.error.node_type == "MathInt"
    assert result.error.exception_type == "ZeroDivisionError"
