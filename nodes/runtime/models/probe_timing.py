"""Timing the candidate ways of computing one thing (VAE attention paths, memory layouts) to keep the fastest.

A first run pays once for what later runs reuse (kernel selection, allocations), so a probe of short runs begins with
a warm-up round that is not counted. A run of WARM_RUN_SECONDS or more carries those one-time costs as a few percent
of its time, no more than the candidates differ by where either would do; so when every first run is that long, the
first round counts and is the only one. The probes of a large image then cost one run of each candidate instead of
two or three (bench/pipeline.py --parts c --sizes 256, SD VAE on two CPU cores: the first decode took 2.29x a later
one with a warm-up round for every probe, 1.73x without; the first encode 2.38x and 1.76x).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import torch

Candidate = TypeVar("Candidate", bound=Hashable)

WARM_RUN_SECONDS = 0.05


def best_times(candidates: Sequence[Candidate], prepare: Callable[[Candidate], Callable[[], object]],
               device: torch.device, rounds: int, worth_seconds: float = 0.0) -> dict[Candidate, float]:
    """Each candidate's best time over up to `rounds` rounds in which they take turns (in reverse order every other
    round, so that none always runs right after the same one). `prepare(candidate)` sets the candidate up, untimed,
    and returns the call to time. The first round is a warm-up unless each of its runs took WARM_RUN_SECONDS or
    more; then it is the only round. When the first candidate's first run takes under `worth_seconds`, it is the
    only run: the others are never timed (their time is infinite), since what they could save on a call that short
    would not repay the probe."""
    best = dict.fromkeys(candidates, float("inf"))
    for round_number in range(rounds):
        order = candidates if round_number % 2 == 0 else list(reversed(candidates))
        times: dict[Candidate, float] = {}
        for candidate in order:
            times[candidate] = _timed(prepare(candidate), device)
            if round_number == 0 and len(times) == 1 and times[candidate] < worth_seconds:
                return {**best, candidate: times[candidate]}
        long_enough = min(times.values()) >= WARM_RUN_SECONDS
        if round_number == 0 and not long_enough and rounds > 1:
            continue
        for candidate, seconds in times.items():
            best[candidate] = min(best[candidate], seconds)
        if round_number == 0:
            break
    return best


def _timed(call: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    started = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - started


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timing counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
