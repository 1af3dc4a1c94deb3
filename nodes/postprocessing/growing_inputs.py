"""ComfyUI's newer ("V3") dynamic inputs spelt in the classic node interface.

ComfyUI expands a dynamic input into sockets whose prompt keys join the input's name and the socket's with a dot:
an autogrow input `images` of template `image` becomes `images.image0`, `images.image1`, ...; a dynamic combo
`resize_type` brings the inputs of the chosen option as `resize_type.width`, .... Declaring those sockets under the
same keys lets the API prompts ComfyUI writes run here unchanged. Not yet editor files: their `widgets_values` list a
dynamic combo's value, then the chosen option's widgets, then the node's other widgets, by position; the classic
declaration (required widgets, then optional ones) cannot follow that order, so reading them needs the engine to know
the options (graph_engine/ui_widgets.py).
"""
from __future__ import annotations

from typing import Any


def autogrow_sockets(group: str, prefix: str, socket: tuple, count: int, required: int = 1) -> dict[str, dict]:
    """INPUT_TYPES sections for `count` sockets `<group>.<prefix>0`, ...; the first `required` of them required."""
    names = [f"{group}.{prefix}{index}" for index in range(count)]
    return {"required": {name: socket for name in names[:required]},
            "optional": {name: socket for name in names[required:]}}


def grown_values(group: str, prefix: str, inputs: dict[str, Any]) -> list[Any]:
    """The connected sockets' values in socket order (gaps skipped), from a node function's keyword arguments."""
    start = f"{group}.{prefix}"
    numbered = [(int(name[len(start):]), value) for name, value in inputs.items()
                if name.startswith(start) and name[len(start):].isdigit() and value is not None]
    return [value for _, value in sorted(numbered, key=lambda item: item[0])]


def option_value(group: str, name: str, inputs: dict[str, Any], default: Any) -> Any:
    """A dynamic combo option's input `<group>.<name>`, or its default when the prompt leaves it out."""
    value = inputs.get(f"{group}.{name}")
    return default if value is None else value
