"""Results one worker computed that another can take instead of computing them again: portable data (latents,
images, masks, conditioning) in Ray's object store, found by their cache key. Models never travel: they load from
the model folders."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Collection

from graph_engine.cache import KEY_HEX_CHARS


@dataclass(frozen=True)
class SharedResult:
    """One node's result in the object store, as the worker that computed it published it."""

    key: bytes  # its cache key (the node's signature)
    ref: Any  # the ray.ObjectRef of its NodeResult
    nbytes: int
    class_type: str
    seconds: float  # what computing it took
    worker: str  # who computed it: the object goes with that worker if it dies

    @property
    def short_key(self) -> str:
        """The key as cache reports and the router name it."""
        return self.key.hex()[:KEY_HEX_CHARS]


class SharedResults:
    """The dispatcher's directory of shared results: the least recently used are dropped beyond `budget` bytes
    (dropping the last reference lets Ray free the object)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._results: OrderedDict[str, SharedResult] = OrderedDict()
        self.bytes = 0

    def add(self, results: Collection[SharedResult]) -> None:
        for result in results:
            self._drop(result.short_key)
            self._results[result.short_key] = result
            self.bytes += result.nbytes
        while self.bytes > self.budget and self._results:
            self._drop(next(iter(self._results)))

    def for_keys(self, keys: Collection[str], held: Collection[str]) -> list[SharedResult]:
        """The shared results among a prompt's `keys` that a worker holding `held` lacks."""
        found = [self._results[key] for key in keys if key in self._results and key not in held]
        for result in found:
            self._results.move_to_end(result.short_key)
        return found

    def forget_worker(self, worker: str) -> None:
        """A worker died: the objects it owned are gone with it."""
        for key in [key for key, result in self._results.items() if result.worker == worker]:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._results)

    def _drop(self, short_key: str) -> None:
        result = self._results.pop(short_key, None)
        if result is not None:
            self.bytes -= result.nbytes
