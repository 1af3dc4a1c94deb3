"""Mapping an editor node's `widgets_values` onto the widget inputs of its node class."""
from __future__ import annotations

from typing import Any

from .specs import ANY_TYPE, InputSpec, NodeSpec

SEED_NAMES = frozenset({"seed", "noise_seed"})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
_NO_VALUE = object()


def widget_inputs(spec: NodeSpec) -> list[InputSpec]:
    """The inputs the editor shows as widgets, in INPUT_TYPES order (required, then optional)."""
    widgets = []
    for section in ("required", "optional"):
        for name in spec.input_order.get(section, ()):
            declared = spec.inputs[name]
            if declared.accepts_constant and declared.type != ANY_TYPE and not declared.options.get("forceInput"):
                widgets.append(declared)
    return widgets


def has_control_widget(declared: InputSpec) -> bool:
    """The editor adds a control_after_generate widget after seeds and after inputs that ask for one."""
    if declared.options.get("control_after_generate"):
        return True
    return declared.type == "INT" and declared.name in SEED_NAMES


def _is_control_value(value: Any) -> bool:
    # old files stored the control as a boolean ("randomize after generate" on/off)
    return isinstance(value, bool) or (isinstance(value, str) and value in CONTROL_VALUES)


def widget_values(spec: NodeSpec, saved: Any) -> dict[str, Any]:
    """Widget name -> value; a list is positional (control values skipped, extra trailing values ignored),
    a dict is keyed by widget name; widgets missing from the file get the value a new widget would show."""
    widgets = widget_inputs(spec)
    values: dict[str, Any] = {}
    if isinstance(saved, dict):
        values = {w.name: saved[w.name] for w in widgets if w.name in saved}
    elif isinstance(saved, list):
        position = 0
        for declared in widgets:
            if position >= len(saved):
                break
            values[declared.name] = saved[position]
            position += 1
            if has_control_widget(declared) and position < len(saved) and _is_control_value(saved[position]):
                position += 1
    for declared in widgets:
        if declared.name not in values:
            default = _default(declared)
            if default is not _NO_VALUE:
                values[declared.name] = default
    return values


def _default(declared: InputSpec) -> Any:
    """What a new widget shows in the editor: its default, else a combo's first choice."""
    if "default" in declared.options:
        return declared.options["default"]
    if declared.choices:
        return declared.choices[0]
    return _NO_VALUE
