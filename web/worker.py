"""The one worker thread: takes prompts from the queue in order, runs them on the engine, files the results."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar

from graph_engine import Engine, RunError, ValidationReport, events
from graph_engine.prompt_queue import PromptQueue, QueueItem, QueueStorageFull, RunStatus

from .client_hub import ClientHub, preview_jpeg
from .progress_state import PromptProgress
from .security import PathRedactor

log = logging.getLogger(__name__)
T = TypeVar("T")
STORAGE_RETRY = 2.0  # seconds between tries to write the queue while the disk is full


class PromptWorker:
    """Runs queued prompts one at a time; events go to the websocket hub as they happen."""

    def __init__(self, engine: Engine, queue: PromptQueue, hub: ClientHub, redact: PathRedactor,
                 preload: Callable[[threading.Event], object] = lambda stop: None) -> None:
        self.engine = engine
        self.preload = preload  # run first on the worker's thread: a prompt never races it for the same imports
        self.queue = queue
        self.hub = hub
        self.redact = redact
        self.validation_lock = threading.Lock()  # validation may refresh the registry's file lists
        self.current: QueueItem | None = None
        self.progress = PromptProgress()  # the running prompt's node states, for progress_state messages
        self._wake = threading.Event()
        self._stopping = threading.Event()
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

    def _when_stored(self, write: Callable[[], T]) -> T | None:
        """A queue write, tried again every STORAGE_RETRY seconds while the disk is full (the worker must outlive
        a full disk, and finish filing the prompt it ran once there is room); None when the server stops first."""
        waited = False
        while not self._stopping.is_set():
            try:
                result = write()
            except QueueStorageFull as exc:
                if not waited:
                    log.error("%s: the queue waits until there is room (free some disk space)", exc.strerror)
                waited = True
                self._stopping.wait(STORAGE_RETRY)
                continue
            if waited:
                log.info("the queue can be written again")
            return result
        return None

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
            item = self._when_stored(self.queue.take)
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
                error = RunError(item.prompt_id, str(exc), type(exc).__name__)
                outputs, status = {}, RunStatus("error", False, [[events.EXECUTION_ERROR, error.to_json()]])
            self._when_stored(lambda: self.queue.finish(item.prompt_id, outputs, status))
            self.current = None
            self.hub.queue_changed_threadsafe()

    def _run(self, item: QueueItem) -> tuple[dict, RunStatus]:
        # files may have changed since the prompt was queued; only the outputs chosen then run (and are checked)
        report = self.validate(item.prompt, item.outputs_to_execute or None)
        if not report.outputs:
            return {}, self._refused(item, report)
        result = self.engine.execute(report, item.prompt, prompt_id=item.prompt_id, extra_data=item.extra_data)
        messages = [[event, self._for_clients(event, data)] for event, data in result.messages]
        return self.redact(result.outputs), RunStatus("success" if result.ok else "error", result.ok, messages)

    def _refused(self, item: QueueItem, report: ValidationReport) -> RunStatus:
        """The prompt no longer validates (e.g. a model file was removed while it waited)."""
        node_id, errors = next(iter(report.node_errors.items()), (None, None))
        error = RunError(item.prompt_id, self.redact.text("; ".join(report.lines())), "WorkflowInvalid",
                         node_id=node_id, node_type=errors.class_type if errors else None).to_json()
        self.hub.send_threadsafe(events.EXECUTION_START, {"prompt_id": item.prompt_id}, item.client_id)
        self.hub.send_threadsafe(events.EXECUTION_ERROR, error, item.client_id)
        self.hub.send_threadsafe(events.EXECUTING, {"node": None, "display_node": None,
                                                    "prompt_id": item.prompt_id}, item.client_id)
        return RunStatus("error", False, [[events.EXECUTION_ERROR, error]])

    def _for_clients(self, event: str, data: dict) -> dict:
        """What a client may see: no traceback, no server paths (the log keeps both)."""
        if event == events.EXECUTION_ERROR:
            data = {**data, "traceback": []}
        return self.redact(data)

    def _forward(self, event: str, data: dict[str, Any]) -> None:
        """Engine events (on this thread) to the client that queued the running prompt: each as its ComfyUI message,
        and those that change a node's state also as one progress_state message with every node's state."""
        current = self.current
        client_id = current.client_id if current is not None else None
        changed = self.progress.update(event, data)
        if event == events.PREVIEW:
            if client_id is not None and self.hub.wants_previews(client_id):
                metadata = {**self.progress.ids_of(data["node"]), "prompt_id": data["prompt_id"]}
                self.hub.send_preview_threadsafe(preview_jpeg(data["image"]), metadata, client_id)
        elif event not in (events.NODE_STARTED, events.NODE_FINISHED):  # they have no ComfyUI message of their own
            self.hub.send_threadsafe(event, self._for_clients(event, data), client_id)
        if changed and self.hub.listening(client_id):
            self.hub.send_threadsafe("progress_state", self.progress.snapshot(), client_id)
