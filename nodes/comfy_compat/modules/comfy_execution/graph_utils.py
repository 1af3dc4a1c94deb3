"""ComfyUI's `comfy_execution.graph_utils` for plugins: GraphBuilder writes the graph a node returns as
{"result": ..., "expand": graph}, and `is_link` tells links from values.

Ids are prefixed as ComfyUI prefixes them, `<running node's id>.<call>.<graph>.`, so a loop's copies get the same
ids here as there (and the engine keeps ids that already start with the parent's). The call index is 0 for every
call of a node mapped over a list; the graph index counts on across them, so their ids stay apart.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from graph_engine import ExecutionBlocker  # noqa: F401 - ComfyUI's graph_utils offers it too
from graph_engine import NodeContext, current_context
from graph_engine.expansion import is_expansion_link
from nodes.comfy_compat.not_offered import attribute_not_offered

is_link = is_expansion_link  # a [node id, output index] pair, as the engine reads links in an expansion


@dataclass
class _PrefixCounter:
    """Where default prefixes stand for the node call that owns them (None: outside any run)."""

    owner: NodeContext | None
    root: str
    call_index: int
    graph_index: int


# per thread of execution: the running node's counter, started afresh when another node runs
_counter: contextvars.ContextVar[_PrefixCounter | None] = contextvars.ContextVar("comfy_graph_prefix", default=None)


def _running_counter() -> _PrefixCounter:
    context = current_context()
    counter = _counter.get()
    if counter is None or counter.owner is not context:
        counter = _PrefixCounter(context, context.node_id if context is not None else "", 0, 0)
        _counter.set(counter)
    return counter


class Node:
    """One node of a GraphBuilder's graph: its class, inputs (values or links made with `out`), display id."""

    def __init__(self, id: str, class_type: str, inputs: dict[str, Any]) -> None:
        self.id = id
        self.class_type = class_type
        self.inputs = inputs
        self.override_display_id: str | None = None

    def out(self, index: int) -> list:
        """A link to output `index` of this node."""
        return [self.id, index]

    def set_input(self, key: str, value: Any) -> None:
        """Set an input; None removes it."""
        if value is None:
            self.inputs.pop(key, None)
        else:
            self.inputs[key] = value

    def get_input(self, key: str) -> Any:
        return self.inputs.get(key)

    def set_override_display_id(self, override_display_id: str) -> None:
        """Show this node's progress on another node (a loop's copy on the node it copies)."""
        self.override_display_id = override_display_id

    def serialize(self) -> dict[str, Any]:
        body: dict[str, Any] = {"class_type": self.class_type, "inputs": self.inputs}
        if self.override_display_id is not None:
            body["override_display_id"] = self.override_display_id
        return body


class GraphBuilder:
    """Builds an expansion: `node(...)` adds nodes (ids numbered from 1 unless given), `finalize()` gives the graph."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = GraphBuilder.alloc_prefix() if prefix is None else prefix
        self.nodes: dict[str, Node] = {}
        self.id_gen = 1

    @classmethod
    def set_default_prefix(cls, prefix_root: str, call_index: int, graph_index: int = 0) -> None:
        """Where the running node's default prefixes start (ComfyUI's engine calls it before each node call; the
        running node's id, call 0, graph 0 is the default here)."""
        _counter.set(_PrefixCounter(current_context(), prefix_root, call_index, graph_index))

    @classmethod
    def alloc_prefix(cls, root: str | None = None, call_index: int | None = None,
                     graph_index: int | None = None) -> str:
        """The next default prefix, `<root>.<call>.<graph>.`; each one taken moves the graph index on."""
        counter = _running_counter()
        prefix = (f"{counter.root if root is None else root}.{counter.call_index if call_index is None else call_index}"
                  f".{counter.graph_index if graph_index is None else graph_index}.")
        counter.graph_index += 1
        return prefix

    def node(self, class_type: str, id: str | None = None, **inputs: Any) -> Node:
        """Add a node (or return the one already under this id)."""
        if id is None:
            id = str(self.id_gen)
            self.id_gen += 1
        full_id = self.prefix + id
        if full_id not in self.nodes:
            self.nodes[full_id] = Node(full_id, class_type, inputs)
        return self.nodes[full_id]

    def lookup_node(self, id: str) -> Node | None:
        return self.nodes.get(self.prefix + id)

    def finalize(self) -> dict[str, dict[str, Any]]:
        """The graph to return as "expand": node id -> {"class_type", "inputs"[, "override_display_id"]}."""
        return {node_id: node.serialize() for node_id, node in self.nodes.items()}

    def replace_node_output(self, node_id: str, index: int, new_value: Any) -> None:
        """Make every input linked to output `index` of node `node_id` take `new_value` (None: drop the input)."""
        link = [self.prefix + node_id, index]
        for node in self.nodes.values():
            for key in [key for key, value in node.inputs.items() if is_link(value) and value == link]:
                node.set_input(key, new_value)

    def remove_node(self, id: str) -> None:
        del self.nodes[self.prefix + id]


def add_graph_prefix(graph: dict[str, dict], outputs: tuple | list, prefix: str) -> tuple[dict[str, dict], tuple]:
    """`graph` with `prefix` before each node id and each link between them, and `outputs` with their links
    renamed alike (to put one expansion's graph inside another's ids)."""

    def renamed(value: Any) -> Any:
        return [prefix + value[0], value[1]] if is_link(value) else value

    prefixed = {prefix + node_id: {"class_type": body["class_type"],
                                   "inputs": {name: renamed(value) for name, value in body.get("inputs", {}).items()}}
                for node_id, body in graph.items()}
    return prefixed, tuple(renamed(output) for output in outputs)


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
