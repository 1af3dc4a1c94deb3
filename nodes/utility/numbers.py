"""ComfyNumberConvert: a whole number, number, text or true/false as both FLOAT and INT (ComfyUI's
comfy_extras.nodes_number_convert)."""
from __future__ import annotations

import math
from typing import Any

from graph_engine import InvalidNodeInput


def text_number(text: str) -> tuple[float, int]:
    """A number written as text: INT is the text read as a whole number where it is one (exact beyond a float's
    53 bits), else the number truncated."""
    written = text.strip()
    if not written:
        raise InvalidNodeInput("value is empty text; connect text that holds a number, such as 42 or 0.5")
    try:
        as_float = float(written)
    except ValueError:
        raise InvalidNodeInput(f"value {text!r} is not a number; write it as 42, -3.5 or 1e3") from None
    if not math.isfinite(as_float):
        raise InvalidNodeInput(f"value {text!r} is not a finite number")
    try:
        return as_float, int(written)
    except ValueError:
        return as_float, int(as_float)


def converted(value: Any) -> tuple[float, int]:
    if isinstance(value, bool):
        return float(value), int(value)
    if isinstance(value, int):
        return float(value), value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidNodeInput(f"value {value} is not a finite number")
        return value, int(value)
    if isinstance(value, str):
        return text_number(value)
    raise InvalidNodeInput(f"value is {type(value).__name__}; connect an INT, FLOAT, STRING or BOOLEAN")


class ComfyNumberConvert:
    CATEGORY = "utilities"
    RETURN_TYPES = ("FLOAT", "INT")
    RETURN_NAMES = ("FLOAT", "INT")
    FUNCTION = "execute"
    DESCRIPTION = "The value as a number and as a whole number (truncated toward zero); text is read as a number."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT,FLOAT,STRING,BOOLEAN", {"display_name": "value"})}}

    def execute(self, value: Any) -> tuple[float, int]:
        return converted(value)


PYTHON_MODULE = "comfy_extras.nodes_number_convert"  # ComfyUI's module of this node
NODE_CLASS_MAPPINGS = {"ComfyNumberConvert": ComfyNumberConvert}
NODE_DISPLAY_NAME_MAPPINGS = {"ComfyNumberConvert": "Convert Number"}
