"""ComfyMathExpression: an arithmetic expression over the numbers connected to the node (ComfyUI's
comfy_extras.nodes_math), evaluated by nodes.utility.safe_math, never by Python's eval."""
from __future__ import annotations

import math
import string
from typing import Any

from graph_engine import InvalidNodeInput
from graph_engine.dynamic_inputs import autogrow_input

from .safe_math import FUNCTIONS, ExpressionError, evaluate


def expression_result(expression: str, values: dict[str, Any]) -> tuple[float, int, bool]:
    """The expression's value as FLOAT, INT (truncated) and BOOLEAN; the names are `values`' keys, and `values`
    itself is the list of them."""
    names = {**values, "values": list(values.values())}
    try:
        result = evaluate(expression, names)
        if not isinstance(result, (int, float)):
            raise ExpressionError(f"it gives {type(result).__name__} {result!r}, not a number")
        try:
            as_float = float(result)
        except OverflowError:
            raise ExpressionError(f"its result {result} is too large for a FLOAT") from None
        if not math.isfinite(as_float):
            raise ExpressionError(f"its result is {as_float}, not a finite number")
    except ExpressionError as exc:
        raise InvalidNodeInput(f"Math Expression {expression.strip()!r}: {exc}") from None
    return as_float, int(result), bool(result)


class ComfyMathExpression:
    CATEGORY = "utilities"
    RETURN_TYPES = ("FLOAT", "INT", "BOOLEAN")
    RETURN_NAMES = ("FLOAT", "INT", "BOOL")
    FUNCTION = "execute"
    DESCRIPTION = ("Arithmetic over the connected numbers, named a, b, c ... (all of them: values), with + - * / // "
                   "% **, comparisons, and/or/not, x if c else y and the functions " + ", ".join(FUNCTIONS) + ".")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "expression": ("STRING", {"default": "a + b", "multiline": True}),
            "values": autogrow_input("value", ("FLOAT,INT,BOOLEAN", {}), names=list(string.ascii_lowercase),
                                     minimum=1)}}

    def execute(self, expression: str, values: dict[str, Any]) -> tuple[float, int, bool]:
        return expression_result(expression, values)


PYTHON_MODULE = "comfy_extras.nodes_math"  # ComfyUI's module of this node
NODE_CLASS_MAPPINGS = {"ComfyMathExpression": ComfyMathExpression}
NODE_DISPLAY_NAME_MAPPINGS = {"ComfyMathExpression": "Math Expression"}
