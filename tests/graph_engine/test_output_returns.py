"""What output nodes may return: nothing at all ({} or None), and ui data holding tuples or iterators."""
from __future__ import annotations

from typing import Any

import pytest

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry


class ShowReturned:
    """An output node that returns the class-level `returned` as is."""

    CATEGORY = "test"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    returned: Any = None
    calls = 0

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0})}}

    def run(self, value):
        ShowReturned.calls += 1
        return ShowReturned.returned


class PassReturned(ShowReturned):
    """An output node with an INT output (ComfyUI's output nodes may have outputs too)."""

    RETURN_TYPES = ("INT",)


@pytest.fixture
def engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    ShowReturned.calls = 0
    return Engine(builtin_registry(folders, {"ShowReturned": ShowReturned, "PassReturned": PassReturned}), folders)


@pytest.mark.parametrize("returned", [None, {}, {"other": 1}, {"ui": None}])
def test_an_output_node_may_return_nothing(engine, returned):
    ShowReturned.returned = returned
    events = []
    engine.events.subscribe(lambda event, data: events.append((event, data)))
    result = engine.run({"1": {"class_type": "ShowReturned", "inputs": {"value": 3}}})
    assert result.ok, result.error
    assert ShowReturned.calls == 1
    assert result.executed == ["1"]
    assert result.outputs == {}  # nothing to show: no entry and no `executed` event, as in ComfyUI
    assert [event for event, _ in events if event == "executed"] == []


def test_an_output_node_that_returns_nothing_gives_none_on_its_outputs(engine):
    PassReturned.returned = {}
    prompt = {"1": {"class_type": "PassReturned", "inputs": {"value": 3}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["2"] == {"text": ["null"]}  # PreviewAny writes None as JSON does


def test_ui_tuples_and_iterators_become_lists_in_outputs_and_events(engine):
    ShowReturned.returned = {"ui": {"text": map(str, [1, 2]), "pairs": ({"size": (4, 8)}, (1, 2)),
                                    "squares": (n * n for n in range(3))}}
    events = []
    engine.events.subscribe(lambda event, data: events.append((event, data)))
    result = engine.run({"7": {"class_type": "ShowReturned", "inputs": {"value": 1}}})
    assert result.ok, result.error
    expected = {"text": ["1", "2"], "pairs": [{"size": [4, 8]}, [1, 2]], "squares": [0, 1, 4]}
    assert result.outputs["7"] == expected
    [executed] = [data for event, data in events if event == "executed"]
    assert executed["node"] == "7" and executed["output"] == expected
