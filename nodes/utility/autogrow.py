"""ComfyUI's growing input lists (its V3 `Autogrow` inputs) in the classic interface.

ComfyUI declares one input, say `values`, whose entries appear on the canvas as they are connected; its prompts
name each entry `values.<name>` (`values.a`, `values.value0` ...). Our engine has no such input kind yet, so a node
declares every possible entry under that prompt name (the first `minimum` required, as in ComfyUI) and gathers the
ones it was given back into ComfyUI's mapping, in the template's order.
"""
from __future__ import annotations

import string
from typing import Any

LETTERS = tuple(string.ascii_lowercase)  # ComfyUI's names for the entries of StringFormat and ComfyMathExpression


def prefixed_names(prefix: str, count: int) -> tuple[str, ...]:
    """ComfyUI's names for a prefix template: value0, value1 ..."""
    return tuple(f"{prefix}{index}" for index in range(count))


def autogrow_inputs(group: str, names: tuple[str, ...], declaration: tuple, minimum: int) -> dict[str, dict]:
    """INPUT_TYPES sections declaring each entry of `group` as its prompt names it: `group.name`."""
    sections: dict[str, dict] = {"required": {}, "optional": {}}
    for index, name in enumerate(names):
        sections["required" if index < minimum else "optional"][f"{group}.{name}"] = declaration
    return sections


def gathered(group: str, names: tuple[str, ...], given: dict[str, Any]) -> dict[str, Any]:
    """The entries of `group` that a call received, by their short names, in the template's order."""
    return {name: given[f"{group}.{name}"] for name in names if f"{group}.{name}" in given}
