"""ComfyUI's ExecutionBlocker: a value a node returns in place of an output to stop every node downstream of it.

A call that receives a blocker on any input does not run; each of its outputs is that blocker, so the block travels
down the graph, and an output node that receives one shows nothing. A blocker with a message also makes the run fail
with "Execution Blocked: <message>" (reported once, where it first stops a node); without one it blocks silently.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


class ExecutionBlocker:
    """Returned by a node (as a whole result or as one output) to block the nodes that use that output."""

    def __init__(self, message: str | None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"


# Called with the blocker met by a call that will not run; returns the blocker that call's outputs carry on with
# (the executor reports a message once and passes a silent blocker downstream).
OnBlocked = Callable[[ExecutionBlocker], ExecutionBlocker]


def blocker_in(arguments: dict[str, Any], whole_lists: bool) -> ExecutionBlocker | None:
    """The first blocker among one call's arguments (inside each list for an INPUT_IS_LIST node), else None."""
    for value in arguments.values():
        items: Iterable[Any] = value if whole_lists and isinstance(value, list) else (value,)
        for item in items:
            if isinstance(item, ExecutionBlocker):
                return item
    return None


def blocked_message(blocker: ExecutionBlocker) -> str:
    """The error a run ends with when a blocker with a message stopped a node (ComfyUI's wording)."""
    return f"Execution Blocked: {blocker.message}"
