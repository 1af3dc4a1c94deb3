"""The node registry: class_type -> NodeSpec, with the source each node came from."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from .specs import CORE_MODULE, NodeInterfaceError, NodeSpec, read_input_types, spec_from_class

log = logging.getLogger(__name__)


class DuplicateNodeError(ValueError):
    """A class_type that another source registered first."""


@dataclass
class RegistrationReport:
    """What happened to each class of one NODE_CLASS_MAPPINGS."""

    registered: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (class_type, reason)


class NodeRegistry:
    """Holds the typed spec of every known node class; built-ins are registered before plugins and win."""

    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}

    def register(self, class_type: str, cls: Any, *, display_name: str | None = None, source: str = "built-in",
                 python_module: str = CORE_MODULE) -> NodeSpec:
        """Read and register one class; raises NodeInterfaceError or DuplicateNodeError.

        `source` is for people (it may name a file); `python_module` is the module name ComfyUI clients group by."""
        existing = self._specs.get(class_type) if isinstance(class_type, str) else None
        if existing is not None:
            raise DuplicateNodeError(
                f"node {class_type!r} from {source} is refused: {existing.source} already registered it")
        spec = spec_from_class(class_type, cls, display_name=display_name, source=source, python_module=python_module)
        self._specs[class_type] = spec
        return spec

    def register_mappings(self, mappings: Any, display_names: Any = None, *, source: str,
                          python_module: str = CORE_MODULE,
                          python_modules: Mapping[str, str] | None = None) -> RegistrationReport:
        """Register a plugin's NODE_CLASS_MAPPINGS; a bad class is refused alone, the others still register.

        `python_modules` names the module of single classes where they differ from `python_module` (the built-ins
        give ComfyUI's own, e.g. comfy_extras.nodes_mask)."""
        if not isinstance(mappings, Mapping):
            raise NodeInterfaceError(f"NODE_CLASS_MAPPINGS must be a dict of name -> class, got {type(mappings).__name__}")
        if not isinstance(display_names, Mapping):
            display_names = {}
        report = RegistrationReport()
        for class_type, cls in mappings.items():
            try:
                name = display_names.get(class_type)
                module = (python_modules or {}).get(class_type, python_module)
                self.register(class_type, cls, display_name=name if isinstance(name, str) else None, source=source,
                              python_module=module)
            except (NodeInterfaceError, DuplicateNodeError) as exc:
                report.refused.append((str(class_type), str(exc)))
                log.warning("%s", exc)
            else:
                report.registered.append(class_type)
        return report

    def get(self, class_type: Any) -> NodeSpec | None:
        return self._specs.get(class_type) if isinstance(class_type, str) else None

    def refresh(self, class_type: str) -> NodeSpec | None:
        """Re-read INPUT_TYPES of one class: its combo choices may list files that changed on disk."""
        spec = self._specs.get(class_type)
        if spec is None:
            return None
        try:
            inputs, order = read_input_types(spec.cls, f"node {class_type!r}")
        except NodeInterfaceError as exc:
            log.warning("keeping the previous inputs of %s: %s", class_type, exc)
            return spec
        fresh = dataclasses.replace(spec, inputs=inputs, input_order=order)
        self._specs[class_type] = fresh
        return fresh

    def object_info(self) -> dict[str, dict[str, Any]]:
        """Every node in /object_info's shape, combo choices refreshed."""
        return {name: self.refresh(name).object_info() for name in list(self._specs)}

    def __contains__(self, class_type: object) -> bool:
        return class_type in self._specs

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)
