"""Planning: which nodes an output needs, and an order to run them in."""
from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .specs import InputSpec, NodeSpec


def is_link(value: Any) -> bool:
    """Whether an API-format input value is meant as a link: any list is, as in ComfyUI (no input takes a list as a
    constant), and so is a tuple (a prompt built in Python). `Link.of` reads a well-formed one."""
    return isinstance(value, (list, tuple))


@dataclass(frozen=True)
class Link:
    """An input fed by output `index` of node `source`."""

    source: str
    index: int

    @classmethod
    def of(cls, value: Any) -> Link | None:
        """The link an input value makes when it is a well-formed one, [source node id, output index]; else None
        (a constant, or a malformed link)."""
        if not is_link(value) or len(value) != 2:
            return None
        source, index = value
        if isinstance(source, bool) or not isinstance(source, (str, int)) or type(index) is not int:
            return None
        return cls(str(source), index)


@dataclass
class Node:
    """A checked node: constants converted to their declared types, links resolved."""

    id: str
    class_type: str
    spec: NodeSpec
    constants: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    # the sockets this node has by prompt key: its declared inputs, plus those its dynamic inputs brought
    sockets: dict[str, InputSpec] = field(default_factory=dict)

    def socket(self, key: str) -> InputSpec:
        """The spec of the input a prompt key names (`values.a` for a socket an autogrow input grew)."""
        return self.sockets.get(key) or self.spec.inputs[key]


def ancestors_of(outputs: Iterable[str], sources_of: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node reachable backwards from `outputs` (outputs included), in one linear walk."""
    seen = set(outputs)
    stack = list(seen)
    while stack:
        for source in sources_of.get(stack.pop(), ()):
            if source not in seen:
                seen.add(source)
                stack.append(source)
    return seen


def run_order(nodes: Iterable[str], sources_of: Mapping[str, Iterable[str]]) -> tuple[list[str], list[str]]:
    """(a topological order of `nodes`, []), or ([], the node ids of one cycle, each feeding the next) when there is
    a cycle. The standard library's sorter: importing networkx would cost every start and every run a fifth of a
    second on a small machine."""
    members = list(nodes)
    chosen = set(members)
    sorter = graphlib.TopologicalSorter({node: [source for source in sources_of.get(node, ()) if source in chosen]
                                         for node in members})
    try:
        return list(sorter.static_order()), []
    except graphlib.CycleError as error:
        return [], list(error.args[1][:-1])  # the sorter repeats the first node at the end
