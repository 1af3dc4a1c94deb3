"""Arithmetic on INT and FLOAT values."""
from __future__ import annotations

import math
import operator
from typing import Callable

from .primitives import INT_LIMIT


def _divide_int(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("cannot divide by zero: set b to another value")
    return a // b


def _divide(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError("cannot divide by zero: set b to another value")
    return a / b


def _modulo(a, b):
    if b == 0:
        raise ZeroDivisionError("modulo by zero: set b to another value")
    return a % b


def _power_int(a: int, b: int) -> int:
    if b < 0:
        raise ValueError("a negative exponent gives a fraction: use Math (Float)")
    if b > 64 and abs(a) > 1:
        raise OverflowError(f"{a} to the power {b} does not fit in a 64-bit integer")
    return a**b


def _power(a: float, b: float) -> float:
    if a == 0 and b < 0:
        raise ZeroDivisionError("zero to a negative power is undefined")
    result = a**b
    if isinstance(result, complex):
        raise ValueError(f"{a} to the power {b} has no real result")
    return result


INT_OPERATIONS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul, "divide": _divide_int,
    "modulo": _modulo, "power": _power_int, "min": min, "max": max,
}
FLOAT_OPERATIONS: dict[str, Callable[[float, float], float]] = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul, "divide": _divide,
    "modulo": _modulo, "power": _power, "min": min, "max": max,
}


class MathInt:
    CATEGORY = "utilities/math"
    RETURN_TYPES = ("INT",)
    FUNCTION = "calculate"
    DESCRIPTION = "a <operation> b on whole numbers; divide rounds down."

    @classmethod
    def INPUT_TYPES(cls):
        number = ("INT", {"default": 0, "min": -INT_LIMIT, "max": INT_LIMIT})
        return {"required": {"a": number, "b": number, "operation": (list(INT_OPERATIONS), {"default": "add"})}}

    def calculate(self, a: int, b: int, operation: str) -> tuple[int]:
        result = INT_OPERATIONS[operation](a, b)
        if not -INT_LIMIT - 1 <= result <= INT_LIMIT:
            raise OverflowError(f"{a} {operation} {b} = {result} does not fit in a 64-bit integer")
        return (result,)


class MathFloat:
    CATEGORY = "utilities/math"
    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "calculate"
    DESCRIPTION = "a <operation> b on numbers."

    @classmethod
    def INPUT_TYPES(cls):
        number = ("FLOAT", {"default": 0.0, "min": -1e300, "max": 1e300, "step": 0.01})
        return {"required": {"a": number, "b": number, "operation": (list(FLOAT_OPERATIONS), {"default": "add"})}}

    def calculate(self, a: float, b: float, operation: str) -> tuple[float]:
        try:
            result = float(FLOAT_OPERATIONS[operation](a, b))
        except OverflowError:
            result = math.inf
        if not math.isfinite(result):
            raise OverflowError(f"{a} {operation} {b} is not a finite number")
        return (result,)


NODE_CLASS_MAPPINGS = {"MathInt": MathInt, "MathFloat": MathFloat}
NODE_DISPLAY_NAME_MAPPINGS = {"MathInt": "Math (Int)", "MathFloat": "Math (Float)"}
