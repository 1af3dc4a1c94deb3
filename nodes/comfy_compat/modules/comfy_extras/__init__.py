"""ComfyUI's `comfy_extras` package for plugins: `comfy_extras.nodes_mask` and each other module of ComfyUI whose
nodes Latentloom offers, holding our node classes (see nodes.comfy_compat.extras); the others are named as not
offered when imported."""
from __future__ import annotations

import sys

from nodes.comfy_compat.extras import extras_modules
from nodes.comfy_compat.not_offered import attribute_not_offered


def _install() -> None:
    """Each module under its full name, so `import comfy_extras.nodes_mask` finds it, and as this package's
    attribute."""
    package = sys.modules[__name__]
    for full_name, module in extras_modules().items():
        module.__package__ = __name__
        sys.modules.setdefault(full_name, module)
        setattr(package, full_name.rpartition(".")[2], sys.modules[full_name])


_install()

__getattr__ = attribute_not_offered(__name__)  # a ComfyUI module whose nodes we do not offer
