"""The dispatcher's directory of shared results: found by key where the worker lacks them, bounded in bytes (least
recently used out first), and forgotten with the worker that owned them."""
from __future__ import annotations

from cluster.shared_results import SharedResult, SharedResults


def result(number: int, nbytes: int = 100, worker: str = "w1") -> SharedResult:
    return SharedResult(bytes([number]) * 16, f"ref-{number}", nbytes, "KSampler", 2.0, worker)


def test_a_worker_gets_the_shared_results_of_its_prompt_that_it_lacks():
    shared = SharedResults(budget=1000)
    one, two, three = result(1), result(2), result(3)
    shared.add([one, two, three])
    wanted = [one.short_key, two.short_key, "ffffffffffffffff"]
    assert shared.for_keys(wanted, held=[two.short_key]) == [one]
    assert shared.for_keys([], held=[]) == []


def test_the_directory_keeps_within_its_budget_dropping_the_least_recently_used():
    shared = SharedResults(budget=250)
    one, two, three = result(1), result(2), result(3)
    shared.add([one, two])
    shared.for_keys([one.short_key], held=[])  # used: now the most recent
    shared.add([three])
    assert len(shared) == 2 and shared.bytes == 200
    assert shared.for_keys([one.short_key, two.short_key, three.short_key], held=[]) == [one, three]


def test_a_result_larger_than_the_budget_is_not_kept_and_a_republished_one_counts_once():
    shared = SharedResults(budget=250)
    shared.add([result(1, nbytes=300)])
    assert len(shared) == 0 and shared.bytes == 0
    shared.add([result(2), result(2)])
    assert len(shared) == 1 and shared.bytes == 100


def test_a_dead_workers_results_are_forgotten():
    shared = SharedResults(budget=1000)
    mine, theirs = result(1, worker="w1"), result(2, worker="w2")
    shared.add([mine, theirs])
    shared.forget_worker("w1")
    assert shared.for_keys([mine.short_key, theirs.short_key], held=[]) == [theirs]
    assert shared.bytes == 100
