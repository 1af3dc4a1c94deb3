"""The one local worker thread: takes prompts from the queue in order, runs them on the engine, files the results."""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Callable

from graph_engine import Engine, ValidationReport
from graph_engine.prompt_queue import PromptQueue, QueueItem

from .client_hub import ClientHub
from .progress_state import PromptProgress
from .run_reporter import RunReporter
from .runner import WorkerStatus
from .security import PathRedactor

log = logging.getLogger(__name__)


class PromptWorker:
    """Runs queued prompts one at a time; events go to the websocket hub as they happen."""

    def __init__(self, engine: Engine, queue: PromptQueue, hub: ClientHub, redact: PathRedactor,
                 preload: Callable[[threading.Event], object] = lambda stop: None,
                 unload_models: Callable[[], None] = lambda: None) -> None:
        self.engine = engine
        self.preload = preload  # run first on the worker's thread: a prompt never races it for the same imports
        self.unload_models = unload_models
        self.queue = queue
        self.hub = hub
        self.validation_lock = threading.Lock()  # validation may refresh the registry's file lists
        self.current: QueueItem | None = None
        self.progress = PromptProgress()  # the running prompt's node states, for progress_state messages
        self.runs = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.reporter = RunReporter(queue, hub, redact, self._stopping)
        self._preloading = threading.Event()
        self._preload_stop = threading.Event()  # a prompt waits or the server stops: no further preload step starts
        self._thread = threading.Thread(target=self._loop, name="latentloom-worker", daemon=True)
        self._unsubscribe = engine.events.subscribe(self._forward)

    def validate(self, prompt: Any, targets: list[str] | None = None) -> ValidationReport:
        with self.validation_lock:
            return self.engine.validate(prompt, targets)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """A prompt was queued: it runs as soon as the preload step under way ends (it imports what it needs itself,
        which is never more than the rest of the preload, and often less)."""
        self._preload_stop.set()
        self._wake.set()

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt (only if it is `prompt_id`, when given); False when nothing matched."""
        current = self.current
        if current is None or (prompt_id is not None and current.prompt_id != prompt_id):
            return False
        self.engine.interrupt()
        return True

    def running_client(self) -> str | None:
        current = self.current
        return current.client_id if current is not None else None

    def workers(self) -> list[WorkerStatus]:
        current = self.current
        return [WorkerStatus("local", "running" if current else "idle", host=socket.gethostname(), pid=os.getpid(),
                             running=current.prompt_id if current else None,
                             runs=self.runs, cache=self.engine.cache_report())]

    def free(self, drop_results: bool, unload: bool) -> None:
        if drop_results:
            self.engine.free()
        if unload:
            self.unload_models()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the running prompt (interrupted) is filed. A worker still loading ahead has nothing to file: it
        is not waited for (an import cannot be interrupted, and may take seconds), and ends with the process."""
        self._stopping.set()
        self._preload_stop.set()
        self.interrupt()
        self._wake.set()
        if self._preloading.is_set():
            log.info("the worker is still loading ahead of the first run: not waiting for it")
        else:
            self._thread.join(timeout)
        self._unsubscribe()

    def _loop(self) -> None:
        if self.queue.count_remaining():  # prompts kept from the last run come first
            self._preload_stop.set()
        self._preloading.set()
        try:
            self.preload(self._preload_stop)
        except Exception:  # the hook reports its own failures; the worker must start regardless
            log.exception("loading ahead of the first run failed")
        finally:
            self._preloading.clear()
        while not self._stopping.is_set():
            item = self.reporter.when_stored(self.queue.take)
            if item is None:
                self._wake.wait()
                self._wake.clear()
                continue
            self.engine.clear_interrupt()  # from here on, an interrupt is for this prompt, even before it runs
            self.current = item
            self.hub.queue_changed_threadsafe()
            try:
                outputs, status = self._run(item)
            except Exception as exc:  # the worker must outlive any prompt
                log.exception("prompt %s failed outside any node", item.prompt_id)
                outputs, status = self.reporter.crashed(item, exc)
            self.reporter.file(item, outputs, status)
            self.runs += 1
            self.current = None
            self.hub.queue_changed_threadsafe()

    def _run(self, item: QueueItem):
        # files may have changed since the prompt was queued; only the outputs chosen then run (and are checked)
        report = self.validate(item.prompt, item.outputs_to_execute or None)
        if not report.outputs:
            return {}, self.reporter.refused(item, report)
        result = self.engine.execute(report, item.prompt, prompt_id=item.prompt_id, extra_data=item.extra_data)
        return self.reporter.ran(result.ok, result.outputs, result.messages)

    def _forward(self, event: str, data: dict[str, Any]) -> None:
        """Engine events (on this thread) to the client that queued the running prompt."""
        self.reporter.forward(self.current, self.progress, event, data)
