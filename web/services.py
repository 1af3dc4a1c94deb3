"""What the application lends the server: the engine, the queue, and the few device and model hooks (web stays
free of torch and of the diffusion nodes)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from graph_engine import Engine
from graph_engine.prompt_queue import PromptQueue

from .runner import RunnerFactory

MiB = 1 << 20


class ServiceError(Exception):
    """A failure of a service whose message is written for the user (sent to the client as it is, redacted)."""


@dataclass
class ServerSettings:
    """Where the server listens and the limits it puts on requests."""

    host: str = "127.0.0.1"
    port: int = 8188
    auth_token: str | None = None  # required on every route and the websocket when set
    max_json_bytes: int = 16 * MiB
    max_upload_bytes: int = 64 * MiB
    max_upload_pixels: int = 64_000_000
    max_history: int = 10000
    max_running_installs: int = 2  # model downloads at once, on threads of their own
    max_waiting_installs: int = 8  # more installs wait in line; beyond that a client gets 429
    front_end_root: Path | None = None  # a built web app served at / (ComfyUI's frontend); None: the canvas


@dataclass
class Services:
    """The parts of the application the routes use."""

    engine: Engine
    queue: PromptQueue
    list_models: Callable[[str], list[str]]  # a model folder name -> its files
    model_folder_names: list[str]
    device_stats: Callable[[], dict[str, Any]]  # {"pytorch_version", "devices": [...]} (imports torch)
    unload_models: Callable[[], None]
    # loads what a first run needs (torch, the model code, the tokenizer) once HTTP is up, on the worker's thread
    # before its first prompt; reports its own failures; starts no further step once its event is set (a prompt
    # waits, or the server stops)
    preload: Callable[[threading.Event], object] = lambda stop: None
    # a model folder name -> what each of its files is ({"name", "kind", "architecture", "training", ...}); hashes
    # only when already known, so a listing never stalls on hashing gigabytes
    describe_models: Callable[[str], list[dict[str, Any]]] = lambda folder: []
    # (source, {"kind", "name", "revision"}, progress(done, total)) -> {"model": entry, "message", "already_there"};
    # raises ServiceError with advice when the source cannot be installed
    install_model: Callable[[str, dict[str, Any], Callable[[int, int | None], None]], dict[str, Any]] | None = None
    # raises ServiceError (at once, by syntax) for a source that is not a URL or a Hugging Face file
    check_install_source: Callable[[str], None] | None = None
    web_directories: dict[str, Path] = field(default_factory=dict)  # plugin name -> its WEB_DIRECTORY
    plugin_folders: dict[str, Path] = field(default_factory=dict)  # plugin name -> its package folder (locales...)
    template_folders: list[Path] = field(default_factory=list)  # comfyui-workflow-templates' folders, served first
    # ComfyUI's model browser: a model folder name -> the folders searched for it, in order (the pathIndex of a file)
    model_roots: Callable[[str], list[Path]] = lambda folder: []
    # a model folder name -> its files as ComfyUI's /experiment/models/{folder} lists them ({"name", "pathIndex",
    # "modified", "created", "size"})
    model_files: Callable[[str], list[dict[str, Any]]] = lambda folder: []
    # (model folder, file name) -> the safetensors `__metadata__`, None when there is none or no such file;
    # ValueError when the name leaves the folder
    model_metadata: Callable[[str, str], dict[str, str] | None] = lambda folder, name: None
    # an AUTOMATIC1111 `parameters` text -> the API-format prompt, naming this installation's model files (may hash
    # them); raises WorkflowFormatError saying what it cannot read; None where the diffusion nodes are not loaded
    prompt_from_parameters: Callable[[str], dict[str, Any]] | None = None
    # what runs the prompts instead of one worker thread on `engine` (a cluster's dispatcher); None: that thread
    make_runner: RunnerFactory | None = None
