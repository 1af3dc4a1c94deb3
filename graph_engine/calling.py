"""Calling one node's function with ComfyUI's list semantics, and checking what it returns."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .specs import NodeSpec


class NodeOutputError(TypeError):
    """A node function returned something that is not its declared outputs."""


@dataclass(frozen=True)
class NodeResult:
    """A node's outputs, each a list (one item per mapped call, or the node's own list), and its UI data."""

    outputs: tuple[list, ...]
    ui: dict[str, list] | None = None


def _returns_nothing(returned: Any) -> bool:
    """None, or a dict with neither ui nor result (ComfyUI ignores its other keys)."""
    return returned is None or (isinstance(returned, dict) and not {"ui", "result", "expand"} & returned.keys())


def _split(spec: NodeSpec, returned: Any) -> tuple[tuple, dict | None]:
    """(output values, ui) from what one call returned: a tuple, or {"ui": ..., "result": ...}.

    An output node (or a node without outputs) may return None or {}: nothing to show, and None on each output,
    as in ComfyUI; any other node must return its outputs."""
    count = len(spec.outputs)
    if _returns_nothing(returned) and (spec.output_node or count == 0):
        return (None,) * count, None
    if isinstance(returned, dict) and ("ui" in returned or "result" in returned):
        if "expand" in returned:
            raise NodeOutputError(f"{spec.class_type} returned a graph expansion, which is not supported yet")
        ui = returned.get("ui")
        if ui is not None and not isinstance(ui, dict):
            raise NodeOutputError(f"{spec.class_type} returned a 'ui' of type {type(ui).__name__}; it must be a dict")
        values = returned.get("result")
        if values is None and (spec.output_node or count == 0):
            values = (None,) * count
    else:
        ui, values = None, returned
    if not isinstance(values, (tuple, list)):
        raise NodeOutputError(
            f"{spec.class_type}.{spec.function} returned {type(values).__name__}; it must return a tuple of "
            f"{count} value(s) matching RETURN_TYPES")
    if len(values) != count:
        raise NodeOutputError(
            f"{spec.class_type}.{spec.function} returned {len(values)} value(s) for {count} declared output(s)")
    return tuple(values), ui


def _plain(value: Any) -> Any:
    """UI data as JSON takes it: tuples and iterators (a `map`, a generator) become lists, at any depth."""
    if isinstance(value, (list, tuple, Iterator)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _merge(spec: NodeSpec, calls: list[tuple[tuple, dict | None]]) -> NodeResult:
    outputs = []
    for slot, output in enumerate(spec.outputs):
        if output.is_list:
            merged: list = []
            for values, _ in calls:
                item = values[slot]
                if not isinstance(item, (list, tuple)):
                    raise NodeOutputError(f"{spec.class_type} output {slot} is declared OUTPUT_IS_LIST but is not a list")
                merged.extend(item)
            outputs.append(merged)
        else:
            outputs.append([values[slot] for values, _ in calls])
    uis = [ui for _, ui in calls if ui is not None]
    ui = None
    if uis:
        ui = {}
        for part in uis:
            for key, value in part.items():
                value = _plain(value)
                ui.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return NodeResult(tuple(outputs), ui)


def _each_call(spec: NodeSpec, inputs: dict[str, list]) -> list[dict[str, Any]]:
    """The keyword arguments of each call: whole lists once (INPUT_IS_LIST), else one call per list item.

    Shorter input lists repeat their last item, as in ComfyUI; an empty input list means no call.
    """
    if spec.input_is_list:
        return [inputs]
    if any(len(values) == 0 for values in inputs.values()):
        return []
    length = max((len(values) for values in inputs.values()), default=1)
    return [{name: values[min(i, len(values) - 1)] for name, values in inputs.items()} for i in range(length)]


def call_node(instance: Any, spec: NodeSpec, inputs: dict[str, list]) -> NodeResult:
    """Run a node's FUNCTION on an instance of its class, with ComfyUI's list rules."""
    function = getattr(instance, spec.function)
    return _merge(spec, [_split(spec, function(**kwargs)) for kwargs in _each_call(spec, inputs)])


def requested_lazy_inputs(instance: Any, spec: NodeSpec, inputs: dict[str, list]) -> set[str]:
    """The lazy inputs that check_lazy_status asks for; without that method, none is evaluated (as ComfyUI)."""
    check = getattr(instance, "check_lazy_status", None)
    if check is None:
        return set()
    requested: set[str] = set()
    for kwargs in _each_call(spec, inputs):
        names = check(**kwargs)
        if isinstance(names, (list, tuple, set)):
            requested.update(name for name in names if isinstance(name, str))
    return requested
