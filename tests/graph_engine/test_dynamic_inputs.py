"""ComfyUI's V3 dynamic inputs (autogrow, dynamic combo, match type) declared in INPUT_TYPES: validation of the
sockets they bring, the dicts the node receives, and editor files (widgets_values order) both ways."""
from __future__ import annotations

import pytest

from graph_engine import Engine, Folders, NodeRegistry, api_to_ui, ui_to_api, validate_prompt

AUTOGROW, DYNAMIC_COMBO, MATCH_TYPE = "COMFY_AUTOGROW_V3", "COMFY_DYNAMICCOMBO_V3", "COMFY_MATCHTYPE_V3"
RECEIVED: list[dict] = []  # what each test node's function received, in call order


class Number:
    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    def run(self, value):
        return (value,)


class Text:
    CATEGORY = "tests"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("STRING", {"default": ""})}}

    def run(self, value):
        return (value,)


class Show:
    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {})}}

    def run(self, value):
        return {"ui": {"value": [value]}}


class Named:
    """An autogrow input named from a list: prompt keys values.a, values.b, values.c; the first required."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        template = {"input": {"required": {"value": ("INT", {"forceInput": True})}}, "names": ["a", "b", "c"],
                    "min": 1}
        return {"required": {"values": (AUTOGROW, {"template": template}), "scale": ("INT", {"default": 1})}}

    def run(self, values, scale):
        RECEIVED.append({"values": values, "scale": scale})
        return (scale * sum(values.values()),)


class Prefixed:
    """An autogrow input grown from a prefix (n0, n1, n2), none required."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        template = {"input": {"required": {"n": ("INT", {"forceInput": True})}}, "prefix": "n", "min": 0, "max": 3}
        return {"required": {"numbers": (AUTOGROW, {"template": template})}}

    def run(self, numbers):
        RECEIVED.append({"numbers": numbers})
        return (len(numbers),)


UNIT = (DYNAMIC_COMBO, {"options": [
    {"key": "px", "inputs": {"required": {"count": ("INT", {"default": 1, "min": 0, "max": 9})}}},
    {"key": "none", "inputs": {"required": {}}}]})


class Shaped:
    """A dynamic combo whose options bring their own widgets (one option a nested dynamic combo), then a widget."""

    CATEGORY = "tests"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        side = ("INT", {"default": 4, "min": 1, "max": 100})
        options = [
            {"key": "square", "inputs": {"required": {"size": side}}},
            {"key": "rect", "inputs": {"required": {"width": ("INT", {"default": 2, "min": 1, "max": 100}),
                                                    "height": ("INT", {"default": 3, "min": 1, "max": 100})}}},
            {"key": "nested", "inputs": {"required": {"unit": UNIT}}},
            {"key": "empty", "inputs": {"required": {}}},
        ]
        return {"required": {"shape": (DYNAMIC_COMBO, {"options": options}), "label": ("STRING", {"default": "x"})}}

    def run(self, shape, label):
        RECEIVED.append({"shape": shape, "label": label})
        if shape["shape"] == "square":
            return (shape["size"] ** 2,)
        if shape["shape"] == "rect":
            return (shape["width"] * shape["height"],)
        return (0,)


class Pick:
    """Two match-type inputs of one template (INT or STRING) and a match-type output; `first` is lazy."""

    CATEGORY = "tests"
    RETURN_TYPES = (MATCH_TYPE,)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        template = {"template_id": "t", "allowed_types": "INT,STRING"}
        return {"required": {"first": (MATCH_TYPE, {"template": template, "lazy": True}),
                             "second": (MATCH_TYPE, {"template": template})}}

    def check_lazy_status(self, first=None, second=None):
        return ["first"] if second == "want first" else []

    def run(self, first=None, second=None):
        return (first if second == "want first" else second,)


NODES = {cls.__name__: cls for cls in (Number, Text, Show, Named, Prefixed, Shaped, Pick)}


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    assert not registry.register_mappings(NODES, source="tests").refused
    return registry


@pytest.fixture
def engine(registry, tmp_path) -> Engine:
    RECEIVED.clear()
    return Engine(registry, Folders.under(tmp_path))


def shown(engine: Engine, class_type: str, inputs: dict, **more: dict):
    """Run `class_type` with `inputs` (plus the nodes in `more`) into a Show; the shown value."""
    prompt = {**more, "node": {"class_type": class_type, "inputs": inputs},
              "show": {"class_type": "Show", "inputs": {"value": ["node", 0]}}}
    result = engine.run(prompt)
    assert result.ok, result.error
    return result.outputs["show"]["value"][0]


def errors(registry: NodeRegistry, class_type: str, inputs: dict, **more: dict) -> list[tuple[str, str]]:
    prompt = {**more, "node": {"class_type": class_type, "inputs": inputs},
              "show": {"class_type": "Show", "inputs": {"value": ["node", 0]}}}
    report = validate_prompt(prompt, registry)
    return [(e.type, e.input_name) for ne in report.node_errors.values() for e in ne.errors]


# --- autogrow --------------------------------------------------------------------------------------------------

def test_autogrow_gathers_the_given_sockets_in_template_order(engine):
    five = {"five": {"class_type": "Number", "inputs": {"value": 5}}}
    assert shown(engine, "Named", {"values.c": 7, "scale": 2, "values.a": ["five", 0]}, **five) == 24
    assert RECEIVED == [{"values": {"a": 5, "c": 7}, "scale": 2}]
    assert list(RECEIVED[0]["values"]) == ["a", "c"]


def test_autogrow_prefixed_sockets_and_an_empty_dict_when_none_is_given(engine):
    assert shown(engine, "Prefixed", {"numbers.n2": 1, "numbers.n0": 4}) == 2
    assert shown(engine, "Prefixed", {}) == 0
    assert RECEIVED == [{"numbers": {"n0": 4, "n2": 1}}, {"numbers": {}}]


def test_autogrow_required_socket_missing_is_named(registry):
    assert errors(registry, "Named", {"values.b": 1, "scale": 1}) == [("required_input_missing", "values.a")]


def test_autogrow_socket_is_type_checked_by_its_prompt_key(registry):
    text = {"text": {"class_type": "Text", "inputs": {"value": "no"}}}
    assert errors(registry, "Named", {"values.a": 1, "values.b": ["text", 0], "scale": 1}, **text) == [
        ("return_type_mismatch", "values.b")]
    assert errors(registry, "Named", {"values.a": "seven", "scale": 1}) == [("invalid_input_type", "values.a")]


def test_names_beyond_the_template_are_not_sockets(engine):
    assert shown(engine, "Prefixed", {"numbers.n0": 1, "numbers.n3": 5, "numbers": 9}) == 1
    assert RECEIVED == [{"numbers": {"n0": 1}}]


# --- dynamic combo ---------------------------------------------------------------------------------------------

def test_dynamic_combo_passes_the_chosen_key_and_its_options_inputs(engine):
    inputs = {"shape": "rect", "shape.width": 5, "shape.height": 6, "shape.size": 50, "label": "r"}
    assert shown(engine, "Shaped", inputs) == 30
    assert RECEIVED == [{"shape": {"shape": "rect", "width": 5, "height": 6}, "label": "r"}]


def test_dynamic_combo_nested_and_empty_options(engine):
    shown(engine, "Shaped", {"shape": "nested", "shape.unit": "px", "shape.unit.count": 3, "label": "n"})
    shown(engine, "Shaped", {"shape": "empty", "label": "e"})
    assert RECEIVED == [{"shape": {"shape": "nested", "unit": {"unit": "px", "count": 3}}, "label": "n"},
                        {"shape": {"shape": "empty"}, "label": "e"}]


def test_dynamic_combo_options_inputs_are_checked(registry):
    assert errors(registry, "Shaped", {"shape": "rect", "shape.width": 500, "label": ""}) == [
        ("value_bigger_than_max", "shape.width"), ("required_input_missing", "shape.height")]
    assert errors(registry, "Shaped", {"shape": "nested", "shape.unit": "km", "label": ""}) == [
        ("value_not_in_list", "shape.unit")]


def test_dynamic_combo_value_must_be_an_option_and_cannot_be_linked(registry):
    assert errors(registry, "Shaped", {"shape": "circle", "label": ""}) == [("value_not_in_list", "shape")]
    text = {"text": {"class_type": "Text", "inputs": {"value": "rect"}}}
    assert errors(registry, "Shaped", {"shape": ["text", 0], "label": ""}, **text) == [
        ("invalid_input_type", "shape")]


# --- match type ------------------------------------------------------------------------------------------------

def test_match_type_takes_allowed_types_and_the_output_goes_anywhere(engine):
    sources = {"text": {"class_type": "Text", "inputs": {"value": "want first"}},
               "number": {"class_type": "Number", "inputs": {"value": 3}},
               "other": {"class_type": "Text", "inputs": {"value": "chosen"}}}
    assert shown(engine, "Pick", {"first": ["other", 0], "second": ["text", 0]}, **sources) == "chosen"
    prompt = {**sources, "pick": {"class_type": "Pick", "inputs": {"first": ["number", 0], "second": ["number", 0]}},
              "named": {"class_type": "Named", "inputs": {"values.a": ["pick", 0], "scale": 1}},
              "show": {"class_type": "Show", "inputs": {"value": ["named", 0]}}}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["show"]["value"] == [3]


def test_match_type_refuses_types_outside_its_template_and_mixed_types(registry):
    sources = {"text": {"class_type": "Text", "inputs": {"value": "a"}},
               "number": {"class_type": "Number", "inputs": {"value": 3}},
               "shaped": {"class_type": "Shaped", "inputs": {"shape": "empty", "label": ""}}}
    assert errors(registry, "Pick", {"first": ["text", 0], "second": ["number", 0]}, **sources) == [
        ("return_type_mismatch", "second")]
    assert errors(registry, "Pick", {"first": ["text", 0], "second": ["text", 0]}, **sources) == []
    assert errors(registry, "Pick", {"first": 1, "second": ["text", 0]}, **sources) == [
        ("invalid_input_type", "first")]


# --- editor files ----------------------------------------------------------------------------------------------

def editor(nodes: list[dict], links: list[list]) -> dict:
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "version": 0.4}


def test_editor_widgets_values_list_the_combo_then_its_options_widgets_then_the_rest(registry):
    nodes = [{"id": 1, "type": "Shaped", "mode": 0, "inputs": [], "widgets_values": ["rect", 5, 6, "hello"]},
             {"id": 2, "type": "Shaped", "mode": 0, "inputs": [], "widgets_values": ["nested", "px", 7, "n"]},
             {"id": 3, "type": "Shaped", "mode": 0, "inputs": [], "widgets_values": ["square"]}]
    prompt = ui_to_api(editor(nodes, []), registry)
    assert prompt["1"]["inputs"] == {"shape": "rect", "shape.width": 5, "shape.height": 6, "label": "hello"}
    assert prompt["2"]["inputs"] == {"shape": "nested", "shape.unit": "px", "shape.unit.count": 7, "label": "n"}
    assert prompt["3"]["inputs"] == {"shape": "square", "shape.size": 4, "label": "x"}


def test_editor_autogrow_sockets_link_by_their_prompt_keys(registry):
    nodes = [{"id": 1, "type": "Number", "mode": 0, "inputs": [], "widgets_values": [4],
              "outputs": [{"name": "INT", "type": "INT", "links": [1]}]},
             {"id": 2, "type": "Named", "mode": 0, "widgets_values": [3],
              "inputs": [{"name": "values.a", "type": "INT", "link": 1}, {"name": "values.b", "type": "INT",
                                                                            "link": None}]}]
    prompt = ui_to_api(editor(nodes, [[1, 1, 0, 2, 0, "INT"]]), registry)
    assert prompt["2"]["inputs"] == {"scale": 3, "values.a": ["1", 0]}


def test_api_prompt_to_editor_file_and_back_keeps_dynamic_inputs(registry):
    prompt = {"1": {"class_type": "Number", "inputs": {"value": 4}},
              "2": {"class_type": "Named", "inputs": {"values.a": ["1", 0], "values.c": ["1", 0], "scale": 3}},
              "3": {"class_type": "Shaped", "inputs": {"shape": "rect", "shape.width": 8, "shape.height": 9,
                                                       "label": "l"}}}
    workflow = api_to_ui(prompt, registry)
    by_id = {node["id"]: node for node in workflow["nodes"]}
    assert by_id[3]["widgets_values"] == ["rect", 8, 9, "l"]
    assert [socket["name"] for socket in by_id[2]["inputs"]] == ["values.a", "values.c"]
    back = ui_to_api(workflow, registry)
    assert {nid: node["inputs"] for nid, node in back.items()} == {nid: node["inputs"] for nid, node in prompt.items()}


@pytest.mark.parametrize("declaration,problem", [
    ((AUTOGROW, {"template": {"input": {"required": {}}, "names": ["a"], "min": 1}}), "autogrow input 'x' needs"),
    ((AUTOGROW, {"template": {"input": {"required": {"v": ("INT", {})}}, "prefix": "v", "max": "9"}}),
     "autogrow input 'x' needs"),
    ((DYNAMIC_COMBO, {"options": ["a", "b"]}), "dynamic combo 'x' needs 'options'"),
])
def test_malformed_dynamic_declarations_are_refused_when_the_class_is_read(declaration, problem):
    from graph_engine.specs import NodeInterfaceError, spec_from_class

    class Broken:
        RETURN_TYPES = ()
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"x": declaration}}

        def run(self, x):
            return ()

    with pytest.raises(NodeInterfaceError, match=problem):
        spec_from_class("Broken", Broken)
