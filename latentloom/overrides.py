"""`latentloom run --set NODE.INPUT=VALUE`: change one input of a workflow before it runs.

A misspelt node id or input name would otherwise be ignored without a word (validation never looks at inputs a
node does not declare), and the run would quietly use the old value: both are refused, naming what exists.
"""
from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graph_engine import NodeRegistry

SHOWN_NODE_IDS = 30


def apply_overrides(prompt: Any, overrides: list[str], registry: NodeRegistry) -> list[str]:
    """Apply each override in place; returns the problems found (nothing is applied then)."""
    problems, changes = [], []
    for override in overrides:
        target, sep, text = override.partition("=")
        node_id, dot, input_name = _split_target(target, prompt)
        if not sep or not dot or not node_id or not input_name:
            problems.append(f"--set {override!r}: expected NODE.INPUT=VALUE, e.g. --set 3.seed=42")
            continue
        node = prompt.get(node_id) if isinstance(prompt, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get("inputs", {}), dict):
            problems.append(f"--set {override!r}: the workflow has no node {node_id!r}; {_node_ids(prompt)}")
            continue
        names = settable_inputs(node, registry)
        if input_name not in names:
            problems.append(f"--set {override!r}: {_unknown_input(node_id, node, input_name, names)}")
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        changes.append((node, input_name, value))
    if not problems:
        for node, input_name, value in changes:
            node.setdefault("inputs", {})[input_name] = value
    return problems


def _split_target(target: str, prompt: Any) -> tuple[str, str, str]:
    """NODE.INPUT split after the shortest prefix that names a node of the workflow (node ids and input names may
    both hold dots: `3.values.a`, `5.resize_type.width`); else at the first dot."""
    parts = target.split(".")
    for end in range(1, len(parts)):
        node_id = ".".join(parts[:end])
        if isinstance(prompt, dict) and node_id in prompt:
            return node_id, ".", ".".join(parts[end:])
    return target.partition(".")


def settable_inputs(node: dict, registry: NodeRegistry) -> list[str]:
    """The inputs the node's class declares (hidden ones aside; with the sockets its dynamic inputs bring for the
    node's inputs), set in the workflow or not; for a class no node
    provides (validation refuses the workflow anyway), the inputs the workflow gives it."""
    from graph_engine.dynamic_inputs import expand_inputs
    from graph_engine.specs import AUTOGROW

    spec = registry.get(node.get("class_type"))
    if spec is None:
        return list(node.get("inputs", {}))
    return [s.name for s in expand_inputs(spec.inputs, node.get("inputs", {})) if not s.hidden and s.type != AUTOGROW]


def _unknown_input(node_id: str, node: dict, input_name: str, names: list[str]) -> str:
    about = f"node {node_id} ({node.get('class_type')}) has no input {input_name!r}"
    close = difflib.get_close_matches(input_name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = f" Its inputs: {', '.join(names)}." if names else " It has no inputs."
    return about + hint + listed


def _node_ids(prompt: Any) -> str:
    ids = list(prompt) if isinstance(prompt, dict) else []
    if not ids:
        return "it has no nodes"
    shown = ", ".join(map(str, ids[:SHOWN_NODE_IDS]))
    more = f" and {len(ids) - SHOWN_NODE_IDS} more" if len(ids) > SHOWN_NODE_IDS else ""
    return f"its node ids are {shown}{more}"
