"""Plugins: node packs from folders and entry points, each imported in isolation and within a time limit.

A plugin's import is arbitrary code: it may loop forever or end the process (`os._exit`). So each import is
announced in the log before it starts (the last line then names the culprit), and runs on a daemon thread that
start-up stops waiting for after the time limit: the plugin is reported as failed and left out. Such a thread
cannot be stopped; it keeps running unseen, and its half-imported module stays in sys.modules so no later module
takes its name. Import locks are per module since Python 3.3, so it blocks no other plugin's or the server's
imports, only those of the modules it is itself importing.
"""
from __future__ import annotations

import contextvars
import importlib.util
import logging
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

from .registry import NodeRegistry
from .specs import NodeInterfaceError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "latentloom.nodes"

# Says in the user's words why a plugin failed to import (a module of the host application it needs and that is
# missing, say); None leaves the exception's own message.
FailureExplainer = Callable[[BaseException], "str | None"]


@dataclass(frozen=True)
class PluginSource:
    """Where one plugin lives: a package folder, a single module file, or an installed entry point."""

    name: str
    path: Path | None = None
    entry_point: EntryPoint | None = None

    @property
    def location(self) -> str:
        return str(self.path) if self.path is not None else f"entry point {self.entry_point.value}"

    @property
    def python_module(self) -> str:
        """What ComfyUI calls the pack in /object_info: `custom_nodes.<folder or file name>`; an entry point by its
        name. Never a path: clients group nodes by it, and it must not show where the server keeps files."""
        return f"custom_nodes.{self.name}"


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


class PluginImportTimeout(Exception):
    """A plugin's import went on past the time limit; the message says so in the user's words."""


def _import(source: PluginSource) -> Any:
    return source.entry_point.load() if source.entry_point is not None else _import_path(source)


def _import_within(source: PluginSource, timeout: float | None) -> Any:
    """The plugin's module (or an entry point's object); on a daemon thread given up after `timeout` seconds
    (None: on this thread, without a limit, for plugins that must import on the main thread)."""
    if timeout is None:
        return _import(source)
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["loaded"] = _import(source)
        except BaseException as exc:  # handed to the waiting thread, which reports it
            outcome["error"] = exc
        finally:
            finished.set()

    # the import sees what the caller's thread sees, the installation's folders (current_folders()) included
    threading.Thread(target=contextvars.copy_context().run, args=(run,), name=f"plugin-import-{source.name}",
                     daemon=True).start()
    if not finished.wait(timeout):
        raise PluginImportTimeout(f"did not finish importing in {timeout:g} s; it was left out (it may go on "
                                  f"running in the background; raise --plugin-import-timeout if it is only slow)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["loaded"]


def load_plugin(registry: NodeRegistry, source: PluginSource, import_timeout: float | None = None,
                explain_failure: FailureExplainer | None = None) -> PluginReport:
    """Import one plugin (within `import_timeout` seconds, when given) and register its nodes; any failure is
    reported (in `explain_failure`'s words when it has some), never raised."""
    report = PluginReport(source.name, source.location)
    started = time.perf_counter()
    try:
        loaded = _import_within(source, import_timeout)
        mappings = loaded if isinstance(loaded, dict) else getattr(loaded, "NODE_CLASS_MAPPINGS", None)
        if mappings is None:
            raise NodeInterfaceError("it has no NODE_CLASS_MAPPINGS")
        display_names = getattr(loaded, "NODE_DISPLAY_NAME_MAPPINGS", None)
        outcome = registry.register_mappings(mappings, display_names, source=f"plugin {source.name} ({source.location})",
                                             python_module=source.python_module)
        report.nodes, report.refused = outcome.registered, outcome.refused
        report.web_directory = _web_directory(loaded, source)
    except BaseException as exc:  # a plugin may even call sys.exit(); start-up must go on
        if isinstance(exc, KeyboardInterrupt):
            raise
        explained = explain_failure(exc) if explain_failure is not None else None
        report.error = explained or (str(exc) if isinstance(exc, PluginImportTimeout) else f"{type(exc).__name__}: {exc}")
        log.debug("plugin %s failed to import", source.name, exc_info=exc)
    report.seconds = time.perf_counter() - started
    return report


def load_plugins(registry: NodeRegistry, sources: Iterable[PluginSource], allow: Iterable[str] | None = None,
                 import_timeout: float | None = None,
                 explain_failure: FailureExplainer | None = None) -> list[PluginReport]:
    """Load each plugin in turn (only those named in `allow`, when given), each import within `import_timeout`
    seconds (None: no limit); log a line before each import and one with its outcome."""
    allowed = set(allow) if allow is not None else None
    reports = []
    for source in sources:
        if allowed is not None and source.name not in allowed:
            log.info("plugin %s skipped: not in --allow-custom-nodes", source.name)
            continue
        log.info("loading plugin %s (%s)", source.name, source.location)
        report = load_plugin(registry, source, import_timeout, explain_failure)
        reports.append(report)
        if report.ok:
            log.info("plugin %s: %d node(s) in %.1f ms (%s)", report.name, len(report.nodes), report.seconds * 1000,
                     report.location)
        else:
            log.error("plugin %s failed to load (%s): %s; the other plugins are unaffected", report.name,
                      report.location, report.error)
    return reports
