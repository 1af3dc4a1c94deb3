"""Calling one node's function with ComfyUI's list semantics, and checking what it returns."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .blocking import ExecutionBlocker, OnBlocked, blocker_in
from .dynamic_inputs import nested_arguments
from .plan import Link
from .specs import InputSpec, NodeSpec


class NodeOutputError(TypeError):
    """A node function returned something that is not its declared outputs."""


@dataclass(frozen=True)
class NodeResult:
    """A node's outputs, each a list (one item per mapped call, or the node's own list), and its UI data."""

    outputs: tuple[list, ...]
    ui: dict[str, list] | None = None


@dataclass(frozen=True)
class Expansion:
    """The nodes one call asked to run in its place (API format, as ComfyUI's GraphBuilder writes them) and the
    call's values, where a [node id, output index] list stands for that output of a new (or existing) node."""

    graph: dict[str, Any]
    values: tuple


@dataclass(frozen=True)
class ExpandedCalls:
    """A node's calls when one or more of them expanded: each call's values or Expansion, and their merged ui."""

    calls: tuple[tuple | Expansion, ...]
    ui: dict[str, list] | None


NodeOutcome = NodeResult | ExpandedCalls  # what calling a node gives: its result, or the expansion it asked for


def _returns_nothing(returned: Any) -> bool:
    """None, or a dict with neither ui nor result (ComfyUI ignores its other keys)."""
    return returned is None or (isinstance(returned, dict) and not {"ui", "result", "expand"} & returned.keys())


def _split(spec: NodeSpec, returned: Any) -> tuple[tuple | Expansion, dict | None]:
    """(output values or an Expansion, ui) from what one call returned: a tuple, or {"ui": ..., "result": ...,
    "expand": ...}.

    An output node (or a node without outputs) may return None or {}: nothing to show, and None on each output,
    as in ComfyUI; any other node must return its outputs."""
    count = len(spec.outputs)
    if isinstance(returned, ExecutionBlocker):  # the whole result blocked: every output carries the blocker
        return (returned,) * count, None
    if _returns_nothing(returned) and (spec.output_node or count == 0):
        return (None,) * count, None
    if isinstance(returned, dict) and {"ui", "result", "expand"} & returned.keys():
        ui = returned.get("ui")
        if ui is not None and not isinstance(ui, dict):
            raise NodeOutputError(f"{spec.class_type} returned a 'ui' of type {type(ui).__name__}; it must be a dict")
        values = returned.get("result")
        if values is None and (spec.output_node or count == 0):
            values = (None,) * count
        if "expand" in returned:
            return _expansion(spec, returned["expand"], values), ui
    else:
        ui, values = None, returned
    return _checked_values(spec, values), ui


def _checked_values(spec: NodeSpec, values: Any) -> tuple:
    count = len(spec.outputs)
    if isinstance(values, ExecutionBlocker):  # {"result": blocker}
        return (values,) * count
    if not isinstance(values, (tuple, list)):
        raise NodeOutputError(
            f"{spec.class_type}.{spec.function} returned {type(values).__name__}; it must return a tuple of "
            f"{count} value(s) matching RETURN_TYPES")
    if len(values) != count:
        raise NodeOutputError(
            f"{spec.class_type}.{spec.function} returned {len(values)} value(s) for {count} declared output(s)")
    return tuple(values)


def _expansion(spec: NodeSpec, graph: Any, values: Any) -> Expansion:
    if not isinstance(graph, dict):
        raise NodeOutputError(f"{spec.class_type} returned an 'expand' of type {type(graph).__name__}; it must be a "
                              "graph in API format, a dict of node id -> {class_type, inputs}")
    if isinstance(values, Iterator):  # GraphBuilder users often return map(lambda i: node.out(i), ...)
        values = tuple(values)
    return Expansion(graph, _checked_values(spec, values))


def _plain(value: Any) -> Any:
    """UI data as JSON takes it: tuples and iterators (a `map`, a generator) become lists, at any depth."""
    if isinstance(value, (list, tuple, Iterator)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _merge_ui(uis: list[dict]) -> dict[str, list] | None:
    if not uis:
        return None
    merged: dict[str, list] = {}
    for part in uis:
        for key, value in part.items():
            value = _plain(value)
            merged.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return merged


def _contribution(spec: NodeSpec, values: tuple, linked: Callable[[Link], list] | None) -> list[list]:
    """What one call adds to each output's list: its value, the items of an OUTPUT_IS_LIST output, or every item
    of the output a Link (into an expansion) points at."""
    contribution = []
    for slot, output in enumerate(spec.outputs):
        item = values[slot]
        if isinstance(item, Link) and linked is not None:
            contribution.append(list(linked(item)))
        elif output.is_list and not isinstance(item, ExecutionBlocker):
            if not isinstance(item, (list, tuple)):
                raise NodeOutputError(f"{spec.class_type} output {slot} is declared OUTPUT_IS_LIST but is not a list")
            contribution.append(list(item))
        else:
            contribution.append([item])
    return contribution


def merge_calls(spec: NodeSpec, calls: Sequence[tuple], uis: list[dict],
                linked: Callable[[Link], list] | None = None) -> NodeResult:
    """One NodeResult from the values of each call; `linked` gives the output a Link among them points at."""
    contributions = [_contribution(spec, values, linked) for values in calls]
    outputs = tuple([item for part in contributions for item in part[slot]] for slot in range(len(spec.outputs)))
    return NodeResult(outputs, _merge_ui(uis))


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


def call_node(instance: Any, spec: NodeSpec, inputs: dict[str, list],
              sockets: Mapping[str, InputSpec] | None = None, on_blocked: OnBlocked | None = None) -> NodeOutcome:
    """Run a node's FUNCTION on an instance of its class, with ComfyUI's list rules; ExpandedCalls when a call
    returned a graph expansion (the node's result waits for the new nodes). `sockets` (by prompt key) tells which
    inputs a dynamic input gathers into one argument. A call given an ExecutionBlocker does not run: its outputs
    are the blocker `on_blocked` answers."""
    function = getattr(instance, spec.function)
    calls = []
    for kwargs in _each_call(spec, inputs):
        blocker = blocker_in(kwargs, spec.input_is_list)
        if blocker is not None:
            blocker = on_blocked(blocker) if on_blocked is not None else blocker
            calls.append(((blocker,) * len(spec.outputs), None))
        else:
            calls.append(_split(spec, function(**nested_arguments(sockets or {}, kwargs))))
    uis = [ui for _, ui in calls if ui is not None]
    if any(isinstance(values, Expansion) for values, _ in calls):
        return ExpandedCalls(tuple(values for values, _ in calls), _merge_ui(uis))
    return merge_calls(spec, [values for values, _ in calls], uis)


def requested_lazy_inputs(instance: Any, spec: NodeSpec, inputs: dict[str, list],
                          sockets: Mapping[str, InputSpec] | None = None) -> set[str]:
    """The lazy inputs (by prompt key) that check_lazy_status asks for; without that method, none is evaluated (as
    ComfyUI). It receives dynamic inputs gathered as the node function does."""
    check = getattr(instance, "check_lazy_status", None)
    if check is None:
        return set()
    requested: set[str] = set()
    for kwargs in _each_call(spec, inputs):
        if blocker_in(kwargs, spec.input_is_list) is not None:
            continue  # a blocked call does not run, so it needs no lazy input either
        names = check(**nested_arguments(sockets or {}, kwargs))
        if isinstance(names, (list, tuple, set)):
            requested.update(name for name in names if isinstance(name, str))
    return requested
