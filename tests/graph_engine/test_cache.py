"""Result caches: LRU eviction under RAM and device byte budgets, sizing, stats, free, NoCache, the report."""
from __future__ import annotations

import pytest

import time

from graph_engine import CacheEntry, CacheStats, LRUCache, NoCache, Sizer


class FakeTensor:
    """Stands in for a tensor: a byte count on one device."""

    def __init__(self, nbytes: int, device: str = "cuda:0") -> None:
        self.nbytes = nbytes
        self.device = device


class FakeParameter(FakeTensor):
    """A subclass: sized through the MRO by FakeTensor's function."""


def qualified(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def tensor_sizer() -> Sizer:
    sizer = Sizer()
    sizer.register(qualified(FakeTensor), lambda t: {t.device: t.nbytes})
    return sizer


def key(name: str) -> bytes:
    return name.encode()


# ---------------------------------------------------------------------------------------------------------
# Sizer
# ---------------------------------------------------------------------------------------------------------


def test_sizer_uses_the_registered_function_by_qualified_name():
    sizes = tensor_sizer().measure(FakeTensor(1000))
    assert sizes == {"cuda:0": 1000}


def test_sizer_walks_containers_and_matches_subclasses():
    sizer = tensor_sizer()
    value = ({"samples": FakeTensor(100)}, [FakeParameter(50, "cuda:1"), FakeTensor(7, "cpu")])
    sizes = sizer.measure(value)
    assert sizes["cuda:0"] == 100
    assert sizes["cuda:1"] == 50
    assert sizes["cpu"] > 7  # the tensor's 7 bytes plus the containers themselves


def test_sizer_counts_a_shared_object_once():
    sizer = tensor_sizer()
    shared = FakeTensor(4096)
    sizes = sizer.measure([shared, shared, {"again": shared}, (shared,)])
    assert sizes["cuda:0"] == 4096


def test_unregistered_objects_are_counted_in_ram():
    sizes = Sizer().measure(FakeTensor(10**9))
    assert set(sizes) == {"cpu"}
    assert sizes["cpu"] < 10**6  # not walked, not the tensor's bytes


# ---------------------------------------------------------------------------------------------------------
# LRUCache
# ---------------------------------------------------------------------------------------------------------


def test_get_set_and_stats():
    cache = LRUCache(sizer=tensor_sizer())
    assert cache.get(key("a")) is None
    value = FakeTensor(300)
    cache.set(key("a"), value)
    assert cache.get(key("a")) is value
    assert cache.get(key("a")) is value
    assert cache.get(key("b")) is None
    stats = cache.stats()
    assert isinstance(stats, CacheStats)
    assert stats.entries == 1
    assert stats.bytes_by_device == {"cuda:0": 300}
    assert (stats.hits, stats.misses) == (2, 2)


def test_setting_a_key_again_replaces_its_bytes():
    cache = LRUCache(sizer=tensor_sizer())
    cache.set(key("a"), FakeTensor(300))
    cache.set(key("a"), FakeTensor(100))
    stats = cache.stats()
    assert stats.entries == 1
    assert stats.bytes_by_device == {"cuda:0": 100}


def test_ram_budget_evicts_least_recently_used_first():
    cache = LRUCache(ram_budget=2500, sizer=tensor_sizer())
    a, b, c, d = (FakeTensor(1000, "cpu") for _ in range(4))
    cache.set(key("a"), a)
    cache.set(key("b"), b)
    assert cache.get(key("a")) is a  # a is now more recently used than b
    cache.set(key("c"), c)  # 3000 > 2500: the least recently used (b) goes
    assert cache.get(key("b")) is None
    assert cache.get(key("a")) is a and cache.get(key("c")) is c
    assert cache.stats().bytes_by_device == {"cpu": 2000}
    cache.set(key("d"), d)  # a was used before c: a goes
    assert cache.get(key("a")) is None
    assert cache.get(key("c")) is c and cache.get(key("d")) is d
    assert cache.stats().entries == 2


def test_ram_budget_evicts_as_many_entries_as_needed():
    cache = LRUCache(ram_budget=3000, sizer=tensor_sizer())
    for name in "abc":
        cache.set(key(name), FakeTensor(1000, "cpu"))
    big = FakeTensor(2500, "cpu")
    cache.set(key("big"), big)
    assert [cache.get(key(n)) is not None for n in "abc"] == [False, False, False]
    assert cache.get(key("big")) is big
    assert cache.stats().bytes_by_device == {"cpu": 2500}


def test_an_entry_larger_than_the_budget_is_not_kept():
    cache = LRUCache(ram_budget=1000, sizer=tensor_sizer())
    cache.set(key("small"), FakeTensor(400, "cpu"))
    cache.set(key("huge"), FakeTensor(5000, "cpu"))
    assert cache.get(key("huge")) is None
    assert cache.stats().bytes_by_device.get("cpu", 0) <= 1000


def test_device_budget_evicts_only_entries_holding_device_memory():
    cache = LRUCache(device_budget=1000, sizer=tensor_sizer())
    host = FakeTensor(10_000, "cpu")  # the oldest entry, but RAM has no budget here
    cache.set(key("host"), host)
    cache.set(key("g1"), FakeTensor(600))
    g2 = FakeTensor(600)
    cache.set(key("g2"), g2)  # 1200 > 1000 on the device: g1 goes, the host entry stays
    assert cache.get(key("g1")) is None
    assert cache.get(key("host")) is host
    assert cache.get(key("g2")) is g2
    assert cache.stats().bytes_by_device == {"cpu": 10_000, "cuda:0": 600}


def test_device_budget_counts_every_non_host_device_together():
    cache = LRUCache(device_budget=1000, sizer=tensor_sizer())
    cache.set(key("a"), FakeTensor(600, "cuda:0"))
    b = FakeTensor(600, "cuda:1")
    cache.set(key("b"), b)
    assert cache.get(key("a")) is None
    assert cache.get(key("b")) is b


def test_device_budget_with_mixed_entries():
    cache = LRUCache(ram_budget=10_000, device_budget=1000, sizer=tensor_sizer())
    cache.set(key("latent"), {"samples": FakeTensor(800), "meta": FakeTensor(100, "cpu")})
    cache.set(key("image"), FakeTensor(500))
    assert cache.get(key("latent")) is None  # it held device memory and was the least recently used
    stats = cache.stats()
    assert stats.entries == 1
    assert stats.bytes_by_device == {"cuda:0": 500}  # its RAM bytes left with it


def test_a_shared_object_in_one_value_is_counted_once_against_the_budget():
    cache = LRUCache(device_budget=1000, sizer=tensor_sizer())
    shared = FakeTensor(800)
    value = ([shared], {"same": shared}, shared)
    cache.set(key("v"), value)
    assert cache.get(key("v")) is value  # 800, not 2400: still within the budget
    assert cache.stats().bytes_by_device["cuda:0"] == 800


def test_free_drops_every_entry():
    cache = LRUCache(sizer=tensor_sizer())
    cache.set(key("a"), FakeTensor(100))
    cache.set(key("b"), FakeTensor(100, "cpu"))
    cache.free()
    stats = cache.stats()
    assert stats.entries == 0
    assert stats.bytes_by_device == {}
    assert cache.get(key("a")) is None and cache.get(key("b")) is None
    cache.set(key("c"), FakeTensor(5))  # still usable
    assert cache.stats().bytes_by_device == {"cuda:0": 5}


def test_unbounded_cache_keeps_everything():
    cache = LRUCache(sizer=tensor_sizer())
    for i in range(100):
        cache.set(key(str(i)), FakeTensor(10**9))
    assert cache.stats().entries == 100
    assert cache.stats().bytes_by_device == {"cuda:0": 100 * 10**9}


# ---------------------------------------------------------------------------------------------------------
# NoCache
# ---------------------------------------------------------------------------------------------------------


def test_no_cache_keeps_nothing():
    cache = NoCache()
    cache.set(key("a"), FakeTensor(1))
    assert cache.get(key("a")) is None
    assert cache.get(key("b")) is None
    stats = cache.stats()
    assert stats.entries == 0
    assert stats.hits == 0 and stats.misses == 2
    assert stats.bytes_by_device == {}
    cache.free()


# ---------------------------------------------------------------------------------------------------------
# The cache under the engine
# ---------------------------------------------------------------------------------------------------------


class MakeTensor:
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "make"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"nbytes": ("INT", {"default": 1, "min": 0, "max": 10**12})}}

    def make(self, nbytes):
        return ({"samples": FakeTensor(nbytes)},)


@pytest.fixture
def tensor_registry(registry):
    registry.register("MakeTensor", MakeTensor, source="tests")
    return registry


def test_engine_results_count_their_tensors_against_the_device_budget(make_engine, tensor_registry):
    cache = LRUCache(device_budget=10_000, sizer=tensor_sizer())
    engine = make_engine(cache=cache)

    def prompt(nbytes):
        return {"1": {"class_type": "MakeTensor", "inputs": {"nbytes": nbytes}},
                "2": {"class_type": "TSink", "inputs": {"value": ["1", 0]}}}

    assert engine.run(prompt(6000)).ok
    assert cache.stats().bytes_by_device.get("cuda:0") == 6000
    assert engine.run(prompt(7000)).ok  # 13,000 > 10,000: the 6,000-byte result is evicted
    assert cache.stats().bytes_by_device.get("cuda:0") == 7000
    again = engine.run(prompt(6000))
    assert "1" in again.executed


def test_engine_free_empties_the_cache(engine, tn):
    prompt = {"1": {"class_type": "TInt", "inputs": {"value": 1}}, "2": {"class_type": "TSink",
                                                                          "inputs": {"value": ["1", 0]}}}
    assert engine.run(prompt).ok
    assert engine.cache.stats().entries >= 2
    engine.free()
    assert engine.cache.stats().entries == 0
    tn.CALLS.clear()
    assert engine.run(prompt).ok
    assert tn.ran() == ["1", "2"]


def test_engine_ram_budget_evicts_old_results(make_engine, tn):
    sizer = tensor_sizer()
    cache = LRUCache(ram_budget=1, sizer=sizer)  # nothing fits: every run computes again
    engine = make_engine(cache=cache)
    prompt = {"1": {"class_type": "TInt", "inputs": {"value": 1}}, "2": {"class_type": "TSink",
                                                                          "inputs": {"value": ["1", 0]}}}
    assert engine.run(prompt).ok
    assert engine.run(prompt).ok
    assert tn.ran() == ["1", "2", "1", "2"]
    assert cache.stats().entries == 0


def test_engine_looks_each_node_up_once_per_run(make_engine):
    cache = LRUCache()
    engine = make_engine(cache=cache)
    prompt = {"1": {"class_type": "TInt", "inputs": {"value": 1}},
              "2": {"class_type": "TAdd", "inputs": {"a": ["1", 0], "b": 2}},
              "3": {"class_type": "TSink", "inputs": {"value": ["2", 0]}}}
    assert engine.run(prompt).ok
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (3, 0, 3)  # three nodes computed: three misses
    assert engine.run(prompt).ok
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (3, 3, 3)  # three nodes found: three hits


# ---------------------------------------------------------------------------------------------------------
# The engine's cache report
# ---------------------------------------------------------------------------------------------------------


class SlowModel:
    """Takes a little while, as loading a model does, and declares a MODEL output."""

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": ("STRING", {"default": "m"})}}

    def load(self, name):
        time.sleep(0.02)
        return (name,)


def report_prompt(nbytes: int) -> dict:
    return {"1": {"class_type": "MakeTensor", "inputs": {"nbytes": nbytes}},
            "2": {"class_type": "TSink", "inputs": {"value": ["1", 0]}},
            "3": {"class_type": "SlowModel", "inputs": {"name": "m"}},
            "4": {"class_type": "TSink", "inputs": {"value": ["3", 0], "tag": 4}}}


@pytest.fixture
def report_registry(tensor_registry):
    tensor_registry.register("SlowModel", SlowModel, source="tests")
    return tensor_registry


def test_the_report_lists_each_cached_result_with_its_class_bytes_time_and_model_flag(make_engine, report_registry):
    cache = LRUCache(sizer=tensor_sizer())
    engine = make_engine(cache=cache)
    assert engine.run(report_prompt(5000)).ok
    report = engine.cache_report()
    assert sorted(entry.class_type for entry in report.entries) == ["MakeTensor", "SlowModel", "TSink", "TSink"]
    assert report.count == 4 and report.models == 1
    assert len({entry.key for entry in report.entries}) == 4
    assert all(len(entry.key) == 16 and int(entry.key, 16) >= 0 for entry in report.entries)
    by_class = {entry.class_type: entry for entry in report.entries}
    assert by_class["MakeTensor"].bytes_by_device["cuda:0"] == 5000  # the FakeTensor, as the sizer counts it
    assert report.bytes_by_device == cache.stats().bytes_by_device
    model = by_class["SlowModel"]
    assert model.model and not any(entry.model for entry in report.entries if entry is not model)
    assert 0.02 <= model.seconds < 5
    assert report.compute_seconds >= model.seconds
    assert engine.run(report_prompt(5000)).ok  # all cached: nothing runs, the same entries (in another LRU order)
    assert sorted(engine.cache_report().entries, key=by_key) == sorted(report.entries, key=by_key)


def by_key(entry: CacheEntry) -> str:
    return entry.key


def test_the_report_shrinks_on_eviction_and_empties_on_free(make_engine, report_registry):
    engine = make_engine(cache=LRUCache(device_budget=13_000, sizer=tensor_sizer()))
    assert engine.run(report_prompt(6000)).ok
    on_device = [(e.class_type, e.bytes_by_device["cuda:0"]) for e in engine.cache_report().entries
                 if "cuda:0" in e.bytes_by_device]
    assert on_device == [("MakeTensor", 6000), ("TSink", 6000)]  # the sink's ui holds the tensor too
    assert engine.run(report_prompt(7000)).ok
    on_device = [(e.class_type, e.bytes_by_device["cuda:0"]) for e in engine.cache_report().entries
                 if "cuda:0" in e.bytes_by_device]
    assert on_device == [("TSink", 7000)]  # past 13,000 bytes, least recently used first
    assert engine.cache_report().bytes_by_device["cuda:0"] == 7000
    engine.free()
    report = engine.cache_report()
    assert (report.count, report.models, report.bytes_by_device, report.compute_seconds) == (0, 0, {}, 0)


def test_no_cache_reports_nothing(make_engine, report_registry):
    engine = make_engine(cache=NoCache())
    assert engine.run(report_prompt(100)).ok
    assert engine.cache_report().entries == () and NoCache().entries() == []
