"""The utility nodes, run through the real engine."""
from __future__ import annotations

import math

import pytest

from graph_engine import Engine, Folders
from tests.fixtures.registries import builtin_registry


@pytest.fixture
def engine(tmp_path) -> Engine:
    folders = Folders.under(tmp_path)
    return Engine(builtin_registry(folders), folders)


def shown(engine: Engine, prompt: dict) -> str:
    result = engine.run(prompt)
    assert result.ok, result.error
    return result.outputs["out"]["text"][0]


def math_prompt(class_type: str, a, b, operation: str) -> dict:
    return {"m": {"class_type": class_type, "inputs": {"a": a, "b": b, "operation": operation}},
            "out": {"class_type": "PreviewAny", "inputs": {"source": ["m", 0]}}}


@pytest.mark.parametrize("a,b,operation", [(7, 3, "add"), (7, 3, "subtract"), (7, 3, "multiply"), (7, 2, "divide"),
                                           (-7, 2, "divide"), (7, 3, "modulo"), (2, 10, "power"), (4, 9, "min"),
                                           (4, 9, "max")])
def test_math_int_matches_python(engine, a, b, operation):
    expected = {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a // b, "modulo": a % b,
                "power": a**b, "min": min(a, b), "max": max(a, b)}[operation]
    assert shown(engine, math_prompt("MathInt", a, b, operation)) == str(expected)


@pytest.mark.parametrize("a,b,operation", [(1.5, 0.25, "add"), (1.5, 0.25, "divide"), (2.0, 0.5, "power")])
def test_math_float_matches_python(engine, a, b, operation):
    expected = {"add": a + b, "divide": a / b, "power": a**b}[operation]
    assert math.isclose(float(shown(engine, math_prompt("MathFloat", a, b, operation))), expected)


@pytest.mark.parametrize("class_type,a,b,operation,message", [
    ("MathInt", 1, 0, "divide", "divide by zero"),
    ("MathInt", 2, -1, "power", "negative exponent"),
    ("MathInt", 2**62, 4, "multiply", "64-bit"),
    ("MathFloat", -8.0, 0.5, "power", "no real result"),
    ("MathFloat", 1e300, 1e300, "multiply", "not a finite number"),
])
def test_math_errors_name_the_node_and_the_reason(engine, class_type, a, b, operation, message):
    result = engine.run(math_prompt(class_type, a, b, operation))
    assert result.status == "error"
    assert result.error.node_id == "m"
    assert message in result.error.exception_message


def test_strings_and_primitives(engine):
    prompt = {
        "a": {"class_type": "PrimitiveString", "inputs": {"value": "red apple"}},
        "r": {"class_type": "StringReplace", "inputs": {"string": ["a", 0], "find": "red", "replace": "green"}},
        "c": {"class_type": "StringConcatenate", "inputs": {"string_a": ["r", 0], "string_b": "pie", "delimiter": " "}},
        "n": {"class_type": "StringLength", "inputs": {"string": ["c", 0]}},
        "out": {"class_type": "PreviewAny", "inputs": {"source": ["c", 0]}},
        "len": {"class_type": "PreviewAny", "inputs": {"source": ["n", 0]}},
        "b": {"class_type": "PrimitiveBoolean", "inputs": {"value": True}},
        "bool": {"class_type": "PreviewAny", "inputs": {"source": ["b", 0]}},
    }
    result = engine.run(prompt)
    assert result.ok
    assert result.outputs["out"]["text"] == ["green apple pie"]
    assert result.outputs["len"]["text"] == [str(len("green apple pie"))]
    assert result.outputs["bool"]["text"] == ["true"]
