"""What the server asks of the part that runs prompts: the one local worker (web.worker), or a cluster's
dispatcher (cluster.dispatcher), which the application lends through `Services.make_runner`."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from graph_engine import CacheReport, Engine, ValidationReport
from graph_engine.prompt_queue import PromptQueue

from .client_hub import ClientHub
from .security import PathRedactor


@dataclass(frozen=True)
class WorkerStatus:
    """One worker as /cluster and /system_stats list it."""

    name: str
    state: str  # starting, idle, running, restarting, removed
    device: str = ""
    gpu_ids: tuple[int, ...] = ()  # the cluster's GPUs it holds
    host: str = ""
    pid: int | None = None  # its process, on `host`
    running: str | None = None  # the prompt it runs
    runs: int = 0  # prompts it finished
    model_loads: int = 0  # model-loading nodes it ran (not taken from its cache)
    recent: tuple[str, ...] = ()  # the prompts it ran last, oldest first
    cache: CacheReport = field(default_factory=CacheReport)


class PromptRunner(Protocol):
    """Takes prompts from the queue, runs them, and files their results."""

    validation_lock: threading.Lock  # validation (and registry reads) may refresh the registry's file lists

    def validate(self, prompt: Any, targets: list[str] | None = None) -> ValidationReport: ...

    def start(self) -> None: ...

    def notify(self) -> None:
        """A prompt was queued."""

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt `prompt_id` (every running one when None); False when none matched."""

    def stop(self, timeout: float = 5.0) -> None: ...

    def free(self, drop_results: bool, unload: bool) -> None:
        """ComfyUI's /free wherever prompts run: drop every cached result, and move the models off the device."""

    def running_client(self) -> str | None:
        """The client of the prompt that started last among those running (where a plugin's message goes)."""

    def workers(self) -> list[WorkerStatus]: ...


# (the server's engine, which validates; the queue; the websocket hub; the redactor) -> the runner
RunnerFactory = Callable[[Engine, PromptQueue, ClientHub, PathRedactor], PromptRunner]
