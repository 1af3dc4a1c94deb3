"""API format → the editor's UI format, with an automatic left-to-right layout, so API files open on a canvas."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import WorkflowFormatError
from .plan import Link, is_link
from .registry import NodeRegistry
from .specs import AUTOGROW, COMBO, InputSpec, NodeSpec
from .ui_widgets import has_control_widget, widget_inputs
from .workflow import Prompt

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger(__name__)

UI_FORMAT_VERSION = 0.4
SEED_CONTROL = "fixed"  # a file opened from the API format keeps its seed until the user changes this
INTEGER_ID = re.compile(r"0|[1-9][0-9]*")

# Layout estimates (pixels), close to what the canvas draws, so stacked nodes do not overlap.
NODE_WIDTH, WIDE_NODE_WIDTH = 240, 300
TITLE_HEIGHT, SOCKET_ROW, WIDGET_ROW, MULTILINE_EXTRA, BOTTOM_PADDING = 30, 20, 26, 50, 14
COLUMN_GAP, ROW_GAP, MARGIN = 80, 40, 20


def _fresh_value(spec: InputSpec) -> Any:
    """A value for a widget the prompt leaves out or feeds by a link: its default, else a first choice or zero."""
    if "default" in spec.options:
        return spec.options["default"]
    if spec.choices:
        return spec.choices[0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(spec.type)


@dataclass(frozen=True)
class _Link:
    source: str
    slot: int
    target: str
    input_name: str


@dataclass
class _Node:
    """One node on its way to the UI format."""

    api_id: str
    ui_id: int
    spec: NodeSpec
    inputs: dict[str, Any]
    title: str | None
    widgets: list[InputSpec] = field(default_factory=list)
    socket_inputs: list[dict[str, Any]] = field(default_factory=list)
    size: tuple[int, int] = (NODE_WIDTH, 0)


def _checked_nodes(prompt: Any, registry: NodeRegistry) -> dict[str, tuple[NodeSpec, dict, str | None]]:
    """Each node's spec, inputs and title; WorkflowFormatError naming the first node that is not a valid node."""
    if not isinstance(prompt, dict) or not prompt:
        raise WorkflowFormatError("an API-format workflow must be a non-empty object mapping node ids to nodes")
    checked = {}
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise WorkflowFormatError(f"node {node_id}: must be an object with a 'class_type' string")
        spec = registry.get(node["class_type"])
        if spec is None:
            raise WorkflowFormatError(
                f"node {node_id}: unknown node type {node['class_type']!r}; install the custom node pack "
                "that provides it, or remove the node")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            raise WorkflowFormatError(f"node {node_id} ({spec.class_type}): 'inputs' must be an object")
        meta = node.get("_meta")
        title = meta.get("title") if isinstance(meta, dict) and isinstance(meta.get("title"), str) else None
        checked[str(node_id)] = (spec, inputs, title)
    return checked


def _ui_ids(api_ids: list[str]) -> dict[str, int]:
    """Integer ids keep their number; others (e.g. "5:3" from a subgraph) get fresh numbers after the largest."""
    kept = {api_id: int(api_id) for api_id in api_ids if INTEGER_ID.fullmatch(api_id)}
    next_id = max(kept.values(), default=0) + 1
    ids = {}
    for api_id in api_ids:
        if api_id in kept:
            ids[api_id] = kept[api_id]
        else:
            ids[api_id] = next_id
            next_id += 1
    return ids


def _links(nodes: dict[str, _Node]) -> list[_Link]:
    """Every link of the prompt, checked: the source node exists and has that output."""
    links = []
    for node in nodes.values():
        for name, value in node.inputs.items():
            if not is_link(value):
                continue
            where = f"node {node.api_id} ({node.spec.class_type}), input {name!r}"
            link = Link.of(value)
            if link is None:
                raise WorkflowFormatError(f"{where}: {value!r} is not a link; a link is [node id, output index]")
            source = nodes.get(link.source)
            if source is None:
                raise WorkflowFormatError(f"{where}: links to node {link.source}, which is not in the workflow")
            if not 0 <= link.index < len(source.spec.outputs):
                raise WorkflowFormatError(
                    f"{where}: links to output {link.index} of node {link.source} ({source.spec.class_type}), "
                    f"which has {len(source.spec.outputs)} output(s)")
            links.append(_Link(link.source, link.index, node.api_id, name))
    return links


def _dag(nodes: dict[str, _Node], links: list[_Link]) -> nx.DiGraph:
    import networkx as nx  # here, not at the top: graph_engine is imported by every start and run, which need no layout

    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((link.source, link.target) for link in links)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    path = " → ".join([str(edge[0]) for edge in cycle] + [str(cycle[0][0])])
    raise WorkflowFormatError(f"nodes {path} form a loop; a workflow must not feed a node's output back into it")


def _widget_values(node: _Node) -> list[Any]:
    """Positional over the widget inputs in INPUT_TYPES order, a control value after each seed."""
    values: list[Any] = []
    for spec in node.widgets:
        value = node.inputs.get(spec.name)
        values.append(_fresh_value(spec) if value is None or is_link(value) else value)
        if has_control_widget(spec):
            values.append(SEED_CONTROL)
    return values


def _estimated_size(node: _Node) -> tuple[int, int]:
    multiline = sum(1 for spec in node.widgets if spec.options.get("multiline"))
    rows = len(node.widgets) + sum(1 for spec in node.widgets if has_control_widget(spec))
    sockets = max(len(node.socket_inputs), len(node.spec.outputs))
    height = TITLE_HEIGHT + SOCKET_ROW * sockets + WIDGET_ROW * rows + MULTILINE_EXTRA * multiline + BOTTOM_PADDING
    return (WIDE_NODE_WIDTH if multiline else NODE_WIDTH, height)


def _socket_inputs(node: _Node, links_in: dict[str, tuple[int, str]]) -> list[dict[str, Any]]:
    """Declared sockets in order, then widgets fed by a link, then linked inputs the class does not declare."""
    sockets = []
    for spec in node.spec.inputs.values():
        if spec.hidden or spec in node.widgets or spec.type == AUTOGROW:  # an autogrow input is only its sockets
            continue
        sockets.append({"name": spec.name, "type": spec.type, "link": links_in.get(spec.name, (None,))[0]})
    for spec in node.widgets:
        if spec.name in links_in:
            sockets.append({"name": spec.name, "type": spec.type, "link": links_in[spec.name][0],
                            "widget": {"name": spec.name}})
    for name, (link_id, type_) in links_in.items():
        declared = node.spec.inputs.get(name)
        if declared is None or declared.hidden:  # nodes with dynamic inputs take names INPUT_TYPES does not list
            sockets.append({"name": name, "type": type_, "link": link_id})
    return sockets


def _warn_unplaceable_constants(node: _Node) -> None:
    widget_names = {spec.name for spec in node.widgets}
    for name, value in node.inputs.items():
        if not is_link(value) and name not in widget_names:
            log.warning("node %s (%s): input %r = %r has no widget in the editor and is left out",
                        node.api_id, node.spec.class_type, name, value)


def _columns(graph: nx.DiGraph, nodes: dict[str, _Node]) -> tuple[list[str], dict[str, int]]:
    """Execution order and each node's column: the longest path of links that leads to it."""
    import networkx as nx

    order = list(nx.lexicographical_topological_sort(graph, key=lambda api_id: nodes[api_id].ui_id))
    column: dict[str, int] = {}
    for api_id in order:
        column[api_id] = max((column[p] + 1 for p in graph.predecessors(api_id)), default=0)
    return order, column


def _positions(graph: nx.DiGraph, nodes: dict[str, _Node], order: list[str],
               column: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Columns left to right; in a column, nodes sit near the average row of what feeds them, stacked apart."""
    by_column: dict[int, list[str]] = {}
    for api_id in order:
        by_column.setdefault(column[api_id], []).append(api_id)
    row: dict[str, float] = {}
    positions: dict[str, tuple[int, int]] = {}
    x = MARGIN
    for index in sorted(by_column):
        first_rank = {api_id: k for k, api_id in enumerate(by_column[index])}

        def centre_of_sources(api_id: str) -> tuple[float, int]:
            sources = [row[p] for p in graph.predecessors(api_id)]
            return (sum(sources) / len(sources) if sources else float(first_rank[api_id]), nodes[api_id].ui_id)

        members = sorted(by_column[index], key=centre_of_sources)
        y = MARGIN
        for rank, api_id in enumerate(members):
            row[api_id] = rank
            positions[api_id] = (x, y)
            y += nodes[api_id].size[1] + ROW_GAP
        x += max(nodes[api_id].size[0] for api_id in members) + COLUMN_GAP
    return positions


def _ui_node(node: _Node, pos: tuple[int, int], order: int, links_out: dict[int, list[int]]) -> dict[str, Any]:
    saved: dict[str, Any] = {
        "id": node.ui_id,
        "type": node.spec.class_type,
        "pos": list(pos),
        "size": list(node.size),
        "flags": {},
        "order": order,
        "mode": 0,
        "inputs": node.socket_inputs,
        "outputs": [{"name": output.name, "type": COMBO if output.choices is not None else output.type,
                     "links": links_out.get(slot, []), "slot_index": slot}
                    for slot, output in enumerate(node.spec.outputs)],
        "properties": {"Node name for S&R": node.spec.class_type},
        "widgets_values": _widget_values(node),
    }
    if node.title is not None and node.title != node.spec.display_name:
        saved["title"] = node.title
    return saved


def api_to_ui(prompt: Prompt, registry: NodeRegistry) -> dict[str, Any]:
    """A UI-format (version 0.4) workflow for an API-format prompt, laid out left to right by data flow.

    Raises WorkflowFormatError naming the node for unknown node types, broken links and loops."""
    checked = _checked_nodes(prompt, registry)
    ids = _ui_ids(list(checked))
    nodes = {api_id: _Node(api_id, ids[api_id], spec, inputs, title, widget_inputs(spec, inputs))
             for api_id, (spec, inputs, title) in checked.items()}
    links = _links(nodes)
    graph = _dag(nodes, links)
    order, column = _columns(graph, nodes)
    rank = {api_id: k for k, api_id in enumerate(order)}
    links.sort(key=lambda link: (rank[link.target], list(nodes[link.target].inputs).index(link.input_name)))

    link_rows = []
    links_in: dict[str, dict[str, tuple[int, str]]] = {api_id: {} for api_id in nodes}
    links_out: dict[str, dict[int, list[int]]] = {api_id: {} for api_id in nodes}
    for link_id, link in enumerate(links, start=1):
        output = nodes[link.source].spec.outputs[link.slot]
        type_ = COMBO if output.choices is not None else output.type
        links_in[link.target][link.input_name] = (link_id, type_)
        links_out[link.source].setdefault(link.slot, []).append(link_id)
        link_rows.append([link_id, nodes[link.source].ui_id, link.slot, nodes[link.target].ui_id, None, type_])
    for node in nodes.values():
        node.socket_inputs = _socket_inputs(node, links_in[node.api_id])
        node.size = _estimated_size(node)
        _warn_unplaceable_constants(node)
    slot_of = {(node.ui_id, socket["name"]): k for node in nodes.values() for k, socket in enumerate(node.socket_inputs)}
    for row, link in zip(link_rows, links):
        row[4] = slot_of[(row[3], link.input_name)]

    positions = _positions(graph, nodes, order, column)
    return {
        "last_node_id": max(ids.values()),
        "last_link_id": len(link_rows),
        "nodes": [_ui_node(nodes[api_id], positions[api_id], rank[api_id], links_out[api_id]) for api_id in order],
        "links": link_rows,
        "groups": [],
        "config": {},
        "extra": {},
        "version": UI_FORMAT_VERSION,
    }
