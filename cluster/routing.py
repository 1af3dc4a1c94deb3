"""The routing rule: a prompt goes to the idle worker that already holds the most of its work, weighed by what that
work cost (the idle worker that holds the least, when none holds any of it); but while a busy worker holds (or is
loading) one of its models that this idle worker lacks, it waits for that worker, up to a short window, before the
idle one loads it. Pure: the dispatcher gives it each worker's state."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class WorkerView:
    """What the router knows of a worker: whether it can take a prompt now, and what its cache holds (a
    signature's key -> the seconds its result took to compute)."""

    name: str
    idle: bool
    held: Mapping[str, float] = field(default_factory=dict)

    def affinity(self, keys: Mapping[str, bool]) -> float:
        """The compute time a prompt with these result keys would be spared on this worker."""
        return sum(self.held.get(key, 0.0) for key in keys)

    @property
    def holding(self) -> float:
        return sum(self.held.values())


def choose_worker(keys: Mapping[str, bool], workers: list[WorkerView], waited_s: float,
                  wait_s: float) -> str | None:
    """The worker to send a prompt to now, or None to wait: no worker is idle, or a busy one holds a model of the
    prompt (`keys`: its results' keys, each with whether it is a model) that the chosen idle one lacks, and the
    prompt has waited less than `wait_s`."""
    idle = [w for w in workers if w.idle]
    if not idle:
        return None
    # the idle worker that would be spared the most; among equals, the one holding the least (it evicts least)
    pick = max(idle, key=lambda w: (w.affinity(keys), -w.holding))
    missing = [key for key, model in keys.items() if model and key not in pick.held]
    if waited_s < wait_s and any(key in w.held for w in workers if not w.idle for key in missing):
        return None  # its models are busy elsewhere: that worker may well be free before this one has loaded them
    return pick.name


def next_in_turn(workers: list[WorkerView], last: str | None) -> str | None:
    """Round-robin, blind to the caches (what the rule is measured against): the first idle worker after `last`
    in the workers' order."""
    names = [w.name for w in workers]
    start = names.index(last) + 1 if last in names else 0
    turn = workers[start:] + workers[:start]
    return next((w.name for w in turn if w.idle), None)
