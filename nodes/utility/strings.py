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
    if find_length == 0:
        return length
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
    DESCRIPTION = "Every occurrence of find replaced by replace."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": ("STRING", {"multiline": True}), "find": ("STRING", {"multiline": True}),
                             "replace": ("STRING", {"multiline": True})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        length = replaced_length(inputs, sizes)
        return None if length is None else new_text(length)

    def execute(self, string: str, find: str, replace: str) -> tuple[str]:
        return (string.replace(find, replace) if find else string,)


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


PYTHON_MODULE = "comfy_extras.nodes_string"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"StringConcatenate": StringConcatenate, "StringReplace": StringReplace,
                       "StringLength": StringLength}
NODE_DISPLAY_NAME_MAPPINGS = {"StringConcatenate": "Concatenate Text", "StringReplace": "Replace Text",
                              "StringLength": "Text Length"}
