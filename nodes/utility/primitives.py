"""Constant-value nodes: one widget in, the same value out (ComfyUI's Primitive* names)."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate

INT_LIMIT = 2**63 - 1  # ComfyUI's range for integer widgets such as seeds


class PrimitiveInt:
    CATEGORY = "utils/primitive"
    RETURN_TYPES = ("INT",)
    FUNCTION = "execute"
    DESCRIPTION = "A whole number to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -INT_LIMIT, "max": INT_LIMIT})}}

    def execute(self, value: int) -> tuple[int]:
        return (value,)


class PrimitiveFloat:
    CATEGORY = "utils/primitive"
    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "execute"
    DESCRIPTION = "A number to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"default": 0.0, "min": -1e300, "max": 1e300, "step": 0.01})}}

    def execute(self, value: float) -> tuple[float]:
        return (value,)


class PrimitiveString:
    CATEGORY = "utils/primitive"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "A line of text to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("STRING", {"default": ""})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return NodeEstimate((sizes.get("value"),))  # the text it was given, passed on

    def execute(self, value: str) -> tuple[str]:
        return (value,)


class PrimitiveStringMultiline(PrimitiveString):
    DESCRIPTION = "Text of several lines to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("STRING", {"default": "", "multiline": True})}}


class PrimitiveBoolean:
    CATEGORY = "utils/primitive"
    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"
    DESCRIPTION = "True or false, to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("BOOLEAN", {"default": False})}}

    def execute(self, value: bool) -> tuple[bool]:
        return (value,)


NODE_CLASS_MAPPINGS = {
    "PrimitiveInt": PrimitiveInt,
    "PrimitiveFloat": PrimitiveFloat,
    "PrimitiveString": PrimitiveString,
    "PrimitiveStringMultiline": PrimitiveStringMultiline,
    "PrimitiveBoolean": PrimitiveBoolean,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "PrimitiveInt": "Int", "PrimitiveFloat": "Float", "PrimitiveString": "String",
    "PrimitiveStringMultiline": "String (Multiline)", "PrimitiveBoolean": "Boolean",
}
