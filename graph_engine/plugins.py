"""Plugins: node packs from folders and entry points, each imported in isolation."""
from __future__ import annotations

import importlib.util
import logging
import sys
import time
import zlib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

from .registry import NodeRegistry
from .specs import NodeInterfaceError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latentloom.nodes"


@dataclass(frozen=True)
class PluginSource:
    """Where one plugin lives: a package folder, a single module file, or an installed entry point."""

    name: str
    path: Path | None = None
    entry_point: EntryPoint | None = None

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else f"entry point {self.entry_point.value}"


@dataclass
class PluginReport:
    """The outcome of loading one plugin, for the start-up log and `latentloom nodes`."""

    name: str
    location: str
    nodes: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    web_directory: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _plugins_in(folder: Path) -> list[PluginSource]:
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or entry.name.endswith(".disabled"):
            continue
        if entry.is_dir() and (entry / "__init__.py").is_file():
            found.append(PluginSource(entry.name, entry))
        elif entry.is_file() and entry.suffix == ".py":
            found.append(PluginSource(entry.stem, entry))
    return found


def discover_plugins(folders: Iterable[Path], *, group: str = ENTRY_POINT_GROUP) -> list[PluginSource]:
    """Every package and module in `folders`, then every entry point of `group`; missing folders are skipped."""
    sources: list[PluginSource] = []
    for folder in folders:
        folder = Path(folder)
        if folder.is_dir():
            sources.extend(_plugins_in(folder))
        else:
            log.warning("plugin folder %s does not exist; skipping it", folder)
    sources.extend(PluginSource(ep.name, entry_point=ep) for ep in entry_points(group=group))
    return sources


def _module_name(source: PluginSource) -> str:
    """The plugin's own name, as ComfyUI uses, unless that would replace a module already imported."""
    name = source.name.replace("-", "_").replace(" ", "_").replace(".", "_")
    if name in sys.modules or not name.isidentifier():
        name = f"latentloom_plugin_{zlib.crc32(str(source.path).encode()):08x}_{name if name.isidentifier() else 'pack'}"
    return name


def _import_path(source: PluginSource) -> ModuleType:
    name = _module_name(source)
    path = source.path
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(name, path / "__init__.py", submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[loaded]
        raise
    return module


def _web_directory(module: Any, source: PluginSource) -> Path | None:
    declared = getattr(module, "WEB_DIRECTORY", None)
    if not isinstance(declared, str) or source.path is None:
        return None
    root = source.path if source.path.is_dir() else source.path.parent
    folder = (root / declared).resolve()
    return folder if folder.is_dir() else None


def load_plugin(registry: NodeRegistry, source: PluginSource) -> PluginReport:
    """Import one plugin and register its nodes; any failure is reported, never raised."""
    report = PluginReport(source.name, source.location)
    started = time.perf_counter()
    try:
        loaded = source.entry_point.load() if source.entry_point is not None else _import_path(source)
        mappings = loaded if isinstance(loaded, dict) else getattr(loaded, "NODE_CLASS_MAPPINGS", None)
        if mappings is None:
            raise NodeInterfaceError("it has no NODE_CLASS_MAPPINGS")
        display_names = getattr(loaded, "NODE_DISPLAY_NAME_MAPPINGS", None)
        outcome = registry.register_mappings(mappings, display_names, source=f"plugin {source.name} ({source.location})")
        report.nodes, report.refused = outcome.registered, outcome.refused
        report.web_directory = _web_directory(loaded, source)
    except BaseException as exc:  # a plugin may even call sys.exit(); start-up must go on
        if isinstance(exc, KeyboardInterrupt):
            raise
        report.error = f"{type(exc).__name__}: {exc}"
        log.debug("plugin %s failed to import", source.name, exc_info=exc)
    report.seconds = time.perf_counter() - started
    return report


def load_plugins(registry: NodeRegistry, sources: Iterable[PluginSource],
                 allow: Iterable[str] | None = None) -> list[PluginReport]:
    """Load each plugin in turn (only those named in `allow`, when given) and log one line for each."""
    allowed = set(allow) if allow is not None else None
    reports = []
    for source in sources:
        if allowed is not None and source.name not in allowed:
            log.info("plugin %s skipped: not in --allow-custom-nodes", source.name)
            continue
        report = load_plugin(registry, source)
        reports.append(report)
        if report.ok:
            log.info("plugin %s: %d node(s) in %.1f ms (%s)", report.name, len(report.nodes), report.seconds * 1000,
                     report.location)
        else:
            log.error("plugin %s failed to load (%s): %s; the other plugins are unaffected", report.name,
                      report.location, report.error)
    return reports
