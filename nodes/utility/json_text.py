"""JSON text nodes: read one value out of a JSON object, write arrays and dictionaries as JSON."""
from __future__ import annotations

import json
import logging
from typing import Any

from graph_engine import InvalidNodeInput

from .strings import text_input

log = logging.getLogger(__name__)


class JsonExtractString:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = ("The value of key in a JSON object, as text; empty when the text is not a JSON object, lacks the "
                   "key or holds null there.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"json_string": text_input(), "key": ("STRING", {"multiline": False})}}

    def execute(self, json_string: str, key: str) -> tuple[str]:
        try:
            data = json.loads(json_string)
        except (json.JSONDecodeError, RecursionError) as exc:
            log.info("json_string is not JSON that can be read (%s): the result is empty", type(exc).__name__)
            return ("",)
        value = data.get(key) if isinstance(data, dict) else None
        return ("" if value is None else str(value),)


def json_text(value: Any, indent: int, input_name: str) -> str:
    """`value` as JSON, non-ASCII characters kept; indent 0 writes one line."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=indent or None)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidNodeInput(f"{input_name} cannot be written as JSON: {exc}; only numbers, text, true/false, "
                               "null, arrays and dictionaries of them can") from None


INDENT = ("INT", {"default": 2, "min": 0, "max": 8, "tooltip": "Spaces per level of nesting; 0 writes one line."})


class ConvertDictionaryToString:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "The dictionary written as JSON."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"dictionary": ("DICT", {}), "indent": INDENT}}

    def execute(self, dictionary: dict, indent: int = 2) -> tuple[str]:
        return (json_text(dictionary, indent, "dictionary"),)


class ConvertArrayToString:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "The array written as JSON."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"array": ("ARRAY", {}), "indent": INDENT}}

    def execute(self, array: list, indent: int = 2) -> tuple[str]:
        return (json_text(array, indent, "array"),)


PYTHON_MODULE = "comfy_extras.nodes_string"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"JsonExtractString": JsonExtractString, "ConvertDictionaryToString": ConvertDictionaryToString,
                       "ConvertArrayToString": ConvertArrayToString}
NODE_DISPLAY_NAME_MAPPINGS = {"JsonExtractString": "Extract Text from JSON",
                              "ConvertDictionaryToString": "Convert Dictionary to String",
                              "ConvertArrayToString": "Convert Array to String"}
