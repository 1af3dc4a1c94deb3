"""Memory estimates at validation, with plain Python nodes: sizes flow along links in run order, the node whose
estimate is over the budget is refused by name with the bytes, and hooks can refuse one input outright."""
from __future__ import annotations

import logging

import pytest

from graph_engine import Engine, Folders, InputTooLarge, NodeEstimate, NodeRegistry, ValueSize, validate_prompt


class MakeText:
    """A text of `length` characters."""

    CATEGORY = "tests"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"length": ("INT", {"default": 1, "min": 0, "max": 10**9})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return NodeEstimate((ValueSize.text(inputs["length"]),), inputs["length"])

    def run(self, length):
        return ("x" * length,)


class Join:
    """a + b, and says so at validation."""

    CATEGORY = "tests"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("STRING", {}), "b": ("STRING", {})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        if "a" not in sizes or "b" not in sizes:
            return None
        length = sizes["a"].shape[0] + sizes["b"].shape[0]
        return NodeEstimate((ValueSize.text(length),), length, f"a text of {length} characters")

    def run(self, a, b):
        return (a + b,)


class Copy:
    """Passes a text on, with no estimate: sizes after it are unknown."""

    CATEGORY = "tests"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {})}}

    def run(self, text):
        return (text,)


class Capped(Copy):
    """Refuses a text over 10 characters, whatever memory is free."""

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        if sizes["text"].shape[0] > 10:
            raise InputTooLarge("text", f"the text has {sizes['text'].shape[0]} characters, more than 10")
        return None


class BrokenEstimate(Copy):
    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        raise RuntimeError("a bug in a plugin's estimate")


@pytest.fixture
def registry(registry) -> NodeRegistry:
    """The shared test registry (TSink shows any value) with the nodes above."""
    registry.register_mappings({"MakeText": MakeText, "Join": Join, "Copy": Copy, "Capped": Capped,
                                "BrokenEstimate": BrokenEstimate}, source="test")
    return registry


def doubling_chain(start: int, doublings: int) -> dict:
    """MakeText(start) -> Join(itself, itself) x doublings -> TSink; node "d<k>" holds start * 2**k characters."""
    prompt = {"d0": {"class_type": "MakeText", "inputs": {"length": start}}}
    for k in range(1, doublings + 1):
        prompt[f"d{k}"] = {"class_type": "Join", "inputs": {"a": [f"d{k - 1}", 0], "b": [f"d{k - 1}", 0]}}
    prompt["show"] = {"class_type": "TSink", "inputs": {"value": [f"d{doublings}", 0]}}
    return prompt


def test_sizes_flow_through_links_and_the_first_node_over_the_budget_is_refused(registry):
    # node d<k> holds its input (start * 2**(k-1), one link counted once) and makes start * 2**k: 1.5 * start * 2**k
    report = validate_prompt(doubling_chain(1000, 16), registry, memory_budget=10_000_000)
    assert not report.ok
    assert list(report.node_errors) == ["d13"]  # 1.5 * 1000 * 2**13 = 12,288,000 > 10 MB >= 6,144,000 for d12
    node = report.node_errors["d13"]
    [error] = node.errors
    assert node.class_type == "Join" and node.dependent_outputs == ["show"]
    assert error.type == "memory_estimate_exceeded"
    assert error.extra == {"estimated_bytes": 12_288_000, "available_bytes": 10_000_000}
    assert "node d13 (Join)" in error.message and "12288000 bytes" in error.message
    assert "10000000 bytes" in error.message and "a text of 8192000 characters" in error.details
    assert report.to_json()["node_errors"]["d13"]["errors"][0]["type"] == "memory_estimate_exceeded"
    assert report.outputs == [] and report.error.type == "prompt_outputs_failed_validation"


def test_without_a_budget_or_within_it_the_same_chain_is_valid(registry):
    assert validate_prompt(doubling_chain(1000, 16), registry).ok
    assert validate_prompt(doubling_chain(1000, 16), registry, memory_budget=1000 * 2**16 * 3 // 2).ok


def test_text_constants_count_as_their_length(registry):
    prompt = {"join": {"class_type": "Join", "inputs": {"a": "y" * 5000, "b": "z"}},
              "show": {"class_type": "TSink", "inputs": {"value": ["join", 0]}}}
    assert validate_prompt(prompt, registry, memory_budget=5001).ok
    report = validate_prompt(prompt, registry, memory_budget=5000)
    assert [e.type for e in report.node_errors["join"].errors] == ["memory_estimate_exceeded"]


def test_a_node_without_an_estimate_stops_the_flow_of_sizes(registry):
    prompt = doubling_chain(1000, 4)
    prompt["copy"] = {"class_type": "Copy", "inputs": {"text": ["d4", 0]}}
    prompt["big"] = {"class_type": "Join", "inputs": {"a": ["copy", 0], "b": ["copy", 0]}}
    prompt["show"]["inputs"]["value"] = ["big", 0]
    assert validate_prompt(prompt, registry, memory_budget=1000 * 2**4 * 3 // 2).ok  # "big" would need 48,000


def test_a_hook_can_refuse_an_input_whatever_memory_is_free(registry):
    prompt = {"long": {"class_type": "MakeText", "inputs": {"length": 11}},
              "capped": {"class_type": "Capped", "inputs": {"text": ["long", 0]}},
              "show": {"class_type": "TSink", "inputs": {"value": ["capped", 0]}}}
    report = validate_prompt(prompt, registry)
    [error] = report.node_errors["capped"].errors
    assert (error.type, error.input_name) == ("input_too_large", "text")
    assert error.message == "the text has 11 characters, more than 10"
    prompt["long"]["inputs"]["length"] = 10
    assert validate_prompt(prompt, registry).ok


def test_a_failing_estimate_is_logged_and_its_node_runs_unchecked(registry, caplog):
    prompt = doubling_chain(1000, 2)
    prompt["broken"] = {"class_type": "BrokenEstimate", "inputs": {"text": ["d2", 0]}}
    prompt["show"]["inputs"]["value"] = ["broken", 0]
    with caplog.at_level(logging.WARNING, logger="graph_engine.estimate"):
        assert validate_prompt(prompt, registry, memory_budget=10**9).ok
    assert "node broken (BrokenEstimate)" in caplog.text and "a bug in a plugin's estimate" in caplog.text


def test_the_engine_asks_its_budget_at_each_validation_and_counts_the_cache_as_free(registry, tmp_path):
    budget = {"bytes": 100_000}
    engine = Engine(registry, Folders.under(tmp_path), memory_budget=lambda: budget["bytes"])
    needs_120k = doubling_chain(40_000, 1)  # d1 holds 40,000 and makes 80,000
    assert list(engine.validate(needs_120k).node_errors) == ["d1"]
    budget["bytes"] = 120_000
    assert engine.validate(needs_120k).ok
    # results the cache keeps are freed before a node runs out of memory: they count as available
    assert engine.run(doubling_chain(100_000, 0)).ok  # caches a text of 100,000 characters
    budget["bytes"] = 50_000
    assert engine.validate(needs_120k).ok
    engine.free()
    assert not engine.validate(needs_120k).ok
