"""Reading an editor (UI-format) workflow into one flat graph of nodes whose inputs name their sources.

Subgraph instances (`definitions.subgraphs`) are expanded here: inner nodes get the ids
"<instance id>:<inner id>" the ComfyUI frontend gives them, and the instance plus the subgraph's
input node stay in the graph as pass-through nodes that source resolution walks through.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import WorkflowFormatError

SUBGRAPH_INPUT_NODE = -10  # the frontend's id for a subgraph's input node
SUBGRAPH_OUTPUT_NODE = -20  # ... and for its output node
SUBGRAPH_INSTANCE = "(subgraph instance)"
SUBGRAPH_INPUTS = "(subgraph inputs)"


class UIConversionError(WorkflowFormatError):
    """An editor workflow that cannot be turned into the API format; the message names the node or link."""


@dataclass(frozen=True)
class Source:
    """The output a link comes from: flat node id and output slot."""

    node_id: str
    slot: int


@dataclass
class FlatInput:
    name: str
    type: str
    widget: str | None  # the widget this socket stands for, when it is a widget converted to an input
    source: Source | None


@dataclass
class FlatNode:
    id: str
    type: str
    mode: int
    title: str | None
    inputs: list[FlatInput]
    widgets_values: Any
    output_types: list[str] = field(default_factory=list)
    output_sources: dict[int, Source] = field(default_factory=dict)  # subgraph instances: slot -> inner source
    instance_id: str | None = None  # subgraph input nodes: the instance whose inputs they pass on


@dataclass(frozen=True)
class _Link:
    id: Any
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int


_LINK_FIELDS = ("id", "origin_id", "origin_slot", "target_id", "target_slot")


def _read_link(raw: Any) -> _Link:
    """Top-level links are lists; subgraph definitions (and newer files) store them as objects."""
    if isinstance(raw, dict):
        return _Link(*(raw.get(name) for name in _LINK_FIELDS))
    if isinstance(raw, (list, tuple)) and len(raw) >= 5:
        return _Link(*raw[:5])
    raise UIConversionError(f"link {raw!r} is neither [id, from node, from slot, to node, to slot, type] nor an object")


def _read_links(raw_links: Any, where: str) -> dict[Any, _Link]:
    if raw_links is None:
        return {}
    if not isinstance(raw_links, list):
        raise UIConversionError(f"{where}'links' must be a list")
    links = [_read_link(raw) for raw in raw_links if raw is not None]
    return {link.id: link for link in links}


def _node_mode(node: dict) -> int:
    mode = node.get("mode", 0)
    return mode if isinstance(mode, int) else 0


class _Flattener:
    """Expands one graph level at a time, prefixing ids with the path of subgraph instances."""

    def __init__(self, definitions: dict[str, dict]) -> None:
        self.definitions = definitions
        self.nodes: dict[str, FlatNode] = {}

    def add_level(self, raw_nodes: Any, raw_links: Any, prefix: str, stack: tuple[str, ...], name: str = "") -> None:
        where = f"subgraph {name!r}: " if name else ""
        if not isinstance(raw_nodes, list) or not all(isinstance(n, dict) and "id" in n for n in raw_nodes):
            raise UIConversionError(f"{where}'nodes' must be a list of node objects with an 'id'")
        links = _read_links(raw_links, where)
        by_id = {node["id"]: node for node in raw_nodes}
        for node in raw_nodes:
            self._add_node(node, by_id, links, prefix, stack, where)

    def _source(self, link_id: Any, node: dict, input_name: str, by_id: dict, links: dict, prefix: str,
                where: str) -> Source | None:
        if link_id is None:
            return None
        link = links.get(link_id)
        if link is None:
            raise UIConversionError(
                f"{where}node {node['id']} ({node.get('type')}): input {input_name!r} uses link {link_id}, "
                "which is not in the workflow's links; reconnect the input in the editor")
        if link.origin_id == SUBGRAPH_INPUT_NODE and prefix:
            return Source(f"{prefix}{SUBGRAPH_INPUT_NODE}", link.origin_slot)
        if link.origin_id not in by_id:
            raise UIConversionError(
                f"{where}link {link_id} into node {node['id']} ({node.get('type')}) input {input_name!r} comes from "
                f"node {link.origin_id}, which does not exist; reconnect the input in the editor")
        return Source(f"{prefix}{link.origin_id}", link.origin_slot)

    def _add_node(self, node: dict, by_id: dict, links: dict, prefix: str, stack: tuple[str, ...], where: str) -> None:
        inputs = []
        for position, raw in enumerate(node.get("inputs") or []):
            name = raw.get("name", str(position))
            widget = raw.get("widget")
            inputs.append(FlatInput(
                name=name, type=str(raw.get("type", "*")),
                widget=widget.get("name", name) if isinstance(widget, dict) else None,
                source=self._source(raw.get("link"), node, name, by_id, links, prefix, where)))
        flat = FlatNode(id=f"{prefix}{node['id']}", type=str(node.get("type")), mode=_node_mode(node),
                        title=node.get("title"), inputs=inputs, widgets_values=node.get("widgets_values"),
                        output_types=[str(o.get("type", "*")) for o in node.get("outputs") or [] if isinstance(o, dict)])
        self.nodes[flat.id] = flat
        definition = self.definitions.get(flat.type)
        if definition is not None and flat.mode == 0:
            self._expand(flat, definition, stack)

    def _expand(self, instance: FlatNode, definition: dict, stack: tuple[str, ...]) -> None:
        definition_id = instance.type
        name = definition.get("name") or definition_id
        if definition_id in stack:
            raise UIConversionError(f"node {instance.id}: subgraph {name!r} contains itself; it cannot be flattened")
        prefix = f"{instance.id}:"
        self.nodes[f"{prefix}{SUBGRAPH_INPUT_NODE}"] = FlatNode(
            id=f"{prefix}{SUBGRAPH_INPUT_NODE}", type=SUBGRAPH_INPUTS, mode=0, title=None, inputs=[],
            widgets_values=None, instance_id=instance.id)
        instance.type = SUBGRAPH_INSTANCE
        for link in _read_links(definition.get("links"), f"subgraph {name!r}: ").values():
            if link.target_id == SUBGRAPH_OUTPUT_NODE:
                instance.output_sources[link.target_slot] = Source(f"{prefix}{link.origin_id}", link.origin_slot)
        self.add_level(definition.get("nodes") or [], definition.get("links"), prefix, (*stack, definition_id), name)


def flatten(workflow: dict) -> dict[str, FlatNode]:
    """Every node of the workflow and of its expanded subgraphs, keyed by the id the API prompt will use."""
    definitions = {}
    for definition in (workflow.get("definitions") or {}).get("subgraphs") or []:
        if isinstance(definition, dict) and "id" in definition:
            definitions[definition["id"]] = definition
    flattener = _Flattener(definitions)
    flattener.add_level(workflow.get("nodes"), workflow.get("links"), "", ())
    return flattener.nodes
