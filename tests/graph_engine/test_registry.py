"""The node registry: specs read from classic ComfyUI node classes, interface errors, duplicates, /object_info."""
from __future__ import annotations

import json

import pytest

from graph_engine import DuplicateNodeError, NodeInterfaceError, NodeRegistry, validate_prompt


class FullNode:
    """A node that uses most of the classic interface."""

    CATEGORY = "tests/full"
    DESCRIPTION = "Does everything."
    RETURN_TYPES = ("IMAGE", "INT", ["a", "b"])
    RETURN_NAMES = ("images", "count", "choice")
    OUTPUT_IS_LIST = (True, False, False)
    OUTPUT_TOOLTIPS = ("the images", "how many", "a pick")
    FUNCTION = "go"
    OUTPUT_NODE = True
    INPUT_IS_LIST = True

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "seed": ("INT", {"default": 1, "min": 0, "max": 100, "step": 1, "control_after_generate": True}),
                "sampler": (["euler", "ddim"], {"default": "ddim", "tooltip": "which sampler"}),
                "model": ("MODEL",),
            },
            "optional": {
                "strength": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "lazy": True}),
                "note": ("STRING", {"multiline": True}),
                "scheduler": ("COMBO", {"options": ["normal", "karras"]}),
            },
            "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    @classmethod
    def IS_CHANGED(cls, seed, sampler):
        return seed

    @classmethod
    def VALIDATE_INPUTS(cls, seed, sampler):
        return True

    def go(self, **kwargs):
        return ([], 0, "a")


class Minimal:
    RETURN_TYPES = ("STRING",)
    FUNCTION = "go"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {})}}

    def go(self, text):
        return (text,)


def _broken(**attributes):
    """A copy of Minimal with some attributes replaced (None deletes)."""
    namespace = {k: v for k, v in vars(Minimal).items() if not k.startswith("__")}
    for key, value in attributes.items():
        if value is None:
            namespace.pop(key, None)
        else:
            namespace[key] = value
    return type("Broken", (), namespace)


# ---------------------------------------------------------------------------------------------------------
# Specs read from classes
# ---------------------------------------------------------------------------------------------------------


def test_spec_reads_inputs_of_every_section_with_their_options():
    registry = NodeRegistry()
    spec = registry.register("Full", FullNode, source="tests")

    seed = spec.inputs["seed"]
    assert (seed.type, seed.section, seed.required, seed.hidden) == ("INT", "required", True, False)
    assert seed.options["min"] == 0 and seed.options["max"] == 100 and seed.options["default"] == 1
    assert seed.choices is None and not seed.lazy

    sampler = spec.inputs["sampler"]
    assert sampler.choices == ("euler", "ddim")
    assert sampler.options["default"] == "ddim"
    assert sampler.required

    model = spec.inputs["model"]
    assert model.type == "MODEL" and model.options == {} and not model.accepts_constant

    strength = spec.inputs["strength"]
    assert strength.section == "optional" and not strength.required
    assert strength.lazy is True
    assert strength.options["step"] == 0.05

    assert spec.inputs["note"].options["multiline"] is True
    assert spec.inputs["scheduler"].choices == ("normal", "karras")  # the newer ("COMBO", {"options": [...]}) form

    hidden = {s.name: s.type for s in spec.hidden_inputs}
    assert hidden == {"prompt": "PROMPT", "unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"}
    assert all(s.hidden and not s.required for s in spec.hidden_inputs)
    assert spec.wants_unique_id

    assert {k: list(v) for k, v in spec.input_order.items()} == {
        "required": ["seed", "sampler", "model"],
        "optional": ["strength", "note", "scheduler"],
        "hidden": ["prompt", "unique_id", "extra_pnginfo"],
    }


def test_spec_reads_outputs_flags_and_hooks():
    spec = NodeRegistry().register("Full", FullNode, display_name="Full Node", source="tests")
    assert [o.type for o in spec.outputs] == ["IMAGE", "INT", "COMBO"]
    assert [o.name for o in spec.outputs] == ["images", "count", "choice"]
    assert [o.is_list for o in spec.outputs] == [True, False, False]
    assert spec.outputs[2].choices == ("a", "b")
    assert [o.tooltip for o in spec.outputs] == ["the images", "how many", "a pick"]
    assert spec.output_node is True
    assert spec.input_is_list is True
    assert spec.has_is_changed is True
    assert spec.validate_params == frozenset({"seed", "sampler"})
    assert spec.function == "go"
    assert spec.category == "tests/full"
    assert spec.description == "Does everything."
    assert spec.display_name == "Full Node"
    assert spec.source == "tests"


def test_spec_defaults_of_a_minimal_class():
    spec = NodeRegistry().register("Minimal", Minimal)
    assert spec.output_node is False
    assert spec.input_is_list is False
    assert spec.not_idempotent is False
    assert spec.has_is_changed is False
    assert spec.validate_params is None
    assert spec.display_name == "Minimal"
    assert spec.category == "sd"  # ComfyUI's default category
    assert [(o.type, o.name, o.is_list) for o in spec.outputs] == [("STRING", "STRING", False)]
    assert spec.hidden_inputs == ()


def test_validate_inputs_with_kwargs_is_recorded():
    class TakesAll(Minimal):
        @classmethod
        def VALIDATE_INPUTS(cls, text, **kwargs):
            return True

    spec = NodeRegistry().register("TakesAll", TakesAll)
    assert spec.validate_params == frozenset({"text"})
    assert spec.validate_takes_all is True


def test_builtin_nodes_register_with_their_display_names(builtin_registry):
    import nodes

    assert set(nodes.NODE_CLASS_MAPPINGS) <= {s.class_type for s in builtin_registry}
    assert len(builtin_registry) == len(nodes.NODE_CLASS_MAPPINGS)
    for class_type, display in nodes.NODE_DISPLAY_NAME_MAPPINGS.items():
        spec = builtin_registry.get(class_type)
        assert spec.display_name == display
        assert spec.source == "built-in"
    assert builtin_registry.get("PreviewAny").output_node
    assert "MathInt" in builtin_registry and "NoSuchNode" not in builtin_registry
    assert builtin_registry.get("NoSuchNode") is None
    assert builtin_registry.get(["not", "a", "name"]) is None


# ---------------------------------------------------------------------------------------------------------
# Interface errors
# ---------------------------------------------------------------------------------------------------------


def _raises_input_types():
    @classmethod
    def INPUT_TYPES(cls):
        raise RuntimeError("folder missing")

    return INPUT_TYPES


@pytest.mark.parametrize("name, cls, fragment", [
    ("no INPUT_TYPES", _broken(INPUT_TYPES=None), "INPUT_TYPES"),
    ("INPUT_TYPES raising", _broken(INPUT_TYPES=_raises_input_types()), "folder missing"),
    ("RETURN_NAMES too short", _broken(RETURN_NAMES=("a", "b")), "RETURN_NAMES"),
    ("OUTPUT_IS_LIST too long", _broken(OUTPUT_IS_LIST=(True, False)), "OUTPUT_IS_LIST"),
    ("FUNCTION names no method", _broken(FUNCTION="nowhere"), "nowhere"),
    ("no FUNCTION", _broken(FUNCTION=None), "FUNCTION"),
    ("no RETURN_TYPES", _broken(RETURN_TYPES=None), "RETURN_TYPES"),
    ("not a class", Minimal(), "class"),
    ("a function", lambda: None, "class"),
])
def test_broken_classes_raise_interface_errors(name, cls, fragment):
    registry = NodeRegistry()
    with pytest.raises(NodeInterfaceError) as info:
        registry.register("Broken", cls, source="plugin_x")
    assert fragment in str(info.value)
    assert "Broken" in str(info.value)  # names the node
    assert "Broken" not in registry


def test_bad_input_declarations_are_interface_errors():
    def with_inputs(declared):
        @classmethod
        def INPUT_TYPES(cls):
            return declared
        return _broken(INPUT_TYPES=INPUT_TYPES)

    for declared in ({"required": {"x": "INT"}},               # not a tuple
                     {"required": {"x": (42,)}},               # type neither a name nor a list
                     {"required": {"x": ("INT", "options")}},  # options not a dict
                     {"mandatory": {"x": ("INT",)}},           # unknown section
                     ["required"]):                            # not a dict
        with pytest.raises(NodeInterfaceError):
            NodeRegistry().register("Bad", with_inputs(declared))


def test_register_mappings_refuses_broken_classes_alone():
    registry = NodeRegistry()
    report = registry.register_mappings(
        {"Good": Minimal, "NoFunction": _broken(FUNCTION="nowhere"), "NotAClass": 42, "AlsoGood": FullNode},
        {"Good": "Good Node"}, source="plugin_a")
    assert report.registered == ["Good", "AlsoGood"]
    refused = dict(report.refused)
    assert set(refused) == {"NoFunction", "NotAClass"}
    assert "nowhere" in refused["NoFunction"]
    assert "Good" in registry and "AlsoGood" in registry
    assert "NoFunction" not in registry and "NotAClass" not in registry
    assert registry.get("Good").display_name == "Good Node"


def test_register_mappings_needs_a_dict():
    with pytest.raises(NodeInterfaceError):
        NodeRegistry().register_mappings([Minimal], source="plugin_a")


def test_duplicate_class_type_is_refused_naming_both_sources_and_the_first_stays():
    class Other(Minimal):
        CATEGORY = "other"

    registry = NodeRegistry()
    registry.register_mappings({"Thing": Minimal}, source="plugin_first")
    report = registry.register_mappings({"Thing": Other, "Extra": Other}, source="plugin_second")

    assert report.registered == ["Extra"]
    [(class_type, reason)] = report.refused
    assert class_type == "Thing"
    assert "plugin_first" in reason and "plugin_second" in reason and "Thing" in reason
    spec = registry.get("Thing")
    assert spec.cls is Minimal and spec.source == "plugin_first"

    with pytest.raises(DuplicateNodeError) as info:
        registry.register("Thing", Other, source="plugin_third")
    assert "plugin_first" in str(info.value) and "plugin_third" in str(info.value)
    assert registry.get("Thing").cls is Minimal


def test_builtins_win_over_a_plugin_with_the_same_name(builtin_registry):
    report = builtin_registry.register_mappings({"MathInt": Minimal}, source="custom_nodes/evil")
    assert report.registered == []
    assert "built-in" in report.refused[0][1]
    assert builtin_registry.get("MathInt").source == "built-in"


# ---------------------------------------------------------------------------------------------------------
# /object_info
# ---------------------------------------------------------------------------------------------------------

OBJECT_INFO_KEYS = {"input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
                    "description", "category", "output_node"}


def test_object_info_has_comfyui_shape_and_values():
    registry = NodeRegistry()
    registry.register("Full", FullNode, display_name="Full Node", source="tests")
    registry.register("Minimal", Minimal, source="tests")
    info = json.loads(json.dumps(registry.object_info()))  # JSON-serialisable, compared as a client sees it

    full = info["Full"]
    assert OBJECT_INFO_KEYS <= set(full)
    assert full["input"] == {
        "required": {
            "seed": ["INT", {"default": 1, "min": 0, "max": 100, "step": 1, "control_after_generate": True}],
            "sampler": [["euler", "ddim"], {"default": "ddim", "tooltip": "which sampler"}],
            "model": ["MODEL"],
        },
        "optional": {
            "strength": ["FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05, "lazy": True}],
            "note": ["STRING", {"multiline": True}],
            "scheduler": ["COMBO", {"options": ["normal", "karras"]}],
        },
        "hidden": {"prompt": "PROMPT", "unique_id": "UNIQUE_ID", "extra_pnginfo": "EXTRA_PNGINFO"},
    }
    assert full["input_order"] == {"required": ["seed", "sampler", "model"],
                                   "optional": ["strength", "note", "scheduler"],
                                   "hidden": ["prompt", "unique_id", "extra_pnginfo"]}
    assert full["output"] == ["IMAGE", "INT", ["a", "b"]]
    assert full["output_is_list"] == [True, False, False]
    assert full["output_name"] == ["images", "count", "choice"]
    assert full["output_tooltips"] == ["the images", "how many", "a pick"]
    assert full["name"] == "Full"
    assert full["display_name"] == "Full Node"
    assert full["description"] == "Does everything."
    assert full["category"] == "tests/full"
    assert full["output_node"] is True

    minimal = info["Minimal"]
    assert OBJECT_INFO_KEYS <= set(minimal)
    assert minimal["input"] == {"required": {"text": ["STRING", {}]}}
    assert minimal["input_order"] == {"required": ["text"]}
    assert minimal["output"] == ["STRING"]
    assert minimal["output_is_list"] == [False]
    assert minimal["output_name"] == ["STRING"]  # RETURN_TYPES when there are no RETURN_NAMES
    assert minimal["display_name"] == "Minimal"
    assert minimal["description"] == ""
    assert minimal["category"] == "sd"
    assert minimal["output_node"] is False
    assert "output_tooltips" not in minimal


def test_object_info_of_builtins_is_json_and_complete(builtin_registry):
    info = builtin_registry.object_info()
    text = json.dumps(info)  # raises if anything is not JSON
    assert json.loads(text) == json.loads(json.dumps(info))
    assert set(info) == {s.class_type for s in builtin_registry}
    for name, node in info.items():
        assert OBJECT_INFO_KEYS <= set(node), name
        assert node["name"] == name
        assert len(node["output"]) == len(node["output_is_list"]) == len(node["output_name"])
        assert set(node["input_order"]) == set(node["input"])
        for section, names in node["input_order"].items():
            assert names == list(node["input"][section])
    assert info["PreviewAny"]["output_node"] is True
    assert info["MathInt"]["output_node"] is False
    assert info["MathInt"]["input"]["required"]["operation"][0] == list(
        builtin_registry.get("MathInt").inputs["operation"].choices)


def test_object_info_is_a_copy():
    registry = NodeRegistry()
    registry.register("Full", FullNode)
    info = registry.object_info()
    info["Full"]["input"]["required"]["seed"][1]["max"] = -1
    assert registry.object_info()["Full"]["input"]["required"]["seed"][1]["max"] == 100
    assert registry.get("Full").inputs["seed"].options["max"] == 100


# ---------------------------------------------------------------------------------------------------------
# refresh
# ---------------------------------------------------------------------------------------------------------


class Files:
    """A loader whose combo lists files, like CheckpointLoaderSimple."""

    available = ["a.safetensors"]
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": (list(cls.available),)}}

    def load(self, name):
        return (name,)


@pytest.fixture
def files_registry():
    Files.available = ["a.safetensors"]
    registry = NodeRegistry()
    registry.register("Files", Files)
    yield registry
    Files.available = ["a.safetensors"]


def test_refresh_picks_up_changed_combo_choices(files_registry):
    assert files_registry.get("Files").inputs["name"].choices == ("a.safetensors",)
    Files.available = ["a.safetensors", "b.safetensors"]
    fresh = files_registry.refresh("Files")
    assert fresh.inputs["name"].choices == ("a.safetensors", "b.safetensors")
    assert files_registry.get("Files").inputs["name"].choices == ("a.safetensors", "b.safetensors")
    # everything else is kept
    assert fresh.cls is Files and fresh.output_node and fresh.function == "load"
    assert files_registry.refresh("Unknown") is None


def test_object_info_reports_current_combo_choices(files_registry):
    Files.available = ["c.ckpt"]
    info = files_registry.object_info()
    assert info["Files"]["input"]["required"]["name"][0] == ["c.ckpt"]


def test_refresh_keeps_previous_inputs_when_input_types_starts_failing(files_registry):
    Files.available = None  # list(None) raises inside INPUT_TYPES
    spec = files_registry.refresh("Files")
    assert spec.inputs["name"].choices == ("a.safetensors",)


def test_validation_accepts_a_file_added_after_registration(files_registry):
    Files.available = ["a.safetensors", "new.safetensors"]
    report = validate_prompt({"1": {"class_type": "Files", "inputs": {"name": "new.safetensors"}}}, files_registry)
    assert report.ok, report.to_json()
    report = validate_prompt({"1": {"class_type": "Files", "inputs": {"name": "gone.safetensors"}}}, files_registry)
    assert [e.type for e in report.node_errors["1"].errors] == ["value_not_in_list"]


def test_every_node_of_a_class_sees_files_added_since_start_up(files_registry):
    from graph_engine import validate_prompt

    Files.available = ["a.safetensors", "b.safetensors", "c.safetensors"]  # dropped in after registration
    report = validate_prompt({"1": {"class_type": "Files", "inputs": {"name": "b.safetensors"}},
                              "2": {"class_type": "Files", "inputs": {"name": "c.safetensors"}}}, files_registry)
    assert report.ok, report.lines()
