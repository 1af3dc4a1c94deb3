"""ComfyUI's `comfy_extras.nodes_*` modules built from our node table: each holds our node classes under ComfyUI's
class names, its NODE_CLASS_MAPPINGS and NODE_DISPLAY_NAME_MAPPINGS, and the helper functions plugins import from it
where ours have the same signature and meaning."""
from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS_PACKAGE = "comfy_extras"

# ComfyUI helper functions plugins import from a comfy_extras module -> ours ("module:function"), same signature
HELPERS: dict[str, dict[str, str]] = {
    "comfy_extras.nodes_mask": {"composite": "nodes.masks.paste:composite"},
}


def _helper(target: str) -> object:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def extras_modules() -> dict[str, ModuleType]:
    """ComfyUI's module name -> a module of the nodes we offer from it, for every comfy_extras module in the table."""
    import nodes

    built: dict[str, ModuleType] = {}
    for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
        python_module = nodes.NODE_PYTHON_MODULES[name]
        if not python_module.startswith(f"{EXTRAS_PACKAGE}."):
            continue
        module = built.get(python_module)
        if module is None:
            module = built[python_module] = ModuleType(python_module, f"Latentloom's nodes of ComfyUI's {python_module}")
            module.NODE_CLASS_MAPPINGS, module.NODE_DISPLAY_NAME_MAPPINGS = {}, {}
            for helper, target in HELPERS.get(python_module, {}).items():
                setattr(module, helper, _helper(target))
        setattr(module, name, cls)
        module.NODE_CLASS_MAPPINGS[name] = cls
        if name in nodes.NODE_DISPLAY_NAME_MAPPINGS:
            module.NODE_DISPLAY_NAME_MAPPINGS[name] = nodes.NODE_DISPLAY_NAME_MAPPINGS[name]
    return built
