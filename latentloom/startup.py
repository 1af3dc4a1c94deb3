"""Start-up: the installation's folders (one `Folders` value, handed to everything that reads files), the registry
of built-in and plugin nodes, the cache, the engine."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from graph_engine import (Engine, Folders, LRUCache, ModelRoot, NodeRegistry, NoCache, PluginReport, Sizer,
                          discover_plugins, load_plugins, using_folders)
from graph_engine.memory import available_memory

log = logging.getLogger(__name__)

CUSTOM_NODES_ENV = "LATENTLOOM_CUSTOM_NODES"
EXTRA_MODEL_PATHS_FILE = "extra_model_paths.yaml"


@dataclass
class Options:
    """The options every command shares."""

    base_dir: Path = field(default_factory=Path.cwd)
    models_dir: Path | None = None
    kind_dirs: dict[str, list[Path]] = field(default_factory=dict)  # --checkpoints-dir ...: kind -> folders
    extra_model_paths_configs: list[Path] = field(default_factory=list)  # --extra-model-paths-config
    input_dir: Path | None = None
    output_dir: Path | None = None
    extra_custom_nodes: list[Path] = field(default_factory=list)
    disable_custom_nodes: bool = False
    allow_custom_nodes: list[str] | None = None
    plugin_import_timeout: float = 60.0  # seconds; 0: no limit
    cache: str = "lru"
    cache_ram: int | None = None
    cache_device: int | None = None
    device_mode: str = "auto"  # auto, cpu, gpu_only, lowvram
    dtype: str = "auto"  # auto, fp32, fp16, bf16

    def anchored(self) -> Options:
        """These options with every folder and file absolute (from the working folder now): what a worker in another
        process, with another working folder, is given to read the same files."""
        def absolute(path: Path | None) -> Path | None:
            return None if path is None else Path(path).expanduser().absolute()

        return replace(self, base_dir=absolute(self.base_dir), models_dir=absolute(self.models_dir),
                       kind_dirs={kind: [absolute(p) for p in paths] for kind, paths in self.kind_dirs.items()},
                       extra_model_paths_configs=[absolute(p) for p in self.extra_model_paths_configs],
                       input_dir=absolute(self.input_dir), output_dir=absolute(self.output_dir),
                       extra_custom_nodes=[absolute(p) for p in self.extra_custom_nodes])

    def folders(self) -> Folders:
        """The installation these options describe, model roots included; ExtraModelPathsError (file, line,
        problem) when an extra_model_paths.yaml is malformed."""
        return Folders.under(self.base_dir, models=self.models_dir, input=self.input_dir, output=self.output_dir,
                             extra_model_roots=self.extra_model_roots())

    def extra_model_paths_files(self) -> list[Path]:
        """BASE/extra_model_paths.yaml (when present), then each --extra-model-paths-config, as ComfyUI reads them."""
        default = Path(self.base_dir) / EXTRA_MODEL_PATHS_FILE
        return ([default] if default.is_file() else []) + [Path(p) for p in self.extra_model_paths_configs]

    def extra_model_roots(self) -> list[ModelRoot]:
        """The model roots searched after BASE/models/<kind>: the --<kind>-dir folders, then the yaml files' folders
        (blocks with `is_default: true` first); kinds Latentloom does not load yet are kept, for `models paths` and
        plugins (folder_paths).

        Raises ExtraModelPathsError (file, line, problem) when a yaml file is malformed.
        """
        from model_library.extra_model_paths import read_extra_model_paths

        roots = [ModelRoot(kind, Path(folder).expanduser().resolve(), f"--{kind}-dir")
                 for kind, folders in self.kind_dirs.items() for folder in folders]
        listed = [entry for config in self.extra_model_paths_files() for entry in read_extra_model_paths(config)]
        listed.sort(key=lambda entry: not entry.is_default)  # stable: file order otherwise
        roots.extend(ModelRoot(entry.folder_name, entry.path,
                               f"{entry.config} [{entry.block}], line {entry.line}") for entry in listed)
        return roots

    def plugin_folders(self) -> list[Path]:
        """custom_nodes/ under the base folder (when present), then --extra-custom-nodes, then the env variable."""
        folders = []
        default = Path(self.base_dir) / "custom_nodes"
        if default.is_dir():
            folders.append(default)
        folders.extend(Path(p) for p in self.extra_custom_nodes)
        folders.extend(Path(p) for p in os.environ.get(CUSTOM_NODES_ENV, "").split(os.pathsep) if p)
        return folders


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def create_folders(folders: Folders) -> None:
    """Make the installation's folders on first use: models/<kind>, input, output, temp, user (the ones these
    `folders` name, defaults or given). Folders named for more models (--<kind>-dir, extra_model_paths.yaml) are
    never made: a mistyped one must show up as missing (`latentloom models paths`), not as a new empty folder."""
    from model_library.kinds import KINDS

    folders.create()
    for kind in KINDS:
        (folders.models / kind).mkdir(exist_ok=True)


def build_registry(options: Options, folders: Folders) -> tuple[NodeRegistry, list[PluginReport]]:
    """Built-ins first (they win every name clash), then each plugin in isolation; `folders` (the installation the
    options describe) are current meanwhile, so the combo lists of files (INPUT_TYPES) and plugins' imports see
    them."""
    import nodes

    with using_folders(folders):
        registry = NodeRegistry()
        nodes.register_builtins(registry)
        if options.disable_custom_nodes:
            return registry, []
        from nodes.comfy_compat import explain_import_failure, install_comfy_modules

        install_comfy_modules(folders)  # folder_paths, comfy.*, server ... for ComfyUI plugins
        sources = discover_plugins(options.plugin_folders())
        return registry, load_plugins(registry, sources, allow=options.allow_custom_nodes,
                                      import_timeout=options.plugin_import_timeout or None,
                                      explain_failure=explain_import_failure)  # "this pack needs comfy.sd ..."


def build_cache(options: Options):
    from nodes.runtime.cache_sizes import register_torch_sizes

    if options.cache == "none":
        return NoCache()
    ram = options.cache_ram
    if ram is None:
        total = physical_memory()
        ram = total // 2 if total else None
    return LRUCache(ram_budget=ram, device_budget=options.cache_device, sizer=register_torch_sizes(Sizer()))


def build_engine(options: Options) -> tuple[Engine, list[PluginReport]]:
    """The engine with the built-in and plugin nodes; device settings are recorded for the first model load, and the
    C heap keeps the CPU memory a node frees for its own next steps (nodes/runtime/devices/host_heap.py)."""
    from nodes.runtime.devices import DeviceSettings, request_device_settings
    from nodes.runtime.devices.host_heap import keep_freed_memory

    request_device_settings(DeviceSettings(mode=options.device_mode, dtype=options.dtype))
    keep_freed_memory()
    folders = options.folders()  # built once: the engine, its registry and its plugins share this one value
    registry, reports = build_registry(options, folders)
    cache = build_cache(options)
    return Engine(registry, folders, cache=cache, call_wrapper=memory_retry(cache),
                  memory_budget=available_memory), reports


def memory_retry(cache):
    """Node calls that run out of device memory are retried once after the cache and the models are freed; after
    each node the calling thread gets IEEE floats back (nodes.runtime.devices.denormals) and, after one that
    computed for a while, the memory freed goes back to the system (nodes.runtime.devices.host_heap)."""
    from nodes.runtime.devices import run_with_memory_retry
    from nodes.runtime.devices.denormals import keep_ieee_floats
    from nodes.runtime.devices.host_heap import freed_memory_returned

    def call_node(call, node):
        with freed_memory_returned():
            try:
                return run_with_memory_retry(call, node=node, free_caches=cache.free)
            finally:
                keep_ieee_floats()

    return call_node
