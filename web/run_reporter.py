"""What every prompt runner shares (the one local worker, a cluster's dispatcher): a run's events to the client that
queued it, and its result, refusal or crash filed in the queue as a client may see it."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, TypeVar

from graph_engine import RunError, ValidationReport, events
from graph_engine.prompt_queue import PromptQueue, QueueItem, QueueStorageFull, RunStatus

from .client_hub import ClientHub, preview_jpeg
from .progress_state import PromptProgress
from .security import PathRedactor

log = logging.getLogger(__name__)
T = TypeVar("T")
STORAGE_RETRY = 2.0  # seconds between tries to write the queue while the disk is full


class RunReporter:
    """Sends a prompt's events as ComfyUI messages and files how it ended; `stopping` ends the waits on a full
    disk."""

    def __init__(self, queue: PromptQueue, hub: ClientHub, redact: PathRedactor, stopping: threading.Event) -> None:
        self.queue = queue
        self.hub = hub
        self.redact = redact
        self.stopping = stopping

    def forward(self, item: QueueItem | None, progress: PromptProgress, event: str, data: dict[str, Any]) -> None:
        """One engine event of `item`'s run to the client that queued it: as its ComfyUI message, and, when it changes
        a node's state, as one progress_state message with every node's state. A preview carries a PIL `image`, or
        the `jpeg` already made from one where the run is on another machine."""
        client_id = item.client_id if item is not None else None
        changed = progress.update(event, data)
        if event == events.PREVIEW:
            if client_id is not None and self.hub.wants_previews(client_id):
                metadata = {**progress.ids_of(data["node"]), "prompt_id": data["prompt_id"]}
                jpeg = data["jpeg"] if "jpeg" in data else preview_jpeg(data["image"])
                self.hub.send_preview_threadsafe(jpeg, metadata, client_id)
        elif event not in (events.NODE_STARTED, events.NODE_FINISHED):  # they have no ComfyUI message of their own
            self.hub.send_threadsafe(event, self.for_clients(event, data), client_id)
        if changed and self.hub.listening(client_id):
            self.hub.send_threadsafe("progress_state", progress.snapshot(), client_id)

    def for_clients(self, event: str, data: dict) -> dict:
        """What a client may see: no traceback, no server paths (the log keeps both)."""
        if event == events.EXECUTION_ERROR:
            data = {**data, "traceback": []}
        return self.redact(data)

    def ran(self, ok: bool, outputs: dict, messages: list) -> tuple[dict, RunStatus]:
        """A finished run's outputs and status as the history keeps them."""
        shown = [[event, self.for_clients(event, data)] for event, data in messages]
        return self.redact(outputs), RunStatus("success" if ok else "error", ok, shown)

    def refused(self, item: QueueItem, report: ValidationReport) -> RunStatus:
        """The prompt no longer validates (e.g. a model file was removed while it waited)."""
        node_id, errors = next(iter(report.node_errors.items()), (None, None))
        return self.failed(item, RunError(item.prompt_id, "; ".join(report.lines()),
                                          "WorkflowInvalid", node_id=node_id,
                                          node_type=errors.class_type if errors else None))

    def failed(self, item: QueueItem, error: RunError) -> RunStatus:
        """A prompt that never ran its nodes: its client sees it start and fail, the history keeps the error (both
        redacted, as every message)."""
        data = self.for_clients(events.EXECUTION_ERROR, error.to_json())
        self.hub.send_threadsafe(events.EXECUTION_START, {"prompt_id": item.prompt_id}, item.client_id)
        self.hub.send_threadsafe(events.EXECUTION_ERROR, data, item.client_id)
        self.hub.send_threadsafe(events.EXECUTING, {"node": None, "display_node": None,
                                                    "prompt_id": item.prompt_id}, item.client_id)
        return RunStatus("error", False, [[events.EXECUTION_ERROR, data]])

    @staticmethod
    def crashed(item: QueueItem, exc: BaseException) -> tuple[dict, RunStatus]:
        """A prompt whose runner failed outside any node."""
        error = RunError(item.prompt_id, str(exc), type(exc).__name__)
        return {}, RunStatus("error", False, [[events.EXECUTION_ERROR, error.to_json()]])

    def file(self, item: QueueItem, outputs: dict, status: RunStatus) -> None:
        """Move the prompt to the history (waiting while the disk is full)."""
        self.when_stored(lambda: self.queue.finish(item.prompt_id, outputs, status))

    def when_stored(self, write: Callable[[], T]) -> T | None:
        """A queue write, tried again every STORAGE_RETRY seconds while the disk is full (a runner must outlive a
        full disk, and finish filing the prompt it ran once there is room); None when the server stops first."""
        waited = False
        while not self.stopping.is_set():
            try:
                result = write()
            except QueueStorageFull as exc:
                if not waited:
                    log.error("%s: the queue waits until there is room (free some disk space)", exc.strerror)
                waited = True
                self.stopping.wait(STORAGE_RETRY)
                continue
            if waited:
                log.info("the queue can be written again")
            return result
        return None
