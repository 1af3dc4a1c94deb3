"""Package exports that import their module on first use, so that importing a package loads no torch."""
from __future__ import annotations

from importlib import import_module
from typing import Any, Callable


def lazy_attributes(package: str, table: dict[str, str]) -> Callable[[str], Any]:
    """A module-level __getattr__ that imports `package.<table[name]>` when `name` is first asked for."""

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(import_module(f"{package}.{table[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
