"""The prompt queue's interface: pending prompts in order, the one running, and the history of finished ones."""
from __future__ import annotations

import errno
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

# A history status for a prompt that was running when the process stopped (ComfyUI's status_str is success|error).
INTERRUPTED_BY_SHUTDOWN = "the server stopped while this prompt was running; queue it again to run it"


class DuplicatePromptError(ValueError):
    """A prompt id that is already waiting or running."""


class QueueStorageFull(OSError):
    """The disk that holds the queue is full: nothing was changed; the write can be tried again once there is room."""

    def __init__(self, where: str) -> None:
        super().__init__(errno.ENOSPC, f"the disk that holds {where} is full")


@dataclass
class QueueItem:
    """One queued prompt; `number` orders the queue (front inserts get negative numbers, as in ComfyUI)."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any] = field(default_factory=dict)
    outputs_to_execute: list[str] = field(default_factory=list)

    def as_list(self) -> list:
        """ComfyUI's 5-element queue entry: [number, prompt_id, prompt, extra_data, outputs_to_execute]."""
        number = int(self.number) if float(self.number).is_integer() else self.number
        return [number, self.prompt_id, self.prompt, self.extra_data, self.outputs_to_execute]

    @property
    def client_id(self) -> str | None:
        client = self.extra_data.get("client_id")
        return client if isinstance(client, str) else None


@dataclass
class RunStatus:
    """How a prompt ended, in the shape of ComfyUI's history `status`."""

    status_str: str  # "success" or "error"
    completed: bool
    messages: list[list] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status_str": self.status_str, "completed": self.completed, "messages": self.messages}


@dataclass
class HistoryEntry:
    """A finished prompt: what ran, what its output nodes produced, how it ended."""

    item: QueueItem
    outputs: dict[str, Any]
    status: RunStatus

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.item.as_list(), "outputs": self.outputs, "status": self.status.to_json(),
                "meta": {node: {"node_id": node, "display_node": node} for node in self.outputs}}


@dataclass
class FinishedPrompt:
    """A history entry without its graph and extra data, but with the two facts a list of jobs shows from them: a
    list reads every entry, and the graphs (with the canvas workflow in extra_data) are most of the bytes."""

    number: float
    prompt_id: str
    create_time: Any  # extra_data["create_time"] as stored (POST /prompt sets it; older entries lack it)
    workflow_id: Any  # extra_data["extra_pnginfo"]["workflow"]["id"] as stored
    outputs: dict[str, Any]
    status: RunStatus


class PromptQueue(ABC):
    """Pending prompts run in `number` order, one at a time; finished ones move to a bounded history.

    Every method that writes raises QueueStorageFull, having changed nothing, when the disk is full."""

    @abstractmethod
    def put(self, prompt_id: str, prompt: dict, extra_data: dict, outputs_to_execute: list[str], *,
            front: bool = False, number: float | None = None) -> QueueItem:
        """Queue a prompt at the back (or the front, or at an explicit number); DuplicatePromptError when its id
        is waiting or running (a finished one is replaced)."""

    @abstractmethod
    def take(self) -> QueueItem | None:
        """Mark the first pending prompt running and return it; None when nothing waits."""

    @abstractmethod
    def finish(self, prompt_id: str, outputs: dict[str, Any], status: RunStatus) -> None:
        """Move a running prompt to the history (oldest entries beyond the bound are dropped)."""

    @abstractmethod
    def pending(self) -> list[QueueItem]:
        """Waiting prompts in the order they will run."""

    @abstractmethod
    def running(self) -> list[QueueItem]:
        """The prompt being run (an empty list or one item)."""

    @abstractmethod
    def count_remaining(self) -> int:
        """How many prompts wait or run: the websocket `status` message's queue_remaining (a count, so that the
        broadcast never reads the prompts themselves)."""

    @abstractmethod
    def delete_pending(self, prompt_ids: list[str]) -> int:
        """Remove waiting prompts by id; returns how many were removed."""

    @abstractmethod
    def clear_pending(self) -> int:
        """Remove every waiting prompt; returns how many were removed."""

    @abstractmethod
    def history(self, max_items: int | None = None, offset: int = 0) -> list[HistoryEntry]:
        """Finished prompts, oldest first; with max_items, the newest that many (after skipping `offset` newest)."""

    @abstractmethod
    def finished_prompts(self) -> list[FinishedPrompt]:
        """Every finished prompt, oldest first, without its graph (what /jobs lists)."""

    @abstractmethod
    def history_entry(self, prompt_id: str) -> HistoryEntry | None:
        """One finished prompt, or None."""

    @abstractmethod
    def delete_history(self, prompt_ids: list[str]) -> int:
        """Forget finished prompts by id; returns how many were removed."""

    @abstractmethod
    def clear_history(self) -> int:
        """Forget every finished prompt; returns how many were removed."""

    @abstractmethod
    def recover(self) -> list[str]:
        """At start-up: prompts left running by a stopped process go to the history as interrupted; returns them."""

    @abstractmethod
    def close(self) -> None:
        """Release the storage."""
