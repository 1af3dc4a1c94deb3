"""Regular-expression text nodes (ComfyUI's RegexMatch, RegexExtract, RegexReplace).

Patterns come from workflows, and a pattern such as `(x+x+)+y` can backtrack for hours on a short text. The `regex`
module (installed with transformers) reads Python's syntax and stops a search after a time limit, so every
pattern runs through it with `TIME_LIMIT`: a workflow cannot hang the server.
"""
from __future__ import annotations

import logging
from typing import Any

from graph_engine import InvalidNodeInput

from .strings import text_input

TIME_LIMIT = 5.0  # seconds one search or replacement may take; real patterns on prompt-sized texts need microseconds
LINE_BREAK = "\n"  # between the matches RegexExtract returns

log = logging.getLogger(__name__)


def pattern_flags(case_insensitive: bool, multiline: bool, dotall: bool) -> int:
    import regex

    return ((regex.IGNORECASE if case_insensitive else 0) | (regex.MULTILINE if multiline else 0)
            | (regex.DOTALL if dotall else 0))


def compiled(pattern: str, flags: int) -> Any | None:
    """The compiled pattern, or None (logged) when it is not a valid regular expression."""
    import regex

    try:
        return regex.compile(pattern, flags)
    except regex.error as exc:
        log.warning("regex_pattern %r is not a valid regular expression: %s", pattern, exc)
        return None


def too_slow(pattern: str) -> InvalidNodeInput:
    return InvalidNodeInput(f"regex_pattern {pattern!r} took more than {TIME_LIMIT:g} seconds on this text and was "
                            "stopped; nested repeats such as (a+)+ backtrack without end: simplify the pattern")


def flag_inputs() -> dict[str, tuple]:
    return {"case_insensitive": ("BOOLEAN", {"default": True, "advanced": True}),
            "multiline": ("BOOLEAN", {"default": False, "advanced": True}),
            "dotall": ("BOOLEAN", {"default": False, "advanced": True})}


class RegexMatch:
    CATEGORY = "text"
    RETURN_TYPES = ("BOOLEAN",)
    RETURN_NAMES = ("matches",)
    FUNCTION = "execute"
    DESCRIPTION = "Whether the pattern occurs anywhere in the text; an invalid pattern matches nothing."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": text_input(), "regex_pattern": text_input(), **flag_inputs()}}

    def execute(self, string: str, regex_pattern: str, case_insensitive: bool, multiline: bool,
                dotall: bool) -> tuple[bool]:
        pattern = compiled(regex_pattern, pattern_flags(case_insensitive, multiline, dotall))
        if pattern is None:
            return (False,)
        try:
            return (pattern.search(string, timeout=TIME_LIMIT) is not None,)
        except TimeoutError:
            raise too_slow(regex_pattern) from None


EXTRACT_MODES = ("First Match", "All Matches", "First Group", "All Groups")


def group_text(match: Any, index: int) -> str:
    """Group `index` of a match; a group that took no part in it is empty text."""
    value = match.group(index)
    return "" if value is None else value


def extract(pattern: Any, string: str, mode: str, group_index: int) -> str:
    """RegexExtract's result: the first or every match, or group `group_index` of the first or every match."""
    if mode == "First Match":
        match = pattern.search(string, timeout=TIME_LIMIT)
        return match.group(0) if match else ""
    if mode == "All Matches":  # as findall: whole matches, or the first group of patterns that have groups
        found = pattern.findall(string, timeout=TIME_LIMIT)
        return LINE_BREAK.join(item[0] if isinstance(item, tuple) else item for item in found)
    if pattern.groups < group_index:
        return ""
    if mode == "First Group":
        match = pattern.search(string, timeout=TIME_LIMIT)
        return group_text(match, group_index) if match else ""
    if mode == "All Groups":
        if pattern.groups == 0:
            return ""
        return LINE_BREAK.join(group_text(match, group_index)
                               for match in pattern.finditer(string, timeout=TIME_LIMIT))
    raise InvalidNodeInput(f"mode {mode!r} is not one of {', '.join(EXTRACT_MODES)}")


class RegexExtract:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = ("Text the pattern finds, one match per line: the first or every match, or a group of them. An "
                   "invalid pattern finds nothing.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": text_input(), "regex_pattern": text_input(),
                             "mode": ("COMBO", {"options": list(EXTRACT_MODES)}), **flag_inputs(),
                             "group_index": ("INT", {"default": 1, "min": 0, "max": 100, "advanced": True})}}

    def execute(self, string: str, regex_pattern: str, mode: str, case_insensitive: bool, multiline: bool,
                dotall: bool, group_index: int) -> tuple[str]:
        pattern = compiled(regex_pattern, pattern_flags(case_insensitive, multiline, dotall))
        if pattern is None:
            return ("",)
        try:
            return (extract(pattern, string, mode, group_index),)
        except TimeoutError:
            raise too_slow(regex_pattern) from None


class RegexReplace:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "Find and replace text using regex patterns."

    @classmethod
    def INPUT_TYPES(cls):
        flags = flag_inputs()
        flags["dotall"][1]["tooltip"] = "Whether . also matches line breaks."
        count = ("INT", {"default": 0, "min": 0, "max": 100, "advanced": True,
                         "tooltip": "At most this many replacements, from the start; 0 replaces every match."})
        return {"required": {"string": text_input(), "regex_pattern": text_input(), "replace": text_input()},
                "optional": {**flags, "count": count}}

    def execute(self, string: str, regex_pattern: str, replace: str, case_insensitive: bool = True,
                multiline: bool = False, dotall: bool = False, count: int = 0) -> tuple[str]:
        import regex

        try:
            pattern = regex.compile(regex_pattern, pattern_flags(case_insensitive, multiline, dotall))
        except regex.error as exc:
            raise InvalidNodeInput(f"regex_pattern {regex_pattern!r} is not a valid regular expression: {exc}") \
                from None
        try:
            return (pattern.sub(replace, string, count=count, timeout=TIME_LIMIT),)
        except regex.error as exc:
            raise InvalidNodeInput(f"replace {replace!r} cannot be used with this pattern: {exc} (groups are "
                                   r"written \1 or \g<name>; a backslash itself \\)") from None
        except TimeoutError:
            raise too_slow(regex_pattern) from None


PYTHON_MODULE = "comfy_extras.nodes_string"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"RegexMatch": RegexMatch, "RegexExtract": RegexExtract, "RegexReplace": RegexReplace}
NODE_DISPLAY_NAME_MAPPINGS = {"RegexMatch": "Match Text", "RegexExtract": "Extract Text",
                              "RegexReplace": "Replace Text (Regex)"}
