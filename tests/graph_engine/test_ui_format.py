"""Editor (UI-format) workflows converted to the API format: every rule of ComfyUI's export, and each error."""
from __future__ import annotations

import json

import pytest

from graph_engine import (Engine, Folders, NodeRegistry, UIConversionError, WorkflowFormatError, read_workflow_file,
                          to_api_format, ui_to_api)


class Loader:
    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (["a.ckpt", "b.ckpt"],)}}

    def run(self, ckpt_name):
        return (ckpt_name, ckpt_name)


class Patch:
    """Takes and gives MODEL and CLIP: the node tests bypass."""

    RETURN_TYPES = ("MODEL", "CLIP")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "clip": ("CLIP",), "strength": ("FLOAT", {"default": 1.0})}}

    def run(self, model, clip, strength):
        return (model, clip)


class Sampler:
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "run"
    DISPLAY_NAME = "The Sampler"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "seed": ("INT", {"default": 0}), "steps": ("INT", {"default": 20}),
                             "text": ("STRING", {"forceInput": True}), "sampler": (["euler", "heun"],)},
                "optional": {"clip": ("CLIP",), "denoise": ("FLOAT", {"default": 1.0})}}

    def run(self, **inputs):
        return (inputs,)


class Noise:
    """An INT widget that asks for a control widget without being called seed."""

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"amount": ("INT", {"default": 0, "control_after_generate": True}),
                             "flag": ("BOOLEAN", {"default": False})}}

    def run(self, amount, flag):
        return (amount,)


class Number:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    def run(self, value):
        return (value,)


class Add:
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"default": 0}), "b": ("INT", {"default": 0})}}

    def run(self, a, b):
        return (a + b,)


class Show:
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {})}}

    def run(self, value):
        return {"ui": {"value": [value]}, "result": ()}


NODES = {cls.__name__: cls for cls in (Loader, Patch, Sampler, Noise, Number, Add, Show)}


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    assert not registry.register_mappings(NODES, source="tests").refused
    return registry


def node(id_, type_, widgets=None, inputs=(), outputs=(), mode=0, **extra) -> dict:
    """An editor node; inputs are (name, type, link) or (name, type, link, widget name)."""
    sockets = [{"name": i[0], "type": i[1], "link": i[2], **({"widget": {"name": i[3]}} if len(i) > 3 else {})}
               for i in inputs]
    made = {"id": id_, "type": type_, "mode": mode, "inputs": sockets,
            "outputs": [{"name": t, "type": t, "links": []} for t in outputs], "properties": {}, **extra}
    if widgets is not None:
        made["widgets_values"] = widgets
    return made


def workflow(nodes, links=(), **extra) -> dict:
    return {"last_node_id": 99, "last_link_id": 99, "nodes": list(nodes), "links": [list(link) for link in links],
            "groups": [{"title": "a group", "bounding": [0, 0, 10, 10]}], "version": 0.4, **extra}


LOADER = node(1, "Loader", ["b.ckpt"], outputs=("MODEL", "CLIP"))


def sampler(id_=3, inputs=(), widgets=(5, "fixed", 4, "heun", 0.5)) -> dict:
    return node(id_, "Sampler", list(widgets), inputs=inputs, outputs=("LATENT",))


def test_widget_values_follow_input_types_order_skipping_the_seed_control(registry):
    linked = sampler(inputs=(("model", "MODEL", 1),))
    prompt = ui_to_api(workflow([LOADER, linked], [(1, 1, 0, 3, 0, "MODEL")]), registry)
    assert prompt == {
        "1": {"class_type": "Loader", "inputs": {"ckpt_name": "b.ckpt"}, "_meta": {"title": "Loader"}},
        "3": {"class_type": "Sampler", "_meta": {"title": "The Sampler"},
              "inputs": {"seed": 5, "steps": 4, "sampler": "heun", "denoise": 0.5, "model": ["1", 0]}}}


@pytest.mark.parametrize("control", [True, False, "randomize", "increment"])
def test_old_boolean_and_every_named_control_value_are_skipped(registry, control):
    prompt = ui_to_api(workflow([sampler(widgets=(5, control, 4, "heun", 0.5))]), registry)
    assert prompt["3"]["inputs"] == {"seed": 5, "steps": 4, "sampler": "heun", "denoise": 0.5}


def test_an_input_asking_for_control_after_generate_has_its_control_skipped(registry):
    prompt = ui_to_api(workflow([node(2, "Noise", [7, "decrement", True])]), registry)
    assert prompt["2"]["inputs"] == {"amount": 7, "flag": True}


def test_extra_trailing_values_are_ignored_and_missing_widgets_get_their_default(registry):
    extra = ui_to_api(workflow([node(1, "Loader", ["a.ckpt", "image"])]), registry)
    missing = ui_to_api(workflow([sampler(widgets=(5, "fixed"))]), registry)
    absent = ui_to_api(workflow([node(1, "Loader")]), registry)
    assert extra["1"]["inputs"] == {"ckpt_name": "a.ckpt"}
    assert missing["3"]["inputs"] == {"seed": 5, "steps": 20, "sampler": "euler", "denoise": 1.0}
    assert absent["1"]["inputs"] == {"ckpt_name": "a.ckpt"}


def test_widgets_values_keyed_by_name_are_read_by_name(registry):
    prompt = ui_to_api(workflow([node(3, "Sampler", {"steps": 9, "seed": 2, "unknown": 1})]), registry)
    assert prompt["3"]["inputs"] == {"seed": 2, "steps": 9, "sampler": "euler", "denoise": 1.0}


def test_a_widget_converted_to_a_linked_input_takes_the_link(registry):
    number = node(4, "Number", [11], outputs=("INT",))
    linked = sampler(inputs=(("model", "MODEL", 1), ("steps", "INT", 2, "steps")))
    prompt = ui_to_api(workflow([LOADER, number, linked], [(1, 1, 0, 3, 0, "MODEL"), (2, 4, 0, 3, 1, "INT")]), registry)
    assert prompt["3"]["inputs"]["steps"] == ["4", 0]


def test_a_primitive_node_value_goes_to_every_widget_it_feeds_and_vanishes(registry):
    primitive = node(9, "PrimitiveNode", [42, "fixed"], outputs=("INT",))
    first = sampler(3, inputs=(("seed", "INT", 1, "seed"),))
    second = sampler(4, inputs=(("steps", "INT", 2, "steps"),))
    prompt = ui_to_api(workflow([primitive, first, second], [(1, 9, 0, 3, 0, "INT"), (2, 9, 0, 4, 0, "INT")]),
                       registry)
    assert set(prompt) == {"3", "4"}
    assert prompt["3"]["inputs"]["seed"] == 42 and prompt["4"]["inputs"]["steps"] == 42
    assert prompt["4"]["inputs"]["seed"] == 5  # its own widget value stays


def test_reroute_chains_resolve_to_the_real_source(registry):
    reroutes = [node(20, "Reroute", inputs=(("", "*", 1),), outputs=("MODEL",)),
                node(21, "Reroute", inputs=(("", "*", 2),), outputs=("MODEL",))]
    links = [(1, 1, 0, 20, 0, "MODEL"), (2, 20, 0, 21, 0, "MODEL"), (3, 21, 0, 3, 0, "MODEL")]
    prompt = ui_to_api(workflow([LOADER, *reroutes, sampler(inputs=(("model", "MODEL", 3),))], links), registry)
    assert set(prompt) == {"1", "3"} and prompt["3"]["inputs"]["model"] == ["1", 0]


def test_a_reroute_fed_by_nothing_leaves_the_widget_value(registry):
    loose = node(20, "Reroute", inputs=(("", "*", None),), outputs=("INT",))
    prompt = ui_to_api(workflow([loose, sampler(inputs=(("steps", "INT", 3, "steps"),))], [(3, 20, 0, 3, 0, "INT")]),
                       registry)
    assert prompt["3"]["inputs"]["steps"] == 4


def test_muted_nodes_vanish_with_the_links_from_them_and_widgets_keep_their_value(registry):
    muted = {**LOADER, "mode": 2}
    linked = sampler(inputs=(("model", "MODEL", 1), ("steps", "INT", 2, "steps")))
    number = node(4, "Number", [11], outputs=("INT",), mode=2)
    prompt = ui_to_api(workflow([muted, number, linked], [(1, 1, 0, 3, 0, "MODEL"), (2, 4, 0, 3, 1, "INT")]), registry)
    assert set(prompt) == {"3"}
    assert "model" not in prompt["3"]["inputs"] and prompt["3"]["inputs"]["steps"] == 4


BYPASS_LINKS = [(1, 1, 0, 2, 0, "MODEL"), (2, 1, 1, 2, 1, "CLIP"), (3, 2, 0, 3, 0, "MODEL"), (4, 2, 1, 3, 1, "CLIP")]


def patch(id_=2, first=1, second=2, mode=4) -> dict:
    return node(id_, "Patch", [0.5], inputs=(("model", "MODEL", first), ("clip", "CLIP", second)),
                outputs=("MODEL", "CLIP"), mode=mode)


def test_a_bypassed_node_passes_each_input_to_the_output_of_its_type(registry):
    target = sampler(inputs=(("model", "MODEL", 3), ("clip", "CLIP", 4)))
    prompt = ui_to_api(workflow([LOADER, patch(), target], BYPASS_LINKS), registry)
    assert set(prompt) == {"1", "3"}
    assert prompt["3"]["inputs"]["model"] == ["1", 0] and prompt["3"]["inputs"]["clip"] == ["1", 1]


def test_a_bypassed_node_uses_the_first_input_of_the_type_when_the_same_slot_differs(registry):
    # a node whose only MODEL input sits at slot 1 while the MODEL output is slot 0
    swapped = node(2, "Patch", [0.5], inputs=(("clip", "CLIP", 2), ("model", "MODEL", 1)), outputs=("MODEL", "CLIP"),
                   mode=4)
    links = [(1, 1, 0, 2, 1, "MODEL"), (2, 1, 1, 2, 0, "CLIP"), (3, 2, 0, 3, 0, "MODEL")]
    prompt = ui_to_api(workflow([LOADER, swapped, sampler(inputs=(("model", "MODEL", 3),))], links), registry)
    assert prompt["3"]["inputs"]["model"] == ["1", 0]


def test_a_bypassed_node_without_an_input_of_the_type_passes_nothing(registry):
    number = node(2, "Number", [3], inputs=(), outputs=("INT",), mode=4)
    swapped = node(4, "Patch", [0.5], inputs=(("clip", "CLIP", 2),), outputs=("MODEL", "CLIP"), mode=4)
    target = sampler(inputs=(("model", "MODEL", 4), ("steps", "INT", 3, "steps")))
    links = [(2, 1, 1, 4, 0, "CLIP"), (3, 2, 0, 3, 1, "INT"), (4, 4, 0, 3, 0, "MODEL")]
    prompt = ui_to_api(workflow([LOADER, number, swapped, target], links), registry)
    assert set(prompt) == {"1", "3"}
    assert "model" not in prompt["3"]["inputs"] and prompt["3"]["inputs"]["steps"] == 4


def test_a_bypassed_node_feeding_an_any_type_input_passes_the_input_at_the_same_slot(registry):
    show = node(6, "Show", inputs=(("value", "*", 4),))
    prompt = ui_to_api(workflow([LOADER, patch(), show], [*BYPASS_LINKS[:2], (4, 2, 1, 6, 0, "CLIP")]), registry)
    assert prompt["6"]["inputs"] == {"value": ["1", 1]}


def test_bypassed_nodes_in_a_row_pass_through_to_the_real_source(registry):
    links = [*BYPASS_LINKS[:2], (3, 2, 0, 5, 0, "MODEL"), (4, 2, 1, 5, 1, "CLIP"), (5, 5, 0, 3, 0, "MODEL")]
    prompt = ui_to_api(workflow([LOADER, patch(), patch(5, 3, 4), sampler(inputs=(("model", "MODEL", 5),))], links),
                       registry)
    assert set(prompt) == {"1", "3"} and prompt["3"]["inputs"]["model"] == ["1", 0]


def test_notes_and_groups_never_appear(registry):
    notes = [node(30, "Note", ["remember"]), node(31, "MarkdownNote", ["# title"])]
    prompt = ui_to_api(workflow([LOADER, *notes]), registry)
    assert set(prompt) == {"1"}


def test_a_title_given_in_the_editor_is_kept(registry):
    prompt = ui_to_api(workflow([{**LOADER, "title": "Base model"}]), registry)
    assert prompt["1"]["_meta"] == {"title": "Base model"}


def subgraph(id_, nodes, links, inputs=(), outputs=(), name="inner") -> dict:
    return {"id": id_, "name": name, "nodes": nodes, "inputNode": {"id": -10}, "outputNode": {"id": -20},
            "inputs": [{"name": n, "type": t} for n, t in inputs],
            "outputs": [{"name": n, "type": t} for n, t in outputs],
            "links": [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link))
                      for link in links]}


ADD_ONE = subgraph("sub-add", [node(1, "Number", [1], outputs=("INT",)),
                               node(2, "Add", [0, 0], inputs=(("a", "INT", 1, "a"), ("b", "INT", 2, "b")),
                                    outputs=("INT",))],
                   [(1, -10, 0, 2, 0, "INT"), (2, 1, 0, 2, 1, "INT"), (3, 2, 0, -20, 0, "INT")],
                   inputs=[("x", "INT")], outputs=[("sum", "INT")], name="add one")


def test_subgraphs_are_flattened_with_instance_prefixed_ids(registry):
    outer = [node(4, "Number", [10], outputs=("INT",)),
             node(5, "sub-add", inputs=(("x", "INT", 1),), outputs=("INT",)),
             node(6, "Show", inputs=(("value", "*", 2),))]
    data = workflow(outer, [(1, 4, 0, 5, 0, "INT"), (2, 5, 0, 6, 0, "INT")], definitions={"subgraphs": [ADD_ONE]})
    prompt = ui_to_api(data, registry)
    assert set(prompt) == {"4", "5:1", "5:2", "6"}
    assert prompt["5:2"]["inputs"] == {"a": ["4", 0], "b": ["5:1", 0]}
    assert prompt["6"]["inputs"] == {"value": ["5:2", 0]}


def test_nested_subgraphs_join_every_instance_id(registry):
    wrapper = subgraph("sub-wrap", [node(3, "sub-add", inputs=(("x", "INT", 1),), outputs=("INT",))],
                       [(1, -10, 0, 3, 0, "INT"), (2, 3, 0, -20, 0, "INT")],
                       inputs=[("x", "INT")], outputs=[("out", "INT")])
    outer = [node(4, "Number", [10], outputs=("INT",)),
             node(7, "sub-wrap", inputs=(("x", "INT", 1),), outputs=("INT",)),
             node(6, "Show", inputs=(("value", "*", 2),))]
    data = workflow(outer, [(1, 4, 0, 7, 0, "INT"), (2, 7, 0, 6, 0, "INT")],
                    definitions={"subgraphs": [ADD_ONE, wrapper]})
    prompt = ui_to_api(data, registry)
    assert set(prompt) == {"4", "7:3:1", "7:3:2", "6"}
    assert prompt["7:3:2"]["inputs"]["a"] == ["4", 0] and prompt["6"]["inputs"] == {"value": ["7:3:2", 0]}


def test_a_converted_workflow_runs_through_the_engine(registry, tmp_path):
    """Number -> Reroute -> Add.a, PrimitiveNode -> Add.b, a bypassed Add in between, a muted Show aside."""
    nodes_ = [node(1, "Number", [30], outputs=("INT",)),
              node(2, "Reroute", inputs=(("", "*", 1),), outputs=("INT",)),
              node(3, "Add", [0, 5], inputs=(("a", "INT", 2, "a"), ("b", "INT", None, "b")), outputs=("INT",), mode=4),
              node(4, "PrimitiveNode", [12, "fixed"], outputs=("INT",)),
              node(5, "Add", [0, 0], inputs=(("a", "INT", 3, "a"), ("b", "INT", 4, "b")), outputs=("INT",)),
              node(6, "Show", inputs=(("value", "*", 5),)),
              node(7, "Show", inputs=(("value", "*", 6),), mode=2)]
    links = [(1, 1, 0, 2, 0, "INT"), (2, 2, 0, 3, 0, "INT"), (3, 3, 0, 5, 0, "INT"), (4, 4, 0, 5, 1, "INT"),
             (5, 5, 0, 6, 0, "INT"), (6, 1, 0, 7, 0, "INT")]
    prompt = ui_to_api(workflow(nodes_, links), registry)
    result = Engine(registry, Folders.under(tmp_path)).run(prompt)
    assert result.status == "success" and result.outputs == {"6": {"value": [42]}}


def test_unknown_node_types_are_all_named_with_a_plugin_hint(registry):
    data = workflow([LOADER, node(12, "FooNode", [1]), node(13, "BarNode"), node(14, "Gone", mode=2)])
    with pytest.raises(UIConversionError) as caught:
        ui_to_api(data, registry)
    message = str(caught.value)
    assert "node 12 (FooNode): unknown node type; it may come from a plugin that is not installed" in message
    assert "node 13 (BarNode)" in message and "custom_nodes/" in message and "Gone" not in message


def test_a_link_from_a_node_that_does_not_exist_is_named(registry):
    with pytest.raises(UIConversionError, match=r"link 7 into node 3 \(Sampler\) input 'model' comes from node 40"):
        ui_to_api(workflow([sampler(inputs=(("model", "MODEL", 7),))], [(7, 40, 0, 3, 0, "MODEL")]), registry)


def test_an_input_using_a_link_missing_from_the_links_is_named(registry):
    with pytest.raises(UIConversionError, match=r"node 3 \(Sampler\): input 'model' uses link 8"):
        ui_to_api(workflow([sampler(inputs=(("model", "MODEL", 8),))]), registry)


def test_a_subgraph_that_contains_itself_is_refused(registry):
    looping = subgraph("sub-loop", [node(1, "sub-loop")], [], name="loop")
    with pytest.raises(UIConversionError, match="subgraph 'loop' contains itself"):
        ui_to_api(workflow([node(5, "sub-loop")], definitions={"subgraphs": [looping]}), registry)


def test_a_reroute_loop_is_refused(registry):
    loop = [node(20, "Reroute", inputs=(("", "*", 2),), outputs=("MODEL",)),
            node(21, "Reroute", inputs=(("", "*", 1),), outputs=("MODEL",))]
    links = [(1, 20, 0, 21, 0, "MODEL"), (2, 21, 0, 20, 0, "MODEL"), (3, 21, 0, 3, 0, "MODEL")]
    with pytest.raises(UIConversionError, match="loop"):
        ui_to_api(workflow([*loop, sampler(inputs=(("model", "MODEL", 3),))], links), registry)


def test_workflow_files_in_ui_format_convert_when_a_registry_is_given(registry, tmp_path):
    path = tmp_path / "editor.json"
    path.write_text(json.dumps(workflow([LOADER])), encoding="utf-8")
    assert read_workflow_file(path, registry)["1"]["class_type"] == "Loader"
    assert to_api_format(workflow([LOADER]), registry) == ui_to_api(workflow([LOADER]), registry)
    with pytest.raises(WorkflowFormatError, match="editor.json: this is an editor"):
        read_workflow_file(path)


def test_conversion_errors_read_from_a_file_name_the_file(registry, tmp_path):
    path = tmp_path / "plugin.json"
    path.write_text(json.dumps(workflow([node(12, "FooNode")])), encoding="utf-8")
    with pytest.raises(UIConversionError, match=r"plugin.json: node 12 \(FooNode\)"):
        read_workflow_file(path, registry)
