"""A one-line progress display for CLI runs, fed by the engine's event stream."""
from __future__ import annotations

import sys
from typing import Any, TextIO

from graph_engine import events as ev


class ProgressLine:
    """Shows the running node and its step progress on one terminal line; silent when not a terminal."""

    def __init__(self, total_nodes: int, stream: TextIO | None = None) -> None:
        self.total = total_nodes
        self.done = 0
        stream = sys.stderr if stream is None else stream  # the stderr of now: a default would be import time's
        self.stream = stream
        self.enabled = stream.isatty()
        self.node = ""

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if event == ev.EXECUTION_CACHED:
            self.done += len(data["nodes"])
        elif event == ev.EXECUTING and data["node"] is not None:
            self.node = str(data["node"])
            self.done += 1
            self._draw("")
        elif event == ev.PROGRESS:
            self._draw(self._bar(data["value"], data["max"]))
        elif event == ev.EXECUTING:
            self.stream.write("\r\033[K")
            self.stream.flush()

    @staticmethod
    def _bar(value: float, total: float, width: int = 24) -> str:
        filled = int(width * value / total) if total else width
        return f" [{'#' * filled}{'.' * (width - filled)}] {value}/{total}"

    def _draw(self, step: str) -> None:
        self.stream.write(f"\r\033[Knode {self.done}/{self.total} (#{self.node}){step}")
        self.stream.flush()
