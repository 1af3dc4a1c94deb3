"""Helpers for the latent and image-size node tests: an engine with the built-in and latent nodes, a source
node that feeds a given tensor (or latent dict) into a graph, and a sink that hands back what reaches it."""
from __future__ import annotations

import itertools
from typing import Any

import pytest

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry

FEED: dict[str, Any] = {}  # key -> the value TFeed outputs
CAUGHT: dict[str, Any] = {}  # key -> the value TCatch received
_KEYS = itertools.count()


class TFeed:
    """Outputs the object stored under `key`, typed as LATENT, IMAGE and MASK (one output each)."""

    CATEGORY = "tests"
    RETURN_TYPES = ("LATENT", "IMAGE", "MASK")
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"key": ("STRING", {"default": ""})}}

    def run(self, key):
        value = FEED[key]
        return (value, value, value)


class TCatch:
    """An output node that stores what it receives under `key`."""

    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {}), "key": ("STRING", {"default": ""})}}

    def run(self, value, key):
        CAUGHT[key] = value
        return {"ui": {"caught": [key]}, "result": ()}


def make_engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders, {"TFeed": TFeed, "TCatch": TCatch}), folders)


class Runner:
    """Runs one node of `class_type` through the engine; inputs named in `feeds` come from TFeed."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def prompt(self, class_type: str, inputs: dict,
               feeds: dict[str, tuple[Any, int]] | None = None) -> tuple[dict, str]:
        key = f"k{next(_KEYS)}"
        prompt: dict = {}
        node_inputs = dict(inputs)
        for index, (name, (value, slot)) in enumerate((feeds or {}).items()):
            FEED[f"{key}-{name}"] = value
            prompt[f"feed{index}"] = {"class_type": "TFeed", "inputs": {"key": f"{key}-{name}"}}
            node_inputs[name] = [f"feed{index}", slot]
        prompt["n"] = {"class_type": class_type, "inputs": node_inputs}
        prompt["out"] = {"class_type": "TCatch", "inputs": {"value": ["n", 0], "key": key}}
        return prompt, key

    def run(self, class_type: str, inputs: dict, feeds: dict[str, tuple[Any, int]] | None = None):
        prompt, key = self.prompt(class_type, inputs, feeds)
        result = self.engine.run(prompt)
        assert result.ok, result.error
        return CAUGHT.pop(key)

    def run_result(self, class_type: str, inputs: dict, feeds: dict[str, tuple[Any, int]] | None = None):
        prompt, _ = self.prompt(class_type, inputs, feeds)
        return self.engine.run(prompt)


LATENT, IMAGE, MASK = 0, 1, 2  # TFeed's output slots



def node_errors(engine: Engine, prompt: dict, node_id: str = "n") -> list[tuple[str, str]]:
    """The (type, input name) of each validation error the engine reports for `node_id`."""
    from graph_engine import WorkflowInvalid

    with pytest.raises(WorkflowInvalid) as info:
        engine.run(prompt)
    return [(e.type, e.input_name) for e in info.value.report.node_errors[node_id].errors]
