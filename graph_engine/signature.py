"""Node signatures: the cache key of a node's result, computed once per node per run."""
from __future__ import annotations

import hashlib
import logging
import math
import os
from collections import ChainMap
from typing import Any, Mapping

from .dynamic_inputs import nested_arguments
from .plan import Node

log = logging.getLogger(__name__)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _is_changed_token(node: Node) -> str:
    """IS_CHANGED's result as text; NaN (or an exception) gives a fresh token so the node always runs."""
    try:
        # as in ComfyUI, linked inputs are not known yet and are passed as None
        given = {**node.constants, **{name: None for name in node.links}}
        result = node.spec.cls.IS_CHANGED(**nested_arguments(node.sockets, given))
    except Exception as exc:
        log.warning("IS_CHANGED of node %s (%s) failed, running it again: %s", node.id, node.class_type, exc)
        result = float("nan")
    if _is_nan(result):
        return "always:" + os.urandom(8).hex()
    return repr(result)


_SCALARS = frozenset({bool, int, float, str})


def _is_plain(value: Any) -> bool:
    """Whether a constant is data its repr tells apart (JSON-like), not an object such as a tensor, whose repr may
    abbreviate and which an expansion can pass as a constant."""
    if value is None or type(value) in _SCALARS:
        return True  # nearly every constant: a widget's value
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if id(item) in seen:
                return False  # a value that holds itself (or one container twice): not worth keying
            seen.add(id(item))
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif item is not None and not isinstance(item, (bool, int, float, str)):
            return False
    return True


def signatures(nodes: Mapping[str, Node], order: list[str], known: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """Signature of every node in `order`: class, constants, IS_CHANGED and the signatures of its sources (in
    `order` before it, or in `known`: an expansion's nodes link to nodes already in the run).

    Each signature is a fixed-size digest, so a node costs the same however deep its ancestry.
    """
    result: dict[str, bytes] = {}
    of = ChainMap(result, known or {})
    for node_id in order:
        node = nodes[node_id]
        spec = node.spec
        parts: list[Any] = [node.class_type, sorted(node.constants.items())]
        if node.links:
            parts.append(sorted((name, of[link.source], link.index) for name, link in node.links.items()))
        if spec.has_is_changed:
            parts.append(_is_changed_token(node))
        if spec.not_idempotent or spec.wants_unique_id:
            parts.append(("node", node_id))
        if not all(_is_plain(value) for value in node.constants.values()):
            parts.append("object:" + os.urandom(8).hex())  # never reuse a result made from an object we cannot key
        try:
            text = repr(parts)
        except RecursionError:  # a constant nested too deeply to write out: never reuse its result
            text = "unrepresentable:" + os.urandom(8).hex()
        result[node_id] = hashlib.blake2b(text.encode(), digest_size=16).digest()
    return result
