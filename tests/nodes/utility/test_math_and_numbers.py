"""ComfyMathExpression (safe evaluation of the user's expression), ComfyNumberConvert and SeedNode, run through the
engine; expected values are Python arithmetic written out in the test."""
from __future__ import annotations

import math
import time

import pytest

from graph_engine import InvalidNodeInput
from nodes.utility.math_expression import ComfyMathExpression
from nodes.utility.numbers import ComfyNumberConvert

A, B, C = 7, 2.5, True


def run_expression(runner, expression: str, **values) -> list:
    links = {f"values.{name}": value for name, value in (values or {"a": A, "b": B, "c": C}).items()}
    return runner.outputs("ComfyMathExpression", {"expression": expression}, links, outputs=3)


@pytest.mark.parametrize("expression,expected", [
    ("a + b", A + B), ("a - b * 2", A - B * 2), ("a / b", A / B), ("a // 2", A // 2), ("a % 3", A % 3),
    ("-a ** 2", -A**2), ("(a + c) ** 0.5", (A + C) ** 0.5), ("a & 3 | 8", A & 3 | 8), ("a << 3", A << 3),
    ("~a", ~A), ("a > b", A > B), ("1 < a <= 7 != b", 1 < A <= 7 != B), ("a if b > 3 else -a", -A),
    ("not c", not C), ("a and b", A and B), ("0 or b", 0 or B), ("b in values", True),
    ("sum(values)", A + B + C), ("sum(a, b, 1)", A + B + 1), ("max(values) - min(a, b)", A - B),
    ("values[1] * values[-1]", B * C), ("sum(values[1:])", B + C), ("abs(-b) + round(b)", abs(-B) + round(B)),
    ("round(b * 3.14159, 2)", round(B * 3.14159, 2)), ("pow(a, 3)", A**3), ("sqrt(a) + ceil(b) + floor(b)",
                                                                             math.sqrt(A) + 3 + 2),
    ("log(a) + log(8, 2) + log2(a) + log10(a)", math.log(A) + 3.0 + math.log2(A) + math.log10(A)),
    ("sin(b) + cos(b) + tan(b)", math.sin(B) + math.cos(B) + math.tan(B)), ("int(b) + float(a)", 2 + 7.0),
    ("2 ** 2000 / 2 ** 1990", 1024.0), ("\n  (a +\n b)  ", A + B),
])
def test_expression_values_as_python_computes_them(runner, expression, expected):
    as_float, as_int, as_bool = run_expression(runner, expression)
    assert as_float == pytest.approx(float(expected), rel=1e-12)
    assert isinstance(as_float, float) and isinstance(as_int, int) and isinstance(as_bool, bool)
    assert as_int == int(expected) and as_bool == bool(expected)


def test_int_output_truncates_toward_zero_and_bool_is_truth(runner):
    assert run_expression(runner, "a", a=-2.75) == [-2.75, -2, True]
    assert run_expression(runner, "a * 0", a=3) == [0.0, 0, False]
    assert run_expression(runner, "a", a=True) == [1.0, 1, True]


def test_only_the_first_value_is_required(runner):
    report = runner.engine.validate(runner.prompt("ComfyMathExpression", {"expression": "1"}, outputs=3))
    [error] = report.node_errors["node"].errors
    assert (error.type, error.input_name) == ("required_input_missing", "values.a")
    assert run_expression(runner, "a * z", a=2, z=5) == [10.0, 10, True]


@pytest.mark.parametrize("expression,message", [
    ("", "the expression is empty"),
    ("a +", "not one valid expression"),
    ("a = 3", "not one valid expression"),
    ("q + 1", "the name 'q' is not an input (connected: a, b, c)"),
    ("a / 0", "7 / 0 fails: division by zero"),
    ("sqrt(-a)", "'sqrt(-a)' fails: math domain error"),
    ("(-a) ** 0.5", "has no real value"),
    ("10.0 ** 400", "fails"),
    ("1e308 * 10", "not a finite number"),
    ("2 ** 5000", "too large for a FLOAT"),
    ("values", "gives list"),
    ("values + 1", "is a list of values, not a number"),
    ("pow(2, 5000)", "pow() exponent 5000 is beyond the limit of 4000"),
    ("9 ** 9 ** 9", "is beyond the limit of 4,000,000"),
    ("3 ** 4000000", "binary digits"),
    ("1 << 20000", "beyond the limit of 10,000"),
    ("abs", "abs is a function: call it"),
    ("values[9]", "values has 3 entries"),
    ("values[b]", "is not a whole number"),
    ("a[0]", "only values can be indexed"),
    ("'text'", "the literal 'text' is not a number"),
    ("1j", "the literal 1j is not a number"),
    ("[a, b]", "(List) is not allowed"),
    ("a.real", "(Attribute) is not allowed"),
    ("__import__('os').getcwd()", "is not one of the functions"),
    ("(lambda: 1)()", "is not one of the functions"),
    ("max(*values)", "(Starred) is not allowed"),
    ("min()", "'min()' fails"),
    ("a" + " + a" * 6000, "characters long"),
    ("-" * 5000 + "1", "nested too deeply"),
])
def test_errors_name_the_expression_and_what_is_wrong(runner, expression, message):
    error = runner.error("ComfyMathExpression", {"expression": expression}, {"values.a": A, "values.b": B,
                                                                              "values.c": C}, outputs=3)
    assert error.startswith(f"Math Expression {expression.strip()!r}: ")
    assert message in error


def test_a_hostile_expression_is_refused_quickly():
    started = time.monotonic()
    for expression in ("4000000 ** 4000000", "(2 ** 99999) * (2 ** 99999)", "pow(3, 4000) ** 4000"):
        with pytest.raises(InvalidNodeInput):
            ComfyMathExpression().execute(expression, {"a": 1})
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("value,expected", [
    (True, [1.0, 1]), (False, [0.0, 0]), (-7, [-7.0, -7]), (2.9, [2.9, 2]), (-2.9, [-2.9, -2]),
    (" 42 ", [42.0, 42]), ("-3.75", [-3.75, -3]), ("1e3", [1000.0, 1000]), ("1_000", [1000.0, 1000]),
    ("12345678901234567891", [12345678901234567891.0, 12345678901234567891]),
])
def test_number_convert(runner, value, expected):
    assert runner.outputs("ComfyNumberConvert", {}, {"value": value}, outputs=2) == expected


@pytest.mark.parametrize("value,message", [
    ("", "value is empty text"), ("twelve", "value 'twelve' is not a number"), ("inf", "not a finite number"),
    ("1e999", "not a finite number"), (float("nan"), "not a finite number"), ([1], "value is list"),
])
def test_number_convert_refuses_what_is_not_a_number(value, message):
    with pytest.raises(InvalidNodeInput, match=message):
        ComfyNumberConvert().execute(value)


def test_seed_passes_its_value(runner):
    assert runner.output("SeedNode", {"seed": 2**63 - 1}) == 2**63 - 1
    report = runner.engine.validate(runner.prompt("SeedNode", {"seed": -1}))
    assert [error.type for error in report.node_errors["node"].errors] == ["value_smaller_than_min"]
