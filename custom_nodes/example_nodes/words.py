"""Three small text nodes that show the interface, list outputs and list inputs included."""
from __future__ import annotations


class ExampleRepeatText:
    """The simplest shape: widgets in, one value out."""

    CATEGORY = "examples"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "repeat"
    DESCRIPTION = "Repeats a text a number of times."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "hello"}),
                             "times": ("INT", {"default": 2, "min": 1, "max": 100})},
                "optional": {"separator": ("STRING", {"default": " "})}}

    @classmethod
    def VALIDATE_INPUTS(cls, text):
        # runs before the workflow does; a string return is shown to the user as the reason.
        # A linked input is not known yet at that point and arrives as None.
        if text is not None and len(text) > 1000:
            return "text is longer than 1000 characters"
        return True

    def repeat(self, text: str, times: int, separator: str = " ") -> tuple[str]:
        return (separator.join([text] * times),)


class ExampleSplitWords:
    """OUTPUT_IS_LIST: the output is a list, and nodes after it run once per word."""

    CATEGORY = "examples"
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("words",)
    OUTPUT_IS_LIST = (True,)
    FUNCTION = "split"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"default": "a b c", "multiline": True})}}

    def split(self, text: str) -> tuple[list[str]]:
        return (text.split(),)


class ExampleJoinWords:
    """INPUT_IS_LIST: receives whole lists (every input is a list), runs once."""

    CATEGORY = "examples"
    RETURN_TYPES = ("STRING",)
    INPUT_IS_LIST = True
    FUNCTION = "join"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"words": ("STRING", {"forceInput": True}), "separator": ("STRING", {"default": "-"})}}

    def join(self, words: list[str], separator: list[str]) -> tuple[str]:
        return (separator[0].join(words),)
