"""Validation: every problem of a workflow in one pass, in ComfyUI's /prompt error shape."""
from __future__ import annotations

import json
import math

import pytest

from graph_engine import NodeRegistry, WorkflowInvalid, validate_prompt


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


def takes(**inputs):
    """A TTakes output node with valid required inputs, overridden by `inputs`."""
    return node("TTakes", **{"count": 1, "scale": 1.0, "mode": "fast", **inputs})


def errors_of(report, node_id):
    return [(e.type, e.input_name) for e in report.node_errors[node_id].errors]


def only_error(report, node_id):
    [error] = report.node_errors[node_id].errors
    return error


# ---------------------------------------------------------------------------------------------------------
# A valid workflow
# ---------------------------------------------------------------------------------------------------------


def test_valid_workflow_gives_nodes_order_and_outputs(registry):
    prompt = {
        "1": node("PrimitiveInt", value=2),
        "2": node("MathInt", a=["1", 0], b=3, operation="multiply"),
        "3": node("PreviewAny", source=["2", 0]),
    }
    report = validate_prompt(prompt, registry)
    assert report.ok
    assert report.error is None and report.node_errors == {}
    assert report.outputs == ["3"]
    assert report.order.index("1") < report.order.index("2") < report.order.index("3")
    assert set(report.order) == {"1", "2", "3"}
    assert report.nodes["2"].constants == {"b": 3, "operation": "multiply"}
    assert (report.nodes["2"].links["a"].source, report.nodes["2"].links["a"].index) == ("1", 0)
    assert report.to_json() == {"error": None, "node_errors": {}}


def test_meta_is_accepted_and_ignored(registry):
    prompt = {"1": {**node("PrimitiveInt", value=1), "_meta": {"title": "Seed"}},
              "2": {**node("PreviewAny", source=["1", 0]), "_meta": {"title": "Show"}}}
    assert validate_prompt(prompt, registry).ok


def test_integer_node_ids_and_link_ids_are_read_as_strings(registry):
    prompt = {1: node("PrimitiveInt", value=1), 2: node("PreviewAny", source=[1, 0])}
    report = validate_prompt(prompt, registry)
    assert report.ok, report.to_json()
    assert report.outputs == ["2"]
    assert report.nodes["2"].links["source"].source == "1"


# ---------------------------------------------------------------------------------------------------------
# Each error type, named by node, class_type and input
# ---------------------------------------------------------------------------------------------------------


def test_unknown_class_type_says_it_may_come_from_a_missing_plugin(registry):
    report = validate_prompt({"7": node("FancyUpscaler", image=["1", 0]), "8": node("PreviewAny", source="x")},
                             registry)
    assert not report.ok
    assert report.error.type == "invalid_prompt"
    errors = report.node_errors["7"]
    assert errors.class_type == "FancyUpscaler"
    [error] = errors.errors
    assert error.type == "invalid_prompt"
    text = error.message + " " + error.details
    assert "FancyUpscaler" in text and "7" in text
    assert "plugin" in text or "custom_nodes" in text
    assert "FancyUpscaler" in report.error.message + report.error.details


def test_missing_class_type(registry):
    report = validate_prompt({"4": {"inputs": {}}, "5": node("PreviewAny", source="x")}, registry)
    assert report.error.type == "invalid_prompt"
    error = only_error(report, "4")
    assert error.type == "invalid_prompt"
    assert "class_type" in error.message
    assert "4" in error.details


def test_node_that_is_not_an_object(registry):
    report = validate_prompt({"1": "PrimitiveInt", "2": node("PreviewAny", source="x")}, registry)
    assert report.error.type == "invalid_prompt"
    assert only_error(report, "1").type == "invalid_prompt"


@pytest.mark.parametrize("prompt", [[], "text", None, 42, [["1", 0]]])
def test_a_prompt_that_is_not_a_dict_is_refused(registry, prompt):
    report = validate_prompt(prompt, registry)
    assert not report.ok
    assert report.error.type == "invalid_prompt"
    json.dumps(report.to_json())


def test_missing_required_input(registry):
    report = validate_prompt({"1": node("MathInt", a=1, operation="add"), "2": node("PreviewAny", source=["1", 0])},
                             registry)
    assert report.node_errors["1"].class_type == "MathInt"
    assert errors_of(report, "1") == [("required_input_missing", "b")]
    assert report.error.type == "prompt_outputs_failed_validation"


def test_missing_optional_input_is_fine(registry):
    report = validate_prompt({"1": takes()}, registry)
    assert report.ok, report.to_json()


def test_link_to_a_missing_node(registry):
    report = validate_prompt({"2": node("PreviewAny", source=["99", 0])}, registry)
    error = only_error(report, "2")
    assert (error.type, error.input_name) == ("bad_linked_input", "source")
    assert "99" in error.message + error.details
    assert report.node_errors["2"].class_type == "PreviewAny"


@pytest.mark.parametrize("index", [1, -1, 5])
def test_link_to_an_output_index_out_of_range(registry, index):
    report = validate_prompt({"1": node("PrimitiveInt", value=1), "2": node("PreviewAny", source=["1", index])},
                             registry)
    error = only_error(report, "2")
    assert (error.type, error.input_name) == ("bad_linked_input", "source")
    assert str(index) in error.message + error.details


@pytest.mark.parametrize("link", [["1"], ["1", 0, 0], ["1", "0"], ["1", 0.0], ["1", True], [None, 0], []])
def test_malformed_links(registry, link):
    report = validate_prompt({"1": node("PrimitiveInt", value=1), "2": node("PreviewAny", source=link)}, registry)
    assert errors_of(report, "2") == [("bad_linked_input", "source")]


def test_return_type_mismatch(registry):
    prompt = {"1": node("PrimitiveString", value="x"), "2": node("MathInt", a=["1", 0], b=1, operation="add"),
              "3": node("PreviewAny", source=["2", 0])}
    report = validate_prompt(prompt, registry)
    error = only_error(report, "2")
    assert (error.type, error.input_name) == ("return_type_mismatch", "a")
    assert "STRING" in error.details and "INT" in error.details
    assert error.to_json()["extra_info"]["input_name"] == "a"


def test_any_type_matches_anything_both_ways(registry):
    prompt = {
        "s": node("TSocket"),
        # `*` output into INT, MODEL, combo-free widget inputs; `*` input taking any output
        "1": node("TAdd", a=["s", 2], b=1),
        "2": takes(model=["s", 2], text=["s", 2], anything=["s", 0]),
        "3": node("TSink", value=["1", 0]),
    }
    report = validate_prompt(prompt, registry)
    assert report.ok, report.to_json()


def test_comma_union_types_match_on_a_shared_name(registry):
    ok = validate_prompt({"s": node("TSocket"), "1": takes(real=["s", 1], image_or_mask=["s", 3])}, registry)
    assert ok.ok, ok.to_json()
    bad = validate_prompt({"s": node("TSocket"), "1": takes(text=["s", 1], image_or_mask=["s", 0])}, registry)
    assert sorted(errors_of(bad, "1")) == [("return_type_mismatch", "image_or_mask"), ("return_type_mismatch", "text")]


def test_comma_union_types_ignore_spaces_as_comfyui_does(registry):
    # ComfyUI's validate_node_input strips each name of "INT, FLOAT" before comparing
    report = validate_prompt({"s": node("TSocket"), "1": takes(real=["s", 4])}, registry)
    assert report.ok, report.to_json()


def test_constant_given_to_a_socket_type(registry):
    report = validate_prompt({"1": takes(model="v1-5.safetensors")}, registry)
    error = only_error(report, "1")
    assert (error.type, error.input_name) == ("invalid_input_type", "model")
    assert "MODEL" in error.message


@pytest.mark.parametrize("inputs, bad_input", [
    ({"count": "many"}, "count"),
    ({"count": [1]}, "count"),  # a one-item list is not a link either
    ({"count": {"v": 1}}, "count"),
    ({"scale": "big"}, "scale"),
    ({"scale": None}, "scale"),
    ({"text": {"a": 1}}, "text"),
    ({"text": None}, "text"),
    ({"flag": "maybe"}, "flag"),
    ({"flag": 2}, "flag"),
])
def test_value_of_wrong_type(registry, inputs, bad_input):
    report = validate_prompt({"1": takes(**inputs)}, registry)
    types = {name: t for t, name in errors_of(report, "1")}
    assert bad_input in types
    assert types[bad_input] in ("invalid_input_type", "bad_linked_input")
    if not isinstance(inputs[bad_input], list):
        assert types[bad_input] == "invalid_input_type"


def test_below_min_and_above_max(registry):
    report = validate_prompt({"1": takes(count=-1, scale=2.5)}, registry)
    assert sorted(errors_of(report, "1")) == [("value_bigger_than_max", "scale"), ("value_smaller_than_min", "count")]
    by_input = {e.input_name: e for e in report.node_errors["1"].errors}
    assert "-1" in by_input["count"].message and "0" in by_input["count"].message
    assert "2.5" in by_input["scale"].message and "2.0" in by_input["scale"].message
    assert validate_prompt({"1": takes(count=0, scale=2.0)}, registry).ok  # bounds are inclusive
    assert validate_prompt({"1": takes(count=10, scale=0.0)}, registry).ok


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf"])
def test_nan_and_infinity_refused_for_float(registry, value):
    report = validate_prompt({"1": takes(real=value)}, registry)
    assert errors_of(report, "1") == [("invalid_input_type", "real")]


def test_combo_value_not_in_list(registry):
    report = validate_prompt({"1": takes(mode="medium")}, registry)
    error = only_error(report, "1")
    assert (error.type, error.input_name) == ("value_not_in_list", "mode")
    assert "medium" in error.details
    assert "fast" in error.details and "slow" in error.details


def test_a_combo_value_not_in_list_suggests_the_closest_choices(registry):
    error = only_error(validate_prompt({"1": takes(mode="FSAT")}, registry), "1")
    assert error.type == "value_not_in_list"
    assert error.message.startswith("Value not in list") and "Did you mean 'fast'?" in error.message
    assert error.details == "mode: 'FSAT' not in ['fast', 'slow']"  # ComfyUI's details, which clients show
    assert error.to_json()["extra_info"] == {"received_value": "FSAT", "input_name": "mode"}


def test_nothing_is_suggested_when_no_choice_is_close(registry):
    error = only_error(validate_prompt({"1": takes(mode="medium")}, registry), "1")
    assert "Did you mean" not in error.message


def files_node(hint):
    """An output node whose combo lists 'files', with the given CHOICES_HINT (or none)."""
    class Files:
        RETURN_TYPES = ()
        FUNCTION = "go"
        OUTPUT_NODE = True

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"name": (["sd15/dreamshaper_8.safetensors", "other.safetensors"],)}}

        def go(self, name):
            return ()

    if hint is not None:
        Files.CHOICES_HINT = classmethod(hint)
    registry = NodeRegistry()
    registry.register("Files", Files)
    return registry


def test_the_same_file_name_in_a_subfolder_is_suggested_first():
    report = validate_prompt({"1": node("Files", name="dreamshaper_8.safetensors")}, files_node(None))
    assert "Did you mean 'sd15/dreamshaper_8.safetensors'?" in only_error(report, "1").message


def test_a_node_choices_hint_says_where_its_choices_come_from():
    asked = []

    def hint(cls, input_name):
        asked.append(input_name)
        return "Such files are read from the files folder."

    registry = files_node(hint)
    error = only_error(validate_prompt({"1": node("Files", name="missing.safetensors")}, registry), "1")
    assert asked == ["name"]
    assert (error.type, error.input_name) == ("value_not_in_list", "name")
    assert error.message.endswith("Such files are read from the files folder.")
    shown = json.dumps(registry.get("Files").object_info())  # /object_info keeps ComfyUI's shape
    assert "files folder" not in shown and "hint" not in shown.lower()


def test_a_failing_choices_hint_leaves_the_plain_message(caplog):
    def hint(cls, input_name):
        raise RuntimeError("the hint is broken")

    error = only_error(validate_prompt({"1": node("Files", name="missing")}, files_node(hint)), "1")
    assert error.type == "value_not_in_list" and error.message == "Value not in list: 'missing'."
    assert "CHOICES_HINT of Files failed" in caplog.text


def test_long_combo_lists_are_summarised():
    class Many:
        RETURN_TYPES = ()
        FUNCTION = "go"
        OUTPUT_NODE = True

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"name": ([f"model_{i}.safetensors" for i in range(500)],)}}

        def go(self, name):
            return ()

    registry = NodeRegistry()
    registry.register("Many", Many)
    error = only_error(validate_prompt({"1": node("Many", name="nope")}, registry), "1")
    assert error.type == "value_not_in_list"
    assert "model_499.safetensors" not in error.details
    assert len(error.details) < 200


# ---------------------------------------------------------------------------------------------------------
# String / number conversions
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("42", 42), (42, 42), (7.0, 7), ("-3", -3)])
def test_int_inputs_accept_whole_numbers_and_numeric_text(registry, value, expected):
    report = validate_prompt({"1": node("TInt", value=value), "2": node("TSink", value=["1", 0])}, registry)
    assert report.ok, report.to_json()
    converted = report.nodes["1"].constants["value"]
    assert converted == expected and type(converted) is int


@pytest.mark.parametrize("value", [4.5, True, False, "4.5", "forty", math.nan])
def test_int_inputs_refuse_fractions_booleans_and_words(registry, value):
    report = validate_prompt({"1": node("TInt", value=value), "2": node("TSink", value=["1", 0])}, registry)
    assert errors_of(report, "1") == [("invalid_input_type", "value")]


def test_float_and_string_conversions(registry):
    report = validate_prompt({"1": takes(scale="1.5", text=12, flag="true", real=3)}, registry)
    assert report.ok, report.to_json()
    constants = report.nodes["1"].constants
    assert constants["scale"] == 1.5 and type(constants["scale"]) is float
    assert constants["text"] == "12"
    assert constants["flag"] is True
    assert constants["real"] == 3.0 and type(constants["real"]) is float


def test_converted_values_reach_the_node(engine, tn):
    result = engine.run({"1": node("TInt", value="42"), "2": node("TSink", value=["1", 0])})
    assert result.ok
    [received] = tn.kwargs_of("TInt")
    assert received["value"] == 42 and type(received["value"]) is int


# ---------------------------------------------------------------------------------------------------------
# VALIDATE_INPUTS
# ---------------------------------------------------------------------------------------------------------


class Checked:
    """VALIDATE_INPUTS sees `level` (so its built-in range check is skipped) and the linked `source`."""

    seen: list = []
    verdict = True
    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "go"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"level": ("INT", {"default": 1, "min": 0, "max": 5}),
                             "source": ("INT", {}),
                             "mode": (["a", "b"],)}}

    @classmethod
    def VALIDATE_INPUTS(cls, level, source):
        cls.seen.append({"level": level, "source": source})
        if isinstance(cls.verdict, Exception):
            raise cls.verdict
        return cls.verdict

    def go(self, level, source, mode):
        return {"ui": {"level": [level]}, "result": ()}


class CheckedKwargs(Checked):
    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs):
        cls.seen.append(dict(kwargs))
        return True


class CheckedTypes(Checked):
    @classmethod
    def VALIDATE_INPUTS(cls, input_types):
        cls.seen.append({"input_types": input_types})
        return True


@pytest.fixture
def checked_registry(registry):
    Checked.seen = []
    Checked.verdict = True
    for cls in (CheckedKwargs, CheckedTypes):
        cls.seen = []
    registry.register_mappings({"Checked": Checked, "CheckedKwargs": CheckedKwargs, "CheckedTypes": CheckedTypes},
                               source="tests")
    yield registry
    Checked.verdict = True


def checked_prompt(class_type="Checked", **inputs):
    return {"1": node("TInt", value=3), "2": node(class_type, **{"level": 2, "source": ["1", 0], "mode": "a", **inputs})}


def test_validate_inputs_receives_constants_and_none_for_linked_inputs(checked_registry):
    report = validate_prompt(checked_prompt(level="4"), checked_registry)
    assert report.ok, report.to_json()
    assert Checked.seen == [{"level": 4, "source": None}]


def test_validate_inputs_returning_a_string_is_custom_validation_failed(checked_registry):
    Checked.verdict = "level must be even"
    report = validate_prompt(checked_prompt(), checked_registry)
    error = only_error(report, "2")
    assert error.type == "custom_validation_failed"
    assert "level must be even" in error.details
    assert report.node_errors["2"].class_type == "Checked"


def test_validate_inputs_returning_false_fails_too(checked_registry):
    Checked.verdict = False
    report = validate_prompt(checked_prompt(), checked_registry)
    assert only_error(report, "2").type == "custom_validation_failed"


def test_validate_inputs_raising_is_exception_during_validation(checked_registry):
    Checked.verdict = KeyError("no such file")
    report = validate_prompt(checked_prompt(), checked_registry)
    error = only_error(report, "2")
    assert error.type == "exception_during_validation"
    assert "no such file" in error.details
    assert error.to_json()["extra_info"]["exception_type"].endswith("KeyError")


def test_inputs_named_by_validate_inputs_skip_builtin_checks(checked_registry):
    # ComfyUI: an input VALIDATE_INPUTS declares is the node's own business (range and combo checks skipped)
    report = validate_prompt(checked_prompt(level=99), checked_registry)
    assert report.ok, report.to_json()
    assert Checked.seen == [{"level": 99, "source": None}]
    # inputs it does not declare are still checked
    report = validate_prompt(checked_prompt(mode="c"), checked_registry)
    assert errors_of(report, "2") == [("value_not_in_list", "mode")]


def test_validate_inputs_with_kwargs_skips_every_builtin_check(checked_registry):
    # ComfyUI: `if x not in validate_function_inputs and not validate_has_kwargs:` guards range and combo checks
    report = validate_prompt(checked_prompt("CheckedKwargs", level=99, mode="c"), checked_registry)
    assert report.ok, report.to_json()
    assert CheckedKwargs.seen == [{"level": 99, "source": None, "mode": "c"}]


def test_validate_inputs_taking_input_types_decides_link_types_itself(checked_registry):
    # ComfyUI skips return_type_mismatch for a node whose VALIDATE_INPUTS takes `input_types`, and passes
    # the received types to it
    prompt = {"1": node("PrimitiveString", value="x"), "2": node("CheckedTypes", level=2, source=["1", 0], mode="a")}
    report = validate_prompt(prompt, checked_registry)
    assert report.ok, report.to_json()
    assert CheckedTypes.seen == [{"input_types": {"source": "STRING"}}]


def test_validate_inputs_not_called_when_other_errors(checked_registry):
    report = validate_prompt(checked_prompt(mode="zzz"), checked_registry)
    assert errors_of(report, "2") == [("value_not_in_list", "mode")]
    assert Checked.seen == []


# ---------------------------------------------------------------------------------------------------------
# Cycles, outputs, partial reports
# ---------------------------------------------------------------------------------------------------------


def test_cycle_lists_the_nodes_of_the_cycle(registry):
    prompt = {
        "1": node("TInt", value=1),
        "2": node("TAdd", a=["1", 0], b=["4", 0]),
        "3": node("TAdd", a=["2", 0], b=1),
        "4": node("TAdd", a=["3", 0], b=1),
        "5": node("TSink", value=["4", 0]),
    }
    report = validate_prompt(prompt, registry)
    assert not report.ok
    cyclic = {nid for nid, ne in report.node_errors.items() if any(e.type == "dependency_cycle" for e in ne.errors)}
    assert cyclic == {"2", "3", "4"}
    for nid in cyclic:
        [error] = report.node_errors[nid].errors
        listed = error.message + " " + error.details
        assert all(member in listed for member in ("2", "3", "4"))
        assert report.node_errors[nid].class_type == "TAdd"
        assert "5" in report.node_errors[nid].dependent_outputs
    assert report.error.type == "prompt_outputs_failed_validation"
    json.dumps(report.to_json())


def test_a_node_linking_to_itself_is_a_cycle(registry):
    report = validate_prompt({"1": node("TAdd", a=["1", 0], b=1), "2": node("TSink", value=["1", 0])}, registry)
    assert [e.type for e in report.node_errors["1"].errors] == ["dependency_cycle"]


def test_no_output_node(registry):
    report = validate_prompt({"1": node("PrimitiveInt", value=1), "2": node("MathInt", a=["1", 0], b=1,
                                                                             operation="add")}, registry)
    assert not report.ok
    assert report.error.type == "prompt_no_outputs"
    assert report.node_errors == {}
    assert report.to_json()["error"]["type"] == "prompt_no_outputs"


def test_empty_prompt_has_no_outputs(registry):
    report = validate_prompt({}, registry)
    assert report.error.type == "prompt_no_outputs"


def test_nodes_not_feeding_an_output_are_not_input_validated(registry):
    prompt = {"1": node("PrimitiveInt", value=1), "2": node("PreviewAny", source=["1", 0]),
              "9": node("MathInt", a="not a number", operation="nope")}  # dangling and broken
    report = validate_prompt(prompt, registry)
    assert report.ok, report.to_json()
    assert "9" not in report.order and "9" not in report.nodes


def test_several_errors_are_all_reported_at_once(registry, checked_registry):
    Checked.verdict = "nope"
    prompt = {
        "1": node("MathInt", a=1, operation="add"),                  # required_input_missing b
        "2": node("PreviewAny", source=["1", 0]),
        "3": node("PreviewAny", source=["77", 0]),                   # bad_linked_input (missing node)
        "4": takes(count=11, scale=-1.0, mode="medium", model=1),    # max, min, not in list, socket constant
        "5": node("TInt", value=1.5),                                # invalid_input_type
        "6": node("TSink", value=["5", 0]),
        "7": node("PrimitiveString", value="s"),
        "8": node("TAdd", a=["7", 0], b=["5", 3]),                   # return_type_mismatch, index out of range
        "9": node("TSink", value=["8", 0]),
        "10": checked_prompt()["2"],                                 # custom_validation_failed
        "11": node("TInt", value=3),
    }
    prompt["10"]["inputs"]["source"] = ["11", 0]
    report = validate_prompt(prompt, checked_registry)
    assert not report.ok
    assert report.error.type == "prompt_outputs_failed_validation"
    assert errors_of(report, "1") == [("required_input_missing", "b")]
    assert errors_of(report, "3") == [("bad_linked_input", "source")]
    assert sorted(errors_of(report, "4")) == [("invalid_input_type", "model"), ("value_bigger_than_max", "count"),
                                              ("value_not_in_list", "mode"), ("value_smaller_than_min", "scale")]
    assert errors_of(report, "5") == [("invalid_input_type", "value")]
    assert sorted(errors_of(report, "8")) == [("bad_linked_input", "b"), ("return_type_mismatch", "a")]
    assert errors_of(report, "10") == [("custom_validation_failed", None)]
    assert set(report.node_errors) == {"1", "3", "4", "5", "8", "10"}
    assert {nid: ne.class_type for nid, ne in report.node_errors.items()} == {
        "1": "MathInt", "3": "PreviewAny", "4": "TTakes", "5": "TInt", "8": "TAdd", "10": "Checked"}
    # every error is in the readable lines too, naming node and input
    lines = "\n".join(report.lines())
    for nid, ne in report.node_errors.items():
        assert f"node {nid} ({ne.class_type})" in lines


def test_to_json_matches_comfyui_prompt_error_body(registry):
    prompt = {"1": node("MathInt", a=1, b=99999999999999999999, operation="add"),
              "2": node("PreviewAny", source=["1", 0])}
    body = validate_prompt(prompt, registry).to_json()
    json.dumps(body)
    assert set(body) == {"error", "node_errors"}
    assert set(body["error"]) == {"type", "message", "details", "extra_info"}
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], str)
    assert isinstance(body["error"]["extra_info"], dict)
    assert set(body["node_errors"]) == {"1"}
    entry = body["node_errors"]["1"]
    assert set(entry) == {"errors", "dependent_outputs", "class_type"}
    assert entry["class_type"] == "MathInt"
    assert entry["dependent_outputs"] == ["2"]
    [error] = entry["errors"]
    assert set(error) == {"type", "message", "details", "extra_info"}
    assert error["type"] == "value_bigger_than_max"
    assert error["extra_info"]["input_name"] == "b"


def test_partial_report_still_lists_good_outputs(engine, registry, tn):
    prompt = {
        "1": node("TInt", value=1), "2": node("TSink", value=["1", 0], tag=1),          # good
        "3": node("TInt", value="bad"), "4": node("TSink", value=["3", 0], tag=2),      # blocked
    }
    report = validate_prompt(prompt, registry)
    assert not report.ok
    assert report.error is None  # as ComfyUI: some outputs can run, so no top-level error
    assert report.outputs == ["2"]
    assert report.node_errors["3"].dependent_outputs == ["4"]
    assert set(report.order) == {"1", "2"}
    with pytest.raises(WorkflowInvalid) as info:
        engine.run(prompt)
    assert info.value.report.outputs == ["2"]
    result = engine.execute(report, prompt)  # the server runs the good outputs, as ComfyUI does
    assert result.ok and set(result.outputs) == {"2"}
    assert tn.ran() == ["1", "2"]


def test_partial_report_with_a_cycle_elsewhere_still_runs_good_outputs(engine, registry, tn):
    prompt = {
        "1": node("TAdd", a=["2", 0], b=1), "2": node("TAdd", a=["1", 0], b=1), "3": node("TSink", value=["1", 0]),
        "5": node("TInt", value=5), "6": node("TSink", value=["5", 0], tag=6),
    }
    report = validate_prompt(prompt, registry)
    assert report.outputs == ["6"]
    assert set(report.order) == {"5", "6"}
    result = engine.execute(report, prompt)
    assert result.ok
    assert result.outputs == {"6": {"value": [5]}}


def test_output_depending_on_an_unknown_node_is_not_a_good_output(registry):
    prompt = {"1": node("NotInstalled"), "2": node("TSink", value=["1", 0], tag=2),
              "3": node("TInt", value=1), "4": node("TSink", value=["3", 0], tag=4)}
    report = validate_prompt(prompt, registry)
    assert report.error.type == "invalid_prompt"
    assert report.node_errors["1"].dependent_outputs == ["2"]
    assert "2" not in report.outputs
    assert "2" not in report.order


@pytest.mark.parametrize("broken, words", [
    (node("NotInstalled", value=1), ["NotInstalled", "does not exist", "#9"]),
    ({"inputs": {"value": 1}}, ["missing the class_type", "#9"]),
    ({"class_type": 7, "inputs": {}}, ["class_type", "#9"]),
    ("TInt", ["must be an object", "#9"]),
    ({"class_type": "TInt", "inputs": [1]}, ["'inputs' must be an object", "#9"]),
])
def test_a_broken_node_that_feeds_no_output_refuses_the_whole_prompt(registry, broken, words):
    """As in ComfyUI: an unknown, typeless or malformed node anywhere means the prompt is not what its author
    thinks, so nothing runs, even the outputs that do not depend on it."""
    prompt = {"3": node("TInt", value=1), "4": node("TSink", value=["3", 0], tag=4), "9": broken}
    report = validate_prompt(prompt, registry)
    assert not report.ok
    assert report.outputs == [] and report.order == []
    body = report.to_json()
    assert body["error"]["type"] == "invalid_prompt"
    text = body["error"]["message"] + " " + body["error"]["details"]
    assert all(word in text for word in words), text
    assert body["error"]["extra_info"]["node_id"] == "9"
    assert list(body["node_errors"]) == ["9"]  # the good nodes carry no error
    assert body["node_errors"]["9"]["dependent_outputs"] == []


def test_every_broken_node_is_named_and_the_other_nodes_are_still_checked(registry):
    prompt = {"1": node("NotInstalled"), "2": {"inputs": {}}, "3": takes(count=-5), "4": node("TInt", value=1)}
    report = validate_prompt(prompt, registry)
    assert report.error.type == "invalid_prompt" and "1 more" in report.error.details
    assert set(report.node_errors) == {"1", "2", "3"}
    assert errors_of(report, "3") == [("value_smaller_than_min", "count")]
    assert report.outputs == []


def test_an_input_error_still_lets_the_other_outputs_run(registry):
    """Only malformed or unknown nodes refuse the whole prompt; an invalid input blocks its own outputs."""
    prompt = {"1": takes(count="many"), "3": node("TInt", value=1), "4": node("TSink", value=["3", 0], tag=4)}
    report = validate_prompt(prompt, registry)
    assert report.error is None and report.outputs == ["4"]
    assert errors_of(report, "1") == [("invalid_input_type", "count")]


def test_engine_run_raises_workflow_invalid_with_readable_lines(engine):
    with pytest.raises(WorkflowInvalid) as info:
        engine.run({"1": node("MathInt", a=1, operation="add"), "2": node("PreviewAny", source=["1", 0])})
    assert "node 1 (MathInt) input 'b'" in str(info.value)
    assert info.value.report.error.type == "prompt_outputs_failed_validation"
