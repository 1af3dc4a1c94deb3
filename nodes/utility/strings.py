"""Text nodes with ComfyUI's names and inputs; each says at validation how long its text will be, where it can."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate, ValueSize


def new_text(length: int) -> NodeEstimate:
    """The estimate of a node whose one output is a new string of `length` characters."""
    return NodeEstimate((ValueSize.text(length),), length, f"a text of {length:,} characters")


def replaced_length(inputs: dict, sizes: dict) -> int | None:
    """StringReplace's output length: exact when the texts are constants, else the least it can be."""
    string, find, replace = sizes.get("string"), sizes.get("find"), sizes.get("replace")
    if string is None or find is None or replace is None:
        return None
    length, find_length, replace_length = string.shape[0], find.shape[0], replace.shape[0]
    if find_length == 0:  # Python puts the replacement before every character and at the end
        return length + (length + 1) * replace_length
    if all(isinstance(inputs.get(name), str) for name in ("string", "find", "replace")):
        return length + inputs["string"].count(inputs["find"]) * (replace_length - find_length)
    return max(length - length // find_length * max(find_length - replace_length, 0), 0)


class StringConcatenate:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "string_a, then the delimiter, then string_b."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string_a": ("STRING", {"multiline": True}), "string_b": ("STRING", {"multiline": True}),
                             "delimiter": ("STRING", {"default": "", "multiline": False})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        parts = [sizes.get(name) for name in ("string_a", "delimiter", "string_b")]
        return None if None in parts else new_text(sum(part.shape[0] for part in parts))

    def execute(self, string_a: str, string_b: str, delimiter: str) -> tuple[str]:
        return (delimiter.join((string_a, string_b)),)


class StringReplace:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "Every occurrence of find replaced by replace (an empty find: replace around every character)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": ("STRING", {"multiline": True}), "find": ("STRING", {"multiline": True}),
                             "replace": ("STRING", {"multiline": True})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        length = replaced_length(inputs, sizes)
        return None if length is None else new_text(length)

    def execute(self, string: str, find: str, replace: str) -> tuple[str]:
        return (string.replace(find, replace),)


class StringLength:
    CATEGORY = "text"
    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("length",)
    FUNCTION = "execute"
    DESCRIPTION = "The number of characters in the text."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": ("STRING", {"multiline": True})}}

    def execute(self, string: str) -> tuple[int]:
        return (len(string),)


def text_input() -> tuple:
    """ComfyUI's declaration of a text input of these nodes: several lines, no default."""
    return ("STRING", {"multiline": True})


class StringSubstring:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "The characters from start up to (not including) end; negative positions count from the end."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": text_input(), "start": ("INT", {}), "end": ("INT", {})}}

    def execute(self, string: str, start: int, end: int) -> tuple[str]:
        return (string[start:end],)


CASES = {"UPPERCASE": str.upper, "lowercase": str.lower, "Capitalize": str.capitalize, "Title Case": str.title}


class CaseConverter:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "The text in upper case, lower case, with its first letter capitalised, or each word's."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": text_input(), "mode": ("COMBO", {"options": list(CASES)})}}

    def execute(self, string: str, mode: str) -> tuple[str]:
        return (CASES[mode](string),)


TRIMS = {"Both": str.strip, "Left": str.lstrip, "Right": str.rstrip}


class StringTrim:
    CATEGORY = "text"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "The text without the spaces, tabs and line breaks at its start, its end or both."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": text_input(), "mode": ("COMBO", {"options": list(TRIMS)})}}

    def execute(self, string: str, mode: str) -> tuple[str]:
        return (TRIMS[mode](string),)


class StringContains:
    CATEGORY = "text"
    RETURN_TYPES = ("BOOLEAN",)
    RETURN_NAMES = ("contains",)
    FUNCTION = "execute"
    DESCRIPTION = "Whether substring occurs in the text."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": text_input(), "substring": text_input(),
                             "case_sensitive": ("BOOLEAN", {"default": True, "advanced": True})}}

    def execute(self, string: str, substring: str, case_sensitive: bool) -> tuple[bool]:
        if not case_sensitive:
            string, substring = string.lower(), substring.lower()
        return (substring in string,)


COMPARISONS = {"Starts With": str.startswith, "Ends With": str.endswith, "Equal": str.__eq__}


class StringCompare:
    CATEGORY = "text"
    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"
    DESCRIPTION = "Whether string_a starts with, ends with or equals string_b."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string_a": text_input(), "string_b": text_input(),
                             "mode": ("COMBO", {"options": list(COMPARISONS)}),
                             "case_sensitive": ("BOOLEAN", {"default": True, "advanced": True})}}

    def execute(self, string_a: str, string_b: str, mode: str, case_sensitive: bool) -> tuple[bool]:
        if not case_sensitive:
            string_a, string_b = string_a.lower(), string_b.lower()
        return (COMPARISONS[mode](string_a, string_b),)


PYTHON_MODULE = "comfy_extras.nodes_string"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"StringConcatenate": StringConcatenate, "StringReplace": StringReplace,
                       "StringLength": StringLength, "StringSubstring": StringSubstring,
                       "CaseConverter": CaseConverter, "StringTrim": StringTrim, "StringContains": StringContains,
                       "StringCompare": StringCompare}
NODE_DISPLAY_NAME_MAPPINGS = {"StringConcatenate": "Concatenate Text", "StringReplace": "Replace Text",
                              "StringLength": "Text Length", "StringSubstring": "Substring",
                              "CaseConverter": "Convert Text Case", "StringTrim": "Trim Text",
                              "StringContains": "Contains Text", "StringCompare": "Compare Text"}
