"""StringFormat: Python's str.format over the values connected to the node, without its two dangers.

A format string may read attributes (`{a.__class__...}`), which would let a workflow read a model object's module
globals, and may ask for any width (`{a:>999999999}`), which would fill the memory; both are refused with the field
named, everything else behaves as str.format.
"""
from __future__ import annotations

import re
import string
from typing import Any

from graph_engine import InvalidNodeInput
from graph_engine.dynamic_inputs import autogrow_input


MAX_FORMAT_NUMBER = 100_000  # the widest padding or longest precision a field may ask for, in characters


class SafeFormatter(string.Formatter):
    """str.format's rules, refusing private attributes and absurd widths."""

    def get_field(self, field_name: str, args, kwargs):
        outside_brackets = re.sub(r"\[[^\]]*\]", "", field_name)
        for attribute in re.findall(r"\.([^.]*)", outside_brackets):
            if attribute.startswith("_"):
                raise InvalidNodeInput(f"f_string: the field {{{field_name}}} reads the private attribute "
                                       f"'{attribute}', which Format Text does not allow")
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        numbers = [int(digits) for digits in re.findall(r"\d+", format_spec)]
        if numbers and max(numbers) > MAX_FORMAT_NUMBER:
            raise InvalidNodeInput(f"f_string: the format ':{format_spec}' asks for {max(numbers):,} characters; "
                                   f"at most {MAX_FORMAT_NUMBER:,} are allowed")
        return super().format_field(value, format_spec)


def format_text(template: str, values: dict[str, Any]) -> str:
    """`template.format(**values)`, with Python's errors turned into messages that name the field."""
    try:
        return SafeFormatter().vformat(template, (), values)
    except KeyError as exc:
        name = exc.args[0] if exc.args else "?"
        if not isinstance(name, str) or name in values:  # a [key] inside a connected value
            raise InvalidNodeInput(f"f_string: a field looks up the key {name!r}, which its value lacks") from None
        given = ", ".join(f"values.{key}" for key in values) or "none"
        raise InvalidNodeInput(f"f_string names {{{name}}}, but no input values.{name} is connected "
                               f"(connected: {given}); connect it or remove the field") from None
    except IndexError:
        raise InvalidNodeInput("f_string has a positional field such as {} or {0}; name the input instead, "
                               "e.g. {a}") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidNodeInput(f"f_string cannot be formatted: {exc}") from None


class StringFormat:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = ("Python's str.format: {a} is the value connected to values.a, with Python's format options "
                   "such as {a:.2f} or {b:>8}.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "values": autogrow_input("value", ("*", {}), names=list(string.ascii_lowercase), minimum=0),
            "f_string": ("STRING", {"default": "{a}", "multiline": True})}}

    def execute(self, values: dict[str, Any], f_string: str) -> tuple[str]:
        return (format_text(f_string, values),)


PYTHON_MODULE = "comfy_extras.nodes_string"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"StringFormat": StringFormat}
NODE_DISPLAY_NAME_MAPPINGS = {"StringFormat": "Format Text"}
