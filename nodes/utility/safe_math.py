"""Evaluating a user's arithmetic expression without running Python.

The text is parsed with `ast` and only the tree shapes below are evaluated: number literals, the given names,
arithmetic, comparison and logic operators, `x if c else y`, indexing the `values` list and calls of the functions
in `FUNCTIONS` (the set ComfyUI's Math Expression offers). No attribute, no other call, no literal text or list,
so nothing outside the numbers can be reached. Integers are kept to `MAX_INT_BITS` and exponents bounded, so an
expression cannot fill the memory or run for minutes either.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

MAX_EXPRESSION_LENGTH = 10_000  # characters; real expressions are a line or two
MAX_INT_BITS = 100_000  # about 30,000 decimal digits; a float result cannot exceed 1,024 bits anyway
MAX_POW_EXPONENT = 4000  # pow(): ComfyUI's bound
MAX_POWER_OPERAND = 4_000_000  # `**`: the bound ComfyUI's evaluator puts on either side
MAX_SHIFT = 10_000  # `<<` and `>>`
NUMBER = (int, float)  # bool is an int


class ExpressionError(ValueError):
    """What is wrong with an expression, in words for its author."""


def variadic_sum(*args: Any) -> Any:
    """sum(values) as well as sum(a, b, c)."""
    if len(args) == 1 and isinstance(args[0], list):
        return sum(args[0])
    return sum(args)


def bounded_pow(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_POW_EXPONENT:
        raise ExpressionError(f"pow() exponent {exponent} is beyond the limit of {MAX_POW_EXPONENT}")
    return power(base, exponent)


def power(base: Any, exponent: Any) -> Any:
    if abs(base) > MAX_POWER_OPERAND or abs(exponent) > MAX_POWER_OPERAND:
        raise ExpressionError(f"{base} ** {exponent} is beyond the limit of {MAX_POWER_OPERAND:,} on either side")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 \
            and exponent * (abs(base).bit_length() - 1) > MAX_INT_BITS:
        raise ExpressionError(f"{base} ** {exponent} has more than {MAX_INT_BITS:,} binary digits")
    return base**exponent


def shift_left(value: Any, count: Any) -> Any:
    if abs(count) > MAX_SHIFT:
        raise ExpressionError(f"a shift by {count} is beyond the limit of {MAX_SHIFT:,}")
    return value << count


def shift_right(value: Any, count: Any) -> Any:
    if abs(count) > MAX_SHIFT:
        raise ExpressionError(f"a shift by {count} is beyond the limit of {MAX_SHIFT:,}")
    return value >> count


FUNCTIONS: dict[str, Callable] = {
    "sum": variadic_sum, "min": min, "max": max, "abs": abs, "round": round, "pow": bounded_pow,
    "sqrt": math.sqrt, "ceil": math.ceil, "floor": math.floor, "log": math.log, "log2": math.log2,
    "log10": math.log10, "sin": math.sin, "cos": math.cos, "tan": math.tan, "int": int, "float": float,
}
BINARY: dict[type, Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: power, ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.LShift: shift_left, ast.RShift: shift_right,
}
UNARY: dict[type, Callable] = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
                               ast.Invert: operator.invert}
COMPARISONS: dict[type, Callable] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda item, items: item in items, ast.NotIn: lambda item, items: item not in items,
}
SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
           ast.USub: "-", ast.UAdd: "+", ast.Not: "not", ast.Invert: "~"}


def parse(expression: str) -> ast.expr:
    """The expression's tree; one expression, of a bounded length."""
    text = expression.strip()
    if not text:
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is {len(text):,} characters long; at most "
                              f"{MAX_EXPRESSION_LENGTH:,} are allowed")
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"it is not one valid expression ({exc.msg}, column {exc.offset})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("it is nested too deeply") from None


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    """The value of `expression` with `names` (numbers, and lists of numbers) defined."""
    tree = parse(expression)
    try:
        return Evaluation(names).value(tree)
    except RecursionError:
        raise ExpressionError("it is nested too deeply") from None


class Evaluation:
    """One evaluation: each allowed tree shape has its method; any other shape is refused by name."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def value(self, node: ast.AST) -> Any:
        method = getattr(self, f"eval_{type(node).__name__}", None)
        if method is None:
            raise ExpressionError(f"'{ast.unparse(node)}' ({type(node).__name__}) is not allowed: only numbers, the "
                                  f"inputs' names, arithmetic, comparisons and the functions {', '.join(FUNCTIONS)}")
        result = method(node)
        if isinstance(result, complex):
            raise ExpressionError(f"'{ast.unparse(node)}' has no real value")
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"'{ast.unparse(node)}' has more than {MAX_INT_BITS:,} binary digits")
        return result

    def number(self, node: ast.AST) -> Any:
        result = self.value(node)
        if not isinstance(result, NUMBER):
            raise ExpressionError(f"'{ast.unparse(node)}' is a list of values, not a number: use it in sum(), "
                                  "min() or max(), or take one entry as values[0]")
        return result

    def eval_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, NUMBER):
            return node.value
        raise ExpressionError(f"the literal {node.value!r} is not a number")

    def eval_Name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function: call it, e.g. {node.id}(a)")
        inputs = ", ".join(name for name in self.names if name != "values") or "none"
        raise ExpressionError(f"the name '{node.id}' is not an input (connected: {inputs})")

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        return self.apply(BINARY, node.op, self.number(node.left), self.number(node.right))

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return self.apply(UNARY, node.op, self.number(node.operand))

    def apply(self, table: dict[type, Callable], op: ast.AST, *operands: Any) -> Any:
        if type(op) not in table:
            raise ExpressionError(f"the operator {type(op).__name__} is not allowed")
        try:
            return table[type(op)](*operands)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            shown = f" {SYMBOLS[type(op)]} ".join(repr(operand) for operand in operands)
            if len(operands) == 1:
                shown = f"{SYMBOLS[type(op)]} {operands[0]!r}"
            raise ExpressionError(f"{shown} fails: {exc}") from None

    def eval_BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for operand in node.values:
            result = self.value(operand)
            if bool(result) != isinstance(node.op, ast.And):
                break  # `and` stops at the first false value, `or` at the first true one
        return result

    def eval_Compare(self, node: ast.Compare) -> bool:
        left = self.value(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.value(comparator)
            if type(op) not in COMPARISONS:
                raise ExpressionError(f"the comparison {type(op).__name__} is not allowed")
            try:
                if not COMPARISONS[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise ExpressionError(f"'{ast.unparse(node)}' cannot be compared: {exc}") from None
            left = right
        return True

    def eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.value(node.body) if self.value(node.test) else self.value(node.orelse)

    def eval_Subscript(self, node: ast.Subscript) -> Any:
        container = self.value(node.value)
        if not isinstance(container, list):
            raise ExpressionError(f"'{ast.unparse(node.value)}' is a number; only values can be indexed")
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            bounds = [None if part is None else self.index(part) for part in parts]
            try:
                return container[slice(*bounds)]
            except ValueError as exc:
                raise ExpressionError(f"'{ast.unparse(node)}': {exc}") from None
        position = self.index(node.slice)
        if not -len(container) <= position < len(container):
            raise ExpressionError(f"'{ast.unparse(node)}': values has {len(container)} entries")
        return container[position]

    def index(self, node: ast.AST) -> int:
        position = self.number(node)
        if not isinstance(position, int):
            raise ExpressionError(f"the index '{ast.unparse(node)}' is not a whole number")
        return position

    def eval_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(f"'{ast.unparse(node.func)}' is not one of the functions "
                                  f"{', '.join(FUNCTIONS)}")
        args = [self.value(arg) for arg in node.args]
        keywords = {keyword.arg: self.value(keyword.value) for keyword in node.keywords if keyword.arg}
        if len(keywords) != len(node.keywords):
            raise ExpressionError(f"'{ast.unparse(node)}': ** arguments are not allowed")
        try:
            return FUNCTIONS[node.func.id](*args, **keywords)
        except ExpressionError:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise ExpressionError(f"'{ast.unparse(node)}' fails: {exc}") from None

