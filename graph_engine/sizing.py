"""Counting the bytes a cached result holds, per device, without the engine importing torch."""
from __future__ import annotations

import sys
from typing import Any, Callable

HOST = "cpu"  # bytes in RAM; every other device name counts against the device budget

SizeFunction = Callable[[Any], dict[str, int]]

# how a type is measured, decided once per type
_LEAF, _MAPPING, _SEQUENCE, _DATACLASS = range(4)


class Sizer:
    """Measures values by walking containers; leaf types get a registered size function or sys.getsizeof.

    Containers (dicts, lists, tuples, sets, dataclasses such as NodeResult) are walked; other
    objects are not (their attributes may reach anything): a type that holds big buffers
    registers its own size function. Size functions are registered by the type's qualified
    name ("torch.Tensor"), so the engine can count tensors without importing torch; subclasses
    match through their MRO.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, SizeFunction] = {}
        self._by_type: dict[type, SizeFunction | int] = {}

    def register(self, qualified_type_name: str, size: SizeFunction) -> None:
        self._by_name[qualified_type_name] = size
        self._by_type.clear()

    def _how(self, klass: type) -> SizeFunction | int:
        for base in klass.__mro__:
            found = self._by_name.get(f"{base.__module__}.{base.__qualname__}")
            if found is not None:
                return found
        if issubclass(klass, dict):
            return _MAPPING
        if issubclass(klass, (list, tuple, set, frozenset)):
            return _SEQUENCE
        if hasattr(klass, "__dataclass_fields__"):
            return _DATACLASS
        return _LEAF

    def measure(self, value: Any) -> dict[str, int]:
        """Bytes per device held by `value`; a shared object is counted once."""
        totals: dict[str, int] = {}
        host = 0
        seen: set[int] = set()
        stack = [value]
        by_type = self._by_type
        while stack:
            item = stack.pop()
            if id(item) in seen:
                continue
            seen.add(id(item))
            how = by_type.get(type(item))
            if how is None:
                how = by_type[type(item)] = self._how(type(item))
            if not isinstance(how, int):
                for device, nbytes in how(item).items():
                    totals[device] = totals.get(device, 0) + nbytes
                continue
            host += sys.getsizeof(item)
            if how == _MAPPING:
                stack.extend(item.values())
            elif how == _SEQUENCE:
                stack.extend(item)
            elif how == _DATACLASS:
                stack.extend(getattr(item, name) for name in type(item).__dataclass_fields__)
        if host:
            totals[HOST] = totals.get(HOST, 0) + host
        return totals
