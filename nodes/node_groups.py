"""Node classes gathered from the modules that define them, each with ComfyUI's module name for it.

/object_info's `python_module` says where ComfyUI keeps a node (`nodes` for its core ones, `comfy_extras.nodes_mask`
...): clients group nodes by it. Each node module states its ComfyUI module once (`PYTHON_MODULE`, default `nodes`);
a package gathers its modules, and `nodes` gathers the packages, with this one function.
"""
from __future__ import annotations

from types import ModuleType

from graph_engine.specs import CORE_MODULE


def gather(*modules: ModuleType) -> tuple[dict[str, type], dict[str, str], dict[str, str]]:
    """NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS and NODE_PYTHON_MODULES of `modules` merged.

    A module gives its own NODE_PYTHON_MODULES (a package that gathered) or PYTHON_MODULE for all its nodes. A class
    name given twice is a mistake in our node set, raised at import rather than one node silently hiding another.
    """
    classes: dict[str, type] = {}
    display_names: dict[str, str] = {}
    python_modules: dict[str, str] = {}
    for module in modules:
        own = getattr(module, "NODE_PYTHON_MODULES", None)
        for name, cls in module.NODE_CLASS_MAPPINGS.items():
            if name in classes:
                raise ValueError(f"node {name!r} is defined twice: in {classes[name].__module__} and {cls.__module__}")
            classes[name] = cls
            python_modules[name] = own[name] if own is not None else getattr(module, "PYTHON_MODULE", CORE_MODULE)
        display_names.update(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}))
    return classes, display_names, python_modules
