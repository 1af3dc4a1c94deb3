"""One stream of execution events, with ComfyUI's message names and payloads."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

EXECUTION_START = "execution_start"
EXECUTION_CACHED = "execution_cached"
EXECUTING = "executing"
PROGRESS = "progress"
PREVIEW = "preview"  # not a JSON message: consumers send it as a binary frame
EXECUTED = "executed"
EXECUTION_SUCCESS = "execution_success"
EXECUTION_ERROR = "execution_error"
EXECUTION_INTERRUPTED = "execution_interrupted"
# Not ComfyUI messages: a node's call begins / its result is ready (run or from the cache). Both carry the node's ids
# (node, display_node, parent_node, real_node, prompt_id), so consumers can keep each node's state (the server's
# progress_state) without knowing the run's expansions.
NODE_STARTED = "node_started"
NODE_FINISHED = "node_finished"

Subscriber = Callable[[str, dict[str, Any]], None]


def now_ms() -> int:
    """The `timestamp` of ComfyUI's messages: milliseconds since the epoch."""
    return int(time.time() * 1000)


class EventStream:
    """Fan-out of (event, data) to subscribers; a failing subscriber is logged, never breaks a run."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        with self._lock:
            self._subscribers = [*self._subscribers, subscriber]

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s is not subscriber]

        return unsubscribe

    def emit(self, event: str, data: dict[str, Any]) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event, data)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, event)
