"""ComfyUI's ExecutionBlocker: a node returning one in place of an output stops every node downstream of that output;
an output node that receives one shows nothing; a blocker with a message fails the run with it, while the rest of the
graph still runs."""
from __future__ import annotations

import pytest

from graph_engine import Engine, ExecutionBlocker, Folders, NodeRegistry, using_folders

CALLS: list[str] = []
NUMBER = ("INT", {"default": 0, "min": -1000, "max": 1000})


def node(class_type, **inputs):
    return {"class_type": class_type, "inputs": inputs}


class Gate:
    """x on `passed`; `blocked` gets a blocker (with `message` unless it is empty); `whole` blocks both at once."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT", "INT")
    RETURN_NAMES = ("passed", "blocked")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": NUMBER, "message": ("STRING", {"default": ""}),
                             "whole": ("BOOLEAN", {"default": False})}}

    def run(self, x, message, whole):
        CALLS.append("Gate")
        blocker = ExecutionBlocker(message or None)
        return blocker if whole else (x, blocker)


class Double:
    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": NUMBER}}

    def run(self, x):
        CALLS.append("Double")
        return (2 * x,)


class Show:
    CATEGORY = "test"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {})}}

    def run(self, value):
        CALLS.append("Show")
        return {"ui": {"value": [value]}}


class ShowAll:
    """An INPUT_IS_LIST output node: one blocked item blocks the whole call."""

    CATEGORY = "test"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    INPUT_IS_LIST = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {}), "b": ("INT", {})}}

    def run(self, a, b):
        CALLS.append("ShowAll")
        return {"ui": {"value": a + b}}


class Lazy:
    """Uses its lazy input only when `use` is on: an unused blocked input blocks nothing."""

    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"use": ("BOOLEAN", {"default": False}), "fallback": NUMBER,
                             "value": ("INT", {"lazy": True})}}

    def check_lazy_status(self, use, fallback, value=None):
        return ["value"] if use else []

    def run(self, use, fallback, value=None):
        CALLS.append("Lazy")
        return (value if use else fallback,)


NODES = {"Gate": Gate, "Double": Double, "Show": Show, "ShowAll": ShowAll, "Lazy": Lazy}


@pytest.fixture
def engine(tmp_path) -> Engine:
    CALLS.clear()
    folders = Folders.under(tmp_path)
    registry = NodeRegistry()
    with using_folders(folders):
        assert not registry.register_mappings(NODES, source="test").refused
    return Engine(registry, folders)


def test_a_silent_blocker_stops_the_nodes_downstream_and_the_others_run(engine):
    prompt = {"1": node("Gate", x=3, message="", whole=False),
              "2": node("Double", x=["1", 1]), "3": node("Show", value=["2", 0]),  # downstream of the blocker
              "4": node("Double", x=["1", 0]), "5": node("Show", value=["4", 0])}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs == {"5": {"value": [6]}}  # the blocked output node shows nothing
    assert sorted(CALLS) == ["Double", "Gate", "Show"]  # node 2 and node 3 never ran
    assert "3" not in result.outputs


def test_a_blocker_with_a_message_fails_the_run_with_it(engine):
    seen = []
    engine.events.subscribe(lambda event, data: seen.append((event, data)))
    prompt = {"1": node("Gate", x=3, message="no face found", whole=False),
              "2": node("Double", x=["1", 1]), "3": node("Show", value=["2", 0]),
              "4": node("Show", value=["1", 0])}
    result = engine.run(prompt)
    assert not result.ok
    assert result.error.exception_message == "Execution Blocked: no face found"
    assert result.error.exception_type == "ExecutionBlocked"
    assert result.error.node_id == "2"  # the node it stopped
    assert result.outputs == {"4": {"value": [3]}}  # the rest of the graph ran
    errors = [data for event, data in seen if event == "execution_error"]
    assert len(errors) == 1  # reported where it first stopped a node; downstream it travels silently
    assert not any(event == "execution_success" for event, _ in seen)
    CALLS.clear()
    again = engine.run(prompt)  # the same prompt fails the same way, though the gate's result is cached
    assert again.error.exception_message == "Execution Blocked: no face found" and "Gate" not in CALLS


def test_a_whole_result_blocker_blocks_every_output(engine):
    prompt = {"1": node("Gate", x=3, message="", whole=True),
              "2": node("Show", value=["1", 0]), "3": node("Show", value=["1", 1])}
    result = engine.run(prompt)
    assert result.ok and result.outputs == {} and CALLS == ["Gate"]


def test_a_list_node_is_blocked_by_one_blocked_item_and_a_lazy_input_only_when_used(engine):
    prompt = {"1": node("Gate", x=3, message="", whole=False),
              "2": node("ShowAll", a=["1", 0], b=["1", 1]),
              "3": node("Lazy", use=False, fallback=7, value=["7", 1]), "4": node("Show", value=["3", 0]),
              "5": node("Lazy", use=True, fallback=7, value=["1", 1]), "6": node("Show", value=["5", 0]),
              "7": node("Gate", x=1, message="never asked for", whole=False)}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs == {"4": {"value": [7]}}
    assert sorted(CALLS) == ["Gate", "Lazy", "Show"]  # gate 7 never ran; node 5 asked for its blocked input
