"""What node code sees while the engine calls it: the installation's folders, and while a node runs its progress,
interrupt check and logger."""
from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .events import PREVIEW, PROGRESS, EventStream
from .folders import Folders


class Interrupted(Exception):
    """Raised inside a node when the user asked to stop the run."""


@dataclass
class NodeContext:
    """What the engine lends a node while it runs; nodes reach it with `current_context()` (and the installation's
    folders with `current_folders()`)."""

    prompt_id: str
    node_id: str
    class_type: str
    events: EventStream
    interrupt_flag: threading.Event

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"latentloom.node.{self.class_type}")

    def check_interrupted(self) -> None:
        """Raise Interrupted if the user asked to stop; long loops call this (progress() does too)."""
        if self.interrupt_flag.is_set():
            raise Interrupted(f"interrupted in node {self.node_id} ({self.class_type})")

    def progress(self, value: float, total: float, preview: Any = None) -> None:
        """Report progress (and optionally a preview image); raises Interrupted when a stop was asked for."""
        self.check_interrupted()
        data = {"value": value, "max": total, "prompt_id": self.prompt_id, "node": self.node_id}
        self.events.emit(PROGRESS, data)
        if preview is not None:
            self.events.emit(PREVIEW, {**data, "image": preview})


_current: contextvars.ContextVar[NodeContext | None] = contextvars.ContextVar("latentloom_node_context", default=None)


def current_context() -> NodeContext | None:
    """The context of the node running in this thread, or None outside a run."""
    return _current.get()


def enter_context(context: NodeContext) -> contextvars.Token:
    return _current.set(context)


def leave_context(token: contextvars.Token) -> None:
    _current.reset(token)


class NoFoldersError(RuntimeError):
    """Node code asked for the installation's folders outside an engine call and outside `using_folders`."""


_folders: contextvars.ContextVar[Folders | None] = contextvars.ContextVar("latentloom_folders", default=None)


def current_folders(default: Folders | None = None) -> Folders:
    """The folders of the installation whose engine is calling node code in this thread (validation, a run, a
    registry read), or those `using_folders` made current; else `default`; else NoFoldersError."""
    folders = _folders.get()
    if folders is not None:
        return folders
    if default is not None:
        return default
    raise NoFoldersError("no installation's folders are current: node code reads files only while an engine calls "
                         "it; outside one, wrap the call in graph_engine.using_folders(folders)")


@contextlib.contextmanager
def using_folders(folders: Folders) -> Iterator[Folders]:
    """Make `folders` current in this thread (and the threads started with its context copied) for the block."""
    token = _folders.set(folders)
    try:
        yield folders
    finally:
        _folders.reset(token)
