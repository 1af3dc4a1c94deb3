"""Mapping an editor node's `widgets_values` onto the widget inputs of its node class."""
from __future__ import annotations

from typing import Any

from .dynamic_inputs import option_sockets
from .specs import ANY_TYPE, DYNAMIC_COMBO, InputSpec, NodeSpec

SEED_NAMES = frozenset({"seed", "noise_seed"})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
_NO_VALUE = object()


def _is_widget(declared: InputSpec) -> bool:
    return (declared.accepts_constant and declared.type != ANY_TYPE and not declared.matches_any
            and not declared.options.get("forceInput"))


def _declared_in_order(spec: NodeSpec) -> list[InputSpec]:
    return [spec.inputs[name] for section in ("required", "optional") for name in spec.input_order.get(section, ())]


def _option_widgets(declared: InputSpec, chosen: Any) -> list[InputSpec]:
    """The widgets the option `chosen` of a dynamic combo brings (none for another input)."""
    if declared.type != DYNAMIC_COMBO:
        return []
    return [sub for sub in option_sockets(declared, chosen) or () if _is_widget(sub)]


def _with_options(declared: InputSpec, values: dict[str, Any]) -> list[InputSpec]:
    """A widget followed by the widgets its chosen option brings (in `values`, else its first), at any depth."""
    chosen = values.get(declared.name, _default(declared))
    return [declared, *(w for sub in _option_widgets(declared, chosen) for w in _with_options(sub, values))]


def widget_inputs(spec: NodeSpec, values: dict[str, Any] | None = None) -> list[InputSpec]:
    """The inputs the editor shows as widgets, in INPUT_TYPES order (required, then optional); a dynamic combo's is
    followed by the widgets of its option in `values` (else its first)."""
    values = values or {}
    widgets = []
    for declared in _declared_in_order(spec):
        if _is_widget(declared):
            widgets.extend(_with_options(declared, values))
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
    a dict is keyed by widget name; widgets missing from the file get the value a new widget would show.

    A dynamic combo's value is followed by those of its chosen option's widgets (`resize_type.width` ...), then
    come the node's other widgets, as ComfyUI's editor saves them."""
    values: dict[str, Any] = {}
    pending = [w for w in _declared_in_order(spec) if _is_widget(w)]
    position = 0
    while pending:
        declared = pending.pop(0)
        if isinstance(saved, dict) and declared.name in saved:
            values[declared.name] = saved[declared.name]
        elif isinstance(saved, list) and position < len(saved):
            values[declared.name] = saved[position]
            position += 1
            if has_control_widget(declared) and position < len(saved) and _is_control_value(saved[position]):
                position += 1
        else:
            default = _default(declared)
            if default is not _NO_VALUE:
                values[declared.name] = default
        if declared.type == DYNAMIC_COMBO:
            pending[:0] = _option_widgets(declared, values.get(declared.name))
    return values


def _default(declared: InputSpec) -> Any:
    """What a new widget shows in the editor: its default, else a combo's first choice."""
    if "default" in declared.options:
        return declared.options["default"]
    if declared.choices:
        return declared.choices[0]
    return _NO_VALUE
