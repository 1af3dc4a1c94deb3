"""Demand-driven runs: a cached result is used without its sources, even when they were evicted."""
from __future__ import annotations

from graph_engine import Engine, Folders, LRUCache, NodeResult, Sizer
from tests.fixtures.registries import builtin_registry


def test_cached_output_does_not_pull_evicted_sources(tmp_path):
    sizer = Sizer()
    sizer.register(f"{NodeResult.__module__}.{NodeResult.__qualname__}", lambda result: {"cpu": 100})
    cache = LRUCache(ram_budget=100, sizer=sizer)  # room for one result: the last one set
    folders = Folders.under(tmp_path)
    engine = Engine(builtin_registry(folders), folders, cache=cache)
    prompt = {"a": {"class_type": "PrimitiveInt", "inputs": {"value": 2}},
              "b": {"class_type": "MathInt", "inputs": {"a": ["a", 0], "b": 3, "operation": "multiply"}},
              "out": {"class_type": "PreviewAny", "inputs": {"source": ["b", 0]}}}

    first = engine.run(prompt)
    assert first.executed == ["a", "b", "out"]
    assert cache.stats().entries == 1

    second = engine.run(prompt)
    assert second.ok
    assert second.cached == ["out"]
    assert second.executed == []
    assert second.outputs["out"]["text"] == ["6"]
