"""PreviewAny: the output node that shows any value as text."""
from __future__ import annotations

import json
from typing import Any


def as_text(value: Any) -> str:
    """Text as a user reads it: strings as they are, JSON-able values as JSON, the rest by repr."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class PreviewAny:
    CATEGORY = "utilities"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "main"
    OUTPUT_NODE = True
    DESCRIPTION = "Shows the value it receives as text, and passes that text on."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("*", {})}}

    def main(self, source: Any) -> dict:
        text = as_text(source)
        return {"ui": {"text": [text]}, "result": (text,)}


PYTHON_MODULE = "comfy_extras.nodes_preview_any"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"PreviewAny": PreviewAny}
NODE_DISPLAY_NAME_MAPPINGS = {"PreviewAny": "Preview as Text"}
