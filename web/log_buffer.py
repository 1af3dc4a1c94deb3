"""The server's recent log for ComfyUI's frontend (its terminal panel): a bounded ring of entries, and the websocket
clients that asked to receive new entries as ComfyUI's "logs" messages.

Server start-up installs the buffer as a handler on the root logger and removes it when it stops; the state keeps
both objects, nothing lives in a module global. Messages are redacted (server paths) when they leave the server.
"""
from __future__ import annotations

import logging
import shutil
import threading
from collections import deque
from datetime import datetime
from typing import Any, Callable

from .client_hub import ClientHub
from .security import PathRedactor

LOG_CAPACITY = 300  # entries kept, as ComfyUI keeps
Entry = dict[str, str]  # {"t": ISO time, "m": the line as the console shows it, with its newline}


def terminal_size() -> dict[str, int]:
    """The server console's size ({"cols", "rows"}), which the page's terminal copies; 80x24 without one."""
    size = shutil.get_terminal_size((80, 24))
    return {"cols": size.columns, "rows": size.lines}


class LogBuffer(logging.Handler):
    """The last LOG_CAPACITY log records as entries; `listener` hears each new entry, on the thread that logged."""

    def __init__(self, capacity: int = LOG_CAPACITY) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))  # as the console shows them
        self._entries: deque[Entry] = deque(maxlen=capacity)
        self.listener: Callable[[Entry], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = {"t": datetime.fromtimestamp(record.created).isoformat(), "m": self.format(record) + "\n"}
        except Exception:
            self.handleError(record)
            return
        self._entries.append(entry)  # deque appends are atomic; the handler's lock already serialises emit
        if self.listener is not None:
            self.listener(entry)

    def recent(self) -> list[Entry]:
        return list(self._entries)


class LogSubscribers:
    """The clients subscribed with PATCH /internal/logs/subscribe. New entries are gathered and sent together
    from the event loop (one message per client per batch, so a burst of log lines is not a burst of frames); a
    client that has disconnected is dropped at the next batch."""

    def __init__(self, hub: ClientHub, redact: PathRedactor) -> None:
        self.hub, self.redact = hub, redact
        self.client_ids: set[str] = set()
        self._pending: list[Entry] = []
        self._lock = threading.Lock()

    def subscribe(self, client_id: str, enabled: bool) -> None:
        if enabled:
            self.client_ids.add(client_id)
        else:
            self.client_ids.discard(client_id)

    def entry_added(self, entry: Entry) -> None:
        """Any thread: keep the entry for the next batch, which is scheduled when this is its first entry."""
        if not self.client_ids:
            return
        with self._lock:
            first = not self._pending
            self._pending.append(entry)
        if first:
            try:
                self.hub.loop.call_soon_threadsafe(self._send_batch)
            except RuntimeError:
                pass  # the loop has closed: the server is stopping

    def _send_batch(self) -> None:
        with self._lock:
            entries, self._pending = self._pending, []
        self.client_ids &= set(self.hub.clients)
        if not entries or not self.client_ids:
            return
        data: dict[str, Any] = {"entries": self.redact(entries), "size": terminal_size()}
        for client_id in self.client_ids:
            self.hub.send("logs", data, client_id)
