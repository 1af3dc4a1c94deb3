"""The parts of ComfyUI's modules that Latentloom does not offer, named where a plugin reaches for them.

A plugin importing `comfy.hooks`, or a name a shim lacks, fails to load with one line that says which ComfyUI module
or name it needs (`explain_import_failure`), so the user knows what is missing and the other plugins still load.
"""
from __future__ import annotations

import importlib
import importlib.abc
import re
from typing import Any, Callable

# ComfyUI's own top-level packages and modules: a plugin importing any part of them that no shim offers needs
# ComfyUI, not a module of its own
COMFYUI_PACKAGES = frozenset({"comfy", "comfy_extras", "comfy_execution", "comfy_api", "comfy_config", "execution",
                              "latent_preview", "app"})
# the shims offered as top-level modules (besides the packages above) and `nodes`, Latentloom's own
SHIM_MODULES = frozenset({"folder_paths", "node_helpers", "server", "nodes"})
_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)' from '([^']+)'")


def needs(name: str) -> str:
    """The line a plugin's report shows for a ComfyUI module or name that is missing here."""
    return f"this pack needs {name}, which Latentloom does not offer yet"


class ModuleNotOffered(ModuleNotFoundError):
    """A plugin imported a ComfyUI module Latentloom has no counterpart for."""

    def __init__(self, module: str) -> None:
        super().__init__(needs(module), name=module)


class AttributeNotOffered(AttributeError):
    """A plugin asked a shim for a name ComfyUI's module has and the shim does not (still an AttributeError, so
    `hasattr` probes answer False)."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(needs(f"{module}.{name}"))


def attribute_not_offered(module: str) -> Callable[[str], Any]:
    """A module-level `__getattr__` for a shim: every name it lacks is named as not offered."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # dunder probes (__path__, __wrapped__, ...) are answered as by any module
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        raise AttributeNotOffered(module, name)

    return __getattr__


def package_attributes(package: str, submodules: tuple[str, ...]) -> Callable[[str], Any]:
    """A package's `__getattr__` that loads its offered submodules on first use (`import comfy` then `comfy.utils`
    works, as in ComfyUI once started) and names the others as not offered."""
    not_offered = attribute_not_offered(package)

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")  # importing sets the attribute: asked only once
        return not_offered(name)

    return __getattr__


class NotOfferedFinder(importlib.abc.MetaPathFinder):
    """Last on sys.meta_path: a ComfyUI module that no shim or installed package provides is named, rather than
    reported as a bare "No module named ..."."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.partition(".")[0] in COMFYUI_PACKAGES:
            raise ModuleNotOffered(fullname)
        return None


def _is_comfyui_module(name: str | None) -> bool:
    top = (name or "").partition(".")[0]
    return top in COMFYUI_PACKAGES or top in SHIM_MODULES


def explain_import_failure(error: BaseException) -> str | None:
    """The "this pack needs comfy.X.Y ..." line for a plugin that failed on a missing ComfyUI module or name (or
    raised its own error from one: `raise ... from`); None for any other failure, whose own message says best what
    went wrong (an error met while handling an import error is not one caused by it)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ModuleNotOffered, AttributeNotOffered)):
            return str(current)
        if isinstance(current, ModuleNotFoundError) and (current.name or "").partition(".")[0] in COMFYUI_PACKAGES:
            return needs(current.name)
        if isinstance(current, ImportError) and _is_comfyui_module(current.name):
            missing = _CANNOT_IMPORT.match(str(current))
            if missing:  # `from comfy.utils import x`: Python turns the shim's answer into its own message
                return needs(f"{missing[2]}.{missing[1]}")
        current = current.__cause__
    return None
