"""Graph expansion (ComfyUI's dynamic graphs): the nodes a node returns to run in its place, under ids derived from
its own, and the growing workflow that nodes asking for DYNPROMPT see."""
from __future__ import annotations

from typing import Any

from .errors import UserFacingError
from .plan import Link

# A node whose expansion expands again, and so on, more than this many levels deep stops the run: that is a loop
# that never ends (a loop pack whose condition never turns), not a loop of a thousand turns.
MAX_EXPANSION_DEPTH = 1000
# At most this many nodes added by expansions in one run, however they nest.
MAX_EXPANDED_NODES = 100_000


class ExpansionError(UserFacingError):
    """A node's graph expansion that cannot run: unknown classes, bad inputs, links to nowhere, or no end."""


class DynamicPrompt:
    """The workflow of one run as it grows: the prompt's nodes and the ones expansions added.

    Nodes asking for the hidden DYNPROMPT input get it; the method names are ComfyUI's, which loop packs call."""

    def __init__(self, original: dict[str, Any]) -> None:
        self.original = original
        self.added: dict[str, dict] = {}
        self.parents: dict[str, str] = {}
        self.display: dict[str, str] = {}

    def get_node(self, node_id: str) -> dict:
        """The node's API-format body ({"class_type", "inputs"}); links name the ids of this run."""
        if node_id in self.added:
            return self.added[node_id]
        if node_id in self.original:
            return self.original[node_id]
        raise KeyError(f"node {node_id} is not in this run's workflow")

    def has_node(self, node_id: str) -> bool:
        return node_id in self.added or node_id in self.original

    def add_ephemeral_node(self, node_id: str, body: dict, parent_id: str, display_id: str) -> None:
        self.added[node_id] = body
        self.parents[node_id] = parent_id
        self.display[node_id] = display_id

    def get_parent_node_id(self, node_id: str) -> str | None:
        return self.parents.get(node_id)

    def get_real_node_id(self, node_id: str) -> str:
        """The prompt's node that this one was (directly or through nested expansions) expanded from."""
        while node_id in self.parents:
            node_id = self.parents[node_id]
        return node_id

    def get_display_node_id(self, node_id: str) -> str:
        """The node an editor shows this one's progress on: its parent's, unless the expansion named another."""
        while node_id in self.display:
            node_id = self.display[node_id]
        return node_id

    def all_node_ids(self) -> set[str]:
        return set(self.original) | set(self.added)

    def get_original_prompt(self) -> dict[str, Any]:
        return self.original


def is_expansion_link(value: Any) -> bool:
    """ComfyUI's test for a link in an expansion's result: a list [node id, output index]."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and type(value[1]) is int


def expanded_ids(parent_id: str, call_index: int, graph: dict) -> dict[str, str]:
    """The run-wide id of each node of one call's expansion: `parent.call.local`, unless the id already starts
    with `parent.` (ComfyUI's GraphBuilder prefixes its ids with the parent's: prefixing again would make the ids
    of a loop grow exponentially with its turns)."""
    return {local: local if local.startswith(f"{parent_id}.") else f"{parent_id}.{call_index}.{local}"
            for local in map(str, graph)}


def renamed_bodies(graph: dict, ids: dict[str, str]) -> dict[str, Any]:
    """The expansion's nodes under their run-wide ids, links between them renamed; links to other ids are left
    for the nodes already in the run. A malformed node is passed on as is, for validation to name."""
    bodies: dict[str, Any] = {}
    for local, body in graph.items():
        if isinstance(body, dict) and isinstance(body.get("inputs", {}), dict):
            inputs = {name: [ids[str(value[0])], value[1]] if _links_inside(value, ids) else value
                      for name, value in body.get("inputs", {}).items()}
            body = {**body, "inputs": inputs}
        bodies[ids[str(local)]] = body
    return bodies


def _links_inside(value: Any, ids: dict[str, str]) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and str(value[0]) in ids


def linked_values(values: tuple, ids: dict[str, str]) -> tuple:
    """A call's values with each link into the expansion (or at an existing node) as a Link on run-wide ids."""
    return tuple(Link(ids.get(value[0], value[0]), value[1]) if is_expansion_link(value) else value
                 for value in values)
