"""ComfyUI's newer ("V3") dynamic inputs spelt in the classic node interface.

ComfyUI expands a dynamic input into sockets whose prompt keys join the input's name and the socket's with a dot: a
dynamic combo `resize_type` brings the inputs of the chosen option as `resize_type.width`, ... (autogrow inputs:
nodes/utility/autogrow.py). Declaring those sockets under the same keys lets the API prompts ComfyUI writes run here
unchanged. Not yet editor files: their `widgets_values` list a dynamic combo's value, then the chosen option's
widgets, then the node's other widgets, by position; the classic declaration (required widgets, then optional ones)
cannot follow that order, so reading them needs the engine to know the options (graph_engine/ui_widgets.py).
"""
from __future__ import annotations

from typing import Any


def option_value(group: str, name: str, inputs: dict[str, Any], default: Any) -> Any:
    """A dynamic combo option's input `<group>.<name>`, or its default when the prompt leaves it out."""
    value = inputs.get(f"{group}.{name}")
    return default if value is None else value
