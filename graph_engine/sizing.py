"""Counting the bytes a cached result holds, per device, without the engine importing torch."""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable

HOST = "cpu"  # bytes in RAM; every other device name counts against the device budget

SizeFunction = Callable[[Any], dict[str, int]]


class Sizer:
    """Measures values by walking containers; leaf types get a registered size function or sys.getsizeof.

    Containers (dicts, lists, tuples, sets, dataclasses such as NodeResult) are walked; other
    objects are not (their attributes may reach anything): a type that holds big buffers
    registers its own size function.

    Size functions are registered by the type's qualified name ("torch.Tensor"), so the
    engine can count tensors without importing torch; subclasses match through their MRO.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, SizeFunction] = {}

    def register(self, qualified_type_name: str, size: SizeFunction) -> None:
        self._by_name[qualified_type_name] = size

    def _function_for(self, value: Any) -> SizeFunction | None:
        if not self._by_name:
            return None
        for klass in type(value).__mro__:
            found = self._by_name.get(f"{klass.__module__}.{klass.__qualname__}")
            if found is not None:
                return found
        return None

    def measure(self, value: Any) -> dict[str, int]:
        """Bytes per device held by `value`; a shared object is counted once."""
        totals: dict[str, int] = {}
        seen: set[int] = set()
        stack = [value]
        while stack:
            item = stack.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            size = self._function_for(item)
            if size is not None:
                for device, nbytes in size(item).items():
                    totals[device] = totals.get(device, 0) + nbytes
                continue
            totals[HOST] = totals.get(HOST, 0) + sys.getsizeof(item)
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple, set, frozenset)):
                stack.extend(item)
        return totals
