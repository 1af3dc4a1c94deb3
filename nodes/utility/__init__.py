"""Utility nodes that need no models: primitives, math, text, logic and a value preview."""
from ..node_groups import gather
from . import (arithmetic, json_text, logic, math_expression, numbers, preview, primitives, seed, strings,
               text_format, text_patterns)

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, NODE_PYTHON_MODULES = gather(
    primitives, arithmetic, strings, text_format, text_patterns, json_text, logic, math_expression, numbers, seed,
    preview)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "NODE_PYTHON_MODULES"]
