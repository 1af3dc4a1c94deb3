"""Result caches: a node's outputs by signature, kept across runs under byte budgets."""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

from .sizing import HOST, Sizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes_by_device: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0


@dataclass(frozen=True)
class ResultOrigin:
    """Where a cached result came from: what a router weighs when it sends work to where it was already done."""

    class_type: str = ""
    seconds: float = 0.0  # how long its node took to compute it
    model: bool = False  # its node outputs a model (NodeSpec.outputs_model): costly to load, never shipped


KEY_HEX_CHARS = 16  # a signature's first 8 bytes name an entry well enough in a report


@dataclass(frozen=True)
class CacheEntry:
    """One cached result as a report lists it."""

    key: str  # the start of its signature, in hex
    class_type: str
    bytes_by_device: dict[str, int]
    seconds: float
    model: bool


@dataclass(frozen=True)
class CacheReport:
    """What a cache holds, entry by entry, with its totals."""

    entries: tuple[CacheEntry, ...] = ()

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def models(self) -> int:
        return sum(entry.model for entry in self.entries)

    @property
    def bytes_by_device(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for entry in self.entries:
            for device, nbytes in entry.bytes_by_device.items():
                totals[device] = totals.get(device, 0) + nbytes
        return totals

    @property
    def compute_seconds(self) -> float:
        """The time the cached results took to compute: what a run that finds them all saves."""
        return sum(entry.seconds for entry in self.entries)


class CachePolicy(Protocol):
    """The interface every cache policy shares; picked by `--cache`."""

    def get(self, key: bytes) -> Any | None: ...
    def set(self, key: bytes, value: Any, origin: ResultOrigin = ResultOrigin()) -> None: ...
    def stats(self) -> CacheStats: ...
    def entries(self) -> list[CacheEntry]: ...
    def free(self) -> None: ...


class NoCache:
    """Keeps nothing between runs: every node runs every time."""

    def __init__(self) -> None:
        self._misses = 0

    def get(self, key: bytes) -> Any | None:
        self._misses += 1
        return None

    def set(self, key: bytes, value: Any, origin: ResultOrigin = ResultOrigin()) -> None:
        pass

    def stats(self) -> CacheStats:
        return CacheStats(entries=0, misses=self._misses)

    def entries(self) -> list[CacheEntry]:
        return []

    def free(self) -> None:
        pass


class LRUCache:
    """Least-recently-used eviction by bytes, with separate RAM and device budgets (None: unbounded)."""

    def __init__(self, ram_budget: int | None = None, device_budget: int | None = None, sizer: Sizer | None = None) -> None:
        self.ram_budget = ram_budget
        self.device_budget = device_budget
        self.sizer = sizer or Sizer()
        self._entries: OrderedDict[bytes, tuple[Any, dict[str, int], ResultOrigin]] = OrderedDict()
        self._bytes: dict[str, int] = {}
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[0]

    def set(self, key: bytes, value: Any, origin: ResultOrigin = ResultOrigin()) -> None:
        sizes = self.sizer.measure(value)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (value, sizes, origin)
            for device, nbytes in sizes.items():
                self._bytes[device] = self._bytes.get(device, 0) + nbytes
            self._evict()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(len(self._entries), {d: b for d, b in self._bytes.items() if b}, self._hits, self._misses)

    def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first."""
        with self._lock:
            held = [(key, dict(sizes), origin) for key, (_, sizes, origin) in self._entries.items()]
        return [CacheEntry(key.hex()[:KEY_HEX_CHARS], origin.class_type, sizes, origin.seconds, origin.model)
                for key, sizes, origin in held]

    def free(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes.clear()

    def _device_bytes(self) -> int:
        return sum(b for d, b in self._bytes.items() if d != HOST)

    def _over(self) -> tuple[bool, bool]:
        ram = self.ram_budget is not None and self._bytes.get(HOST, 0) > self.ram_budget
        device = self.device_budget is not None and self._device_bytes() > self.device_budget
        return ram, device

    def _evict(self) -> None:
        ram_over, device_over = self._over()
        if not (ram_over or device_over):
            return
        for key in list(self._entries):
            sizes = self._entries[key][1]
            holds_device = any(d != HOST and b for d, b in sizes.items())
            if (ram_over and sizes.get(HOST)) or (device_over and holds_device):
                self._drop(key)
                ram_over, device_over = self._over()
                if not (ram_over or device_over):
                    return

    def _drop(self, key: bytes) -> None:
        _, sizes, _ = self._entries.pop(key)
        for device, nbytes in sizes.items():
            self._bytes[device] -= nbytes
