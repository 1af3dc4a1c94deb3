"""An engine with the built-in nodes and two test nodes: JsonFeed (a JSON text in, its value out, of any type) and
Catch (an output node that hands back the value it receives), to run one utility node as a workflow would."""
from __future__ import annotations

import json
from typing import Any

import pytest

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry


class JsonFeed:
    CATEGORY = "tests"
    RETURN_TYPES = ("*",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"json_value": ("STRING", {})}}

    def run(self, json_value: str):
        return (json.loads(json_value),)


class Catch:
    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {})}}

    def run(self, value: Any):
        return {"ui": {"value": [value]}, "result": ()}


class Runner:
    """Runs one node through the engine: `links` are values fed from JsonFeed nodes, `inputs` are constants."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prompt(self, class_type: str, inputs: dict, links: dict | None = None, outputs: int = 1) -> dict:
        prompt: dict[str, Any] = {"node": {"class_type": class_type, "inputs": dict(inputs)}}
        for index, (name, value) in enumerate((links or {}).items()):
            prompt[f"feed{index}"] = {"class_type": "JsonFeed", "inputs": {"json_value": json.dumps(value)}}
            prompt["node"]["inputs"][name] = [f"feed{index}", 0]
        for slot in range(outputs):
            prompt[f"out{slot}"] = {"class_type": "Catch", "inputs": {"value": ["node", slot]}}
        return prompt

    def outputs(self, class_type: str, inputs: dict, links: dict | None = None, outputs: int = 1) -> list:
        result = self.engine.run(self.prompt(class_type, inputs, links, outputs))
        assert result.ok, result.error
        return [result.outputs[f"out{slot}"]["value"][0] for slot in range(outputs)]

    def output(self, class_type: str, inputs: dict, links: dict | None = None) -> Any:
        return self.outputs(class_type, inputs, links)[0]

    def error(self, class_type: str, inputs: dict, links: dict | None = None, outputs: int = 1) -> str:
        """The message of the error the node raised when it ran."""
        result = self.engine.run(self.prompt(class_type, inputs, links, outputs))
        assert result.status == "error" and result.error.node_id == "node", result
        return result.error.exception_message


@pytest.fixture
def runner(tmp_path) -> Runner:
    folders = Folders.under(tmp_path)
    return Runner(Engine(builtin_registry(folders, {"JsonFeed": JsonFeed, "Catch": Catch}), folders))
