"""Lazy inputs: a source runs only when check_lazy_status asks for it (ComfyUI's semantics)."""
from __future__ import annotations

import pytest

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry


class LazySwitch:
    CATEGORY = "test"
    RETURN_TYPES = ("*",)
    FUNCTION = "pick"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"use_first": ("BOOLEAN", {"default": True}),
                             "first": ("*", {"lazy": True}), "second": ("*", {"lazy": True})}}

    def check_lazy_status(self, use_first, first=None, second=None):
        return ["first"] if use_first else ["second"]

    def pick(self, use_first, first=None, second=None):
        return (first if use_first else second,)


class LazyWithoutCheck:
    CATEGORY = "test"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "show"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {"lazy": True})}}

    def show(self, value):
        return (repr(value),)


class Explode:
    CATEGORY = "test"
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    calls = 0

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": ("INT", {})}}

    def run(self, x):
        Explode.calls += 1
        raise RuntimeError("this branch must not run")


@pytest.fixture
def engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    registry = builtin_registry(folders, {"LazySwitch": LazySwitch, "LazyWithoutCheck": LazyWithoutCheck,
                                          "Explode": Explode})
    Explode.calls = 0
    return Engine(registry, folders)


def switch_prompt(use_first: bool) -> dict:
    return {
        "good": {"class_type": "PrimitiveInt", "inputs": {"value": 5}},
        "bad": {"class_type": "Explode", "inputs": {"x": 1}},
        "switch": {"class_type": "LazySwitch", "inputs": {"use_first": use_first, "first": ["good", 0],
                                                         "second": ["bad", 0]}},
        "out": {"class_type": "PreviewAny", "inputs": {"source": ["switch", 0]}},
    }


def test_only_the_requested_lazy_branch_runs(engine):
    result = engine.run(switch_prompt(True))
    assert result.ok, result.error
    assert result.outputs["out"]["text"] == ["5"]
    assert Explode.calls == 0
    assert "bad" not in result.executed


def test_the_other_branch_runs_when_asked_for(engine):
    result = engine.run(switch_prompt(False))
    assert result.status == "error"
    assert result.error.node_id == "bad"
    assert Explode.calls == 1


def test_lazy_input_without_check_lazy_status_is_never_evaluated(engine):
    prompt = {"bad": {"class_type": "Explode", "inputs": {"x": 1}},
              "lazy": {"class_type": "LazyWithoutCheck", "inputs": {"value": ["bad", 0]}},
              "out": {"class_type": "PreviewAny", "inputs": {"source": ["lazy", 0]}}}
    result = engine.run(prompt)
    assert result.ok, result.error
    assert result.outputs["out"]["text"] == ["None"]
    assert Explode.calls == 0
