"""Converting an editor (UI-format) workflow into the API prompt ComfyUI's editor would queue for it.

The rules follow the ComfyUI frontend's export: widget values land on the widget inputs, links resolve
through Reroutes, bypassed nodes (matching type) and subgraphs to the node that really computes the value,
a PrimitiveNode's value is written into every widget it feeds, and muted nodes vanish together with the
links that came from them (a widget input fed by one keeps its own saved value).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .registry import NodeRegistry
from .ui_graph import SUBGRAPH_INPUTS, SUBGRAPH_INSTANCE, FlatInput, FlatNode, Source, UIConversionError, flatten
from .ui_widgets import widget_values

__all__ = ["UIConversionError", "ui_to_api", "EDITOR_ONLY_TYPES"]

MUTED = 2
BYPASSED = 4
EDITOR_ONLY_TYPES = frozenset({"Note", "MarkdownNote", "PrimitiveNode", "Reroute"})
_PASS_THROUGH = frozenset({SUBGRAPH_INSTANCE, SUBGRAPH_INPUTS})


@dataclass(frozen=True)
class _Constant:
    """A value written into the target widget (what a PrimitiveNode feeds)."""

    value: Any


def _emitted(node: FlatNode) -> bool:
    """Whether the node appears in the API prompt: it runs and is not an editor-only helper."""
    return node.mode not in (MUTED, BYPASSED) and node.type not in EDITOR_ONLY_TYPES | _PASS_THROUGH


def _connects(a: str | None, b: str | None) -> bool:
    """The editor's link rule: '*' or no type fits anything, else names match (any pair of a comma list)."""
    if a in (None, "", "*") or b in (None, "", "*"):
        return True
    return bool({t.strip().lower() for t in a.split(",")} & {t.strip().lower() for t in b.split(",")})


def _bypass_input(node: FlatNode, slot: int, target_type: str) -> FlatInput | None:
    """The input a bypassed node passes on to its output `slot`: the same index when its type fits, else the first
    input of exactly the target's type, else the first that fits both; None when none does."""
    inputs = node.inputs
    if target_type in ("", "*"):
        return inputs[slot] if slot < len(inputs) else (inputs[0] if inputs else None)
    output_type = node.output_types[slot] if slot < len(node.output_types) else None
    fits = [i for i in inputs if _connects(i.type, output_type) and _connects(i.type, target_type)]
    if slot < len(inputs) and any(i is inputs[slot] for i in fits):
        return inputs[slot]
    exact = [i for i in inputs if i.type == target_type]
    return (exact or fits or [None])[0]


def _step(nodes: dict[str, FlatNode], node: FlatNode, slot: int, wanted_type: str) -> Any:
    """One hop back from a node that does not compute anything itself."""
    if node.mode == MUTED:
        return None
    if node.mode == BYPASSED:
        chosen = _bypass_input(node, slot, wanted_type)
        return chosen.source if chosen is not None else None
    if node.type == "Reroute":
        return node.inputs[0].source if node.inputs else None
    if node.type == "PrimitiveNode":
        values = node.widgets_values
        return _Constant(values[0]) if isinstance(values, list) and values else None
    if node.type == SUBGRAPH_INSTANCE:
        return node.output_sources.get(slot)
    if node.type == SUBGRAPH_INPUTS:
        instance_inputs = nodes[node.instance_id].inputs
        return instance_inputs[slot].source if slot < len(instance_inputs) else None
    return None  # Notes and other editor-only nodes have nothing to give


def _resolve(nodes: dict[str, FlatNode], owner: FlatNode, target: FlatInput) -> Any:
    """Follow a link back to a real node's output (a Source), a PrimitiveNode's value (a _Constant), or None when
    the chain ends at nothing that runs (a muted node, a bypass without a fitting input, a loose Reroute)."""
    source, seen = target.source, set()
    while isinstance(source, Source):
        node = nodes.get(source.node_id)
        if node is None:
            raise UIConversionError(f"node {owner.id} input {target.name!r}: its link comes from node "
                                    f"{source.node_id}, which does not exist; reconnect the input in the editor")
        if _emitted(node):
            return source
        if source in seen:
            raise UIConversionError(f"node {owner.id} input {target.name!r}: its link goes round in a loop through "
                                    f"node {source.node_id} ({node.type}); reconnect it in the editor")
        seen.add(source)
        source = _step(nodes, node, source.slot, target.type)
    return source


def _convert_node(nodes: dict[str, FlatNode], node: FlatNode, registry: NodeRegistry) -> dict[str, Any]:
    spec = registry.get(node.type)
    inputs = widget_values(spec, node.widgets_values)
    for target in node.inputs:
        resolved = _resolve(nodes, node, target)
        if isinstance(resolved, Source):
            inputs[target.name] = [resolved.node_id, resolved.slot]
        elif isinstance(resolved, _Constant):
            inputs[target.widget or target.name] = resolved.value
        # an input whose link resolves to nothing keeps its widget value, as in the editor's export
    return {"class_type": node.type, "inputs": inputs, "_meta": {"title": node.title or spec.display_name}}


def _unknown_types_error(unknown: list[FlatNode]) -> UIConversionError:
    return UIConversionError("; ".join(
        f"node {node.id} ({node.type}): unknown node type; it may come from a plugin that is not installed "
        "(put it in custom_nodes/ and restart)" for node in unknown))


def ui_to_api(workflow: dict, registry: NodeRegistry) -> dict:
    """The API prompt {node id: {"class_type", "inputs", "_meta": {"title"}}} for an editor workflow."""
    if not isinstance(workflow, dict):
        raise UIConversionError(f"an editor workflow is a JSON object, got {type(workflow).__name__}")
    nodes = flatten(workflow)
    emitted = [node for node in nodes.values() if _emitted(node)]
    unknown = [node for node in emitted if registry.get(node.type) is None]
    if unknown:
        raise _unknown_types_error(unknown)
    return {node.id: _convert_node(nodes, node, registry) for node in emitted}
