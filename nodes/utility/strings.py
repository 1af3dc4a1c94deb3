"""Text nodes with ComfyUI's names and inputs."""
from __future__ import annotations


class StringConcatenate:
    CATEGORY = "utils/string"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "string_a, then the delimiter, then string_b."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string_a": ("STRING", {"multiline": True}), "string_b": ("STRING", {"multiline": True}),
                             "delimiter": ("STRING", {"default": ""})}}

    def execute(self, string_a: str, string_b: str, delimiter: str) -> tuple[str]:
        return (delimiter.join((string_a, string_b)),)


class StringReplace:
    CATEGORY = "utils/string"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "Every occurrence of find replaced by replace."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": ("STRING", {"multiline": True}), "find": ("STRING", {}),
                             "replace": ("STRING", {})}}

    def execute(self, string: str, find: str, replace: str) -> tuple[str]:
        return (string.replace(find, replace) if find else string,)


class StringLength:
    CATEGORY = "utils/string"
    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("length",)
    FUNCTION = "execute"
    DESCRIPTION = "The number of characters in the text."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"string": ("STRING", {"multiline": True})}}

    def execute(self, string: str) -> tuple[int]:
        return (len(string),)


NODE_CLASS_MAPPINGS = {"StringConcatenate": StringConcatenate, "StringReplace": StringReplace,
                       "StringLength": StringLength}
NODE_DISPLAY_NAME_MAPPINGS = {"StringConcatenate": "Concatenate", "StringReplace": "Replace", "StringLength": "Length"}
