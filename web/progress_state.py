"""The state of each node of the running prompt, as ComfyUI's frontend reads it from `progress_state` messages: every
node no longer pending, with its step progress and whether it runs, finished or failed. Built from the engine's
events; each event changes at most one message's worth of state."""
from __future__ import annotations

import threading
from typing import Any

from graph_engine import events

RUNNING, FINISHED, ERROR = "running", "finished", "error"


class PromptProgress:
    """The node states of one prompt at a time (the worker runs one); safe to feed from any thread."""

    def __init__(self) -> None:
        self.prompt_id: str | None = None
        self._nodes: dict[str, dict[str, Any]] = {}  # entries are replaced, never changed: a snapshot is a copy
        self._lock = threading.Lock()

    def update(self, event: str, data: dict[str, Any]) -> bool:
        """Apply one engine event; whether it changed a node's state (then one progress_state message is due)."""
        with self._lock:
            if event == events.EXECUTION_START:
                self.prompt_id, self._nodes = data["prompt_id"], {}
                return False
            if data.get("prompt_id") != self.prompt_id:
                return False
            if event == events.NODE_STARTED:
                self._set(data["node"], RUNNING, 0.0, 1.0, data)
            elif event == events.PROGRESS:
                self._set(data["node"], RUNNING, data["value"], data["max"])
            elif event == events.NODE_FINISHED:
                done = self._nodes.get(data["node"], {})
                if done.get("state") == ERROR:  # a blocker with a message failed it, and the run goes on
                    return False
                self._set(data["node"], FINISHED, done.get("max", 1.0), done.get("max", 1.0), data)
            elif event == events.EXECUTION_ERROR and data.get("node_id") is not None:
                self._failed(str(data["node_id"]))
            else:
                return False
            return True

    def snapshot(self) -> dict[str, Any]:
        """The progress_state data: every node no longer pending. Built only for a client that listens: it grows
        with the graph, and a run sends one per node event."""
        with self._lock:
            return {"prompt_id": self.prompt_id, "nodes": dict(self._nodes)}

    def ids_of(self, node_id: str) -> dict[str, str | None]:
        """The node's ids as the frontend places its previews by (its own for a node not seen yet)."""
        entry = self._nodes.get(node_id)
        if entry is None:
            return {"node_id": node_id, "display_node_id": node_id, "parent_node_id": None, "real_node_id": node_id}
        return {key: entry[key] for key in ("node_id", "display_node_id", "parent_node_id", "real_node_id")}

    def _set(self, node_id: str, state: str, value: float, maximum: float, ids: dict[str, Any] | None = None) -> None:
        known = self.ids_of(node_id) if ids is None else {
            "node_id": node_id, "display_node_id": ids["display_node"], "parent_node_id": ids["parent_node"],
            "real_node_id": ids["real_node"]}
        self._nodes[node_id] = {"value": value, "max": maximum, "state": state, "prompt_id": self.prompt_id, **known}

    def _failed(self, real_node_id: str) -> None:
        """An error names the prompt's node: it fails with the running nodes it expanded into."""
        failing = [nid for nid, entry in self._nodes.items()
                   if entry["state"] == RUNNING and entry["real_node_id"] == real_node_id] or [real_node_id]
        for nid in failing:
            entry = self._nodes.get(nid)
            value, maximum = (entry["value"], entry["max"]) if entry else (0.0, 1.0)
            self._set(nid, ERROR, value, maximum)
