"""Probe timing: short runs are timed after a warm-up round, long ones once each, candidates taking turns."""
from __future__ import annotations

import time

import torch

from nodes.runtime.models.probe_timing import WARM_RUN_SECONDS, best_times

CPU = torch.device("cpu")


def recorder(seconds: float, calls: list[str]):
    """prepare(candidate) for best_times: each call is logged and lasts at least `seconds`."""
    def prepare(candidate: str):
        def call():
            calls.append(candidate)
            if seconds:
                time.sleep(seconds)
        return call
    return prepare


def test_short_runs_get_a_warm_up_round_then_take_turns_in_alternating_order():
    calls: list[str] = []
    best = best_times(("a", "b", "c"), recorder(0, calls), CPU, rounds=3)
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert set(best) == {"a", "b", "c"} and all(0 <= seconds < float("inf") for seconds in best.values())


def test_runs_as_long_as_the_warm_up_threshold_are_timed_once_each():
    calls: list[str] = []
    best = best_times((False, True), recorder(WARM_RUN_SECONDS * 1.2, calls), CPU, rounds=3)
    assert calls == [False, True]
    assert all(seconds >= WARM_RUN_SECONDS for seconds in best.values())


def test_a_single_round_is_counted_however_short():
    calls: list[str] = []
    best = best_times(("a", "b"), recorder(0, calls), CPU, rounds=1)
    assert calls == ["a", "b"] and all(seconds < float("inf") for seconds in best.values())


def test_the_warm_up_round_is_not_counted():
    """A first run that pays a one-time cost (here a long sleep) does not make its candidate look slow."""
    seen: dict[str, int] = {}

    def prepare(candidate: str):
        def call():
            seen[candidate] = seen.get(candidate, 0) + 1
            if candidate == "cold start" and seen[candidate] == 1:
                time.sleep(WARM_RUN_SECONDS / 2)  # under the threshold: a warm-up round follows the rules of short runs
        return call

    best = best_times(("cold start", "steady"), prepare, CPU, rounds=2)
    assert seen == {"cold start": 2, "steady": 2}
    assert best["cold start"] < WARM_RUN_SECONDS / 2


def test_a_first_run_under_the_worth_threshold_is_the_only_run():
    calls: list[str] = []
    best = best_times(("kept", "other"), recorder(0, calls), CPU, rounds=2, worth_seconds=60)
    assert calls == ["kept"]
    assert best["kept"] < 60 and best["other"] == float("inf")


def test_a_first_run_over_the_worth_threshold_times_every_candidate():
    calls: list[str] = []
    best_times(("kept", "other"), recorder(0.002, calls), CPU, rounds=2, worth_seconds=0.001)
    assert calls == ["kept", "other", "other", "kept"]
