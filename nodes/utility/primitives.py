"""Constant-value nodes: one widget in, the same value out (ComfyUI's Primitive* names)."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate

INT_LIMIT = 2**63 - 1  # ComfyUI's range for integer widgets such as seeds, and for its Float primitive too
# ComfyUI's primitives declare no default: the editor starts them at 0, "" or false, an API prompt must give a value


class PrimitiveInt:
    CATEGORY = "utilities/primitive"
    RETURN_TYPES = ("INT",)
    FUNCTION = "execute"
    DESCRIPTION = "A whole number to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"min": -INT_LIMIT, "max": INT_LIMIT, "control_after_generate": "fixed"})}}

    def execute(self, value: int) -> tuple[int]:
        return (value,)


class PrimitiveFloat:
    CATEGORY = "utilities/primitive"
    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "execute"
    DESCRIPTION = "A number to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("FLOAT", {"min": -INT_LIMIT, "max": INT_LIMIT, "step": 0.1})}}

    def execute(self, value: float) -> tuple[float]:
        return (value,)


class PrimitiveString:
    CATEGORY = "utilities/primitive"
    RETURN_TYPES = ("STRING",)
    FUNCTION = "execute"
    DESCRIPTION = "A line of text to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("STRING", {"multiline": False})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return NodeEstimate((sizes.get("value"),))  # the text it was given, passed on

    def execute(self, value: str) -> tuple[str]:
        return (value,)


class PrimitiveStringMultiline(PrimitiveString):
    DESCRIPTION = "Text of several lines to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("STRING", {"multiline": True})}}


class PrimitiveBoolean:
    CATEGORY = "utilities/primitive"
    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"
    DESCRIPTION = "True or false, to feed other nodes."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("BOOLEAN", {})}}

    def execute(self, value: bool) -> tuple[bool]:
        return (value,)


PYTHON_MODULE = "comfy_extras.nodes_primitive"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {
    "PrimitiveInt": PrimitiveInt,
    "PrimitiveFloat": PrimitiveFloat,
    "PrimitiveString": PrimitiveString,
    "PrimitiveStringMultiline": PrimitiveStringMultiline,
    "PrimitiveBoolean": PrimitiveBoolean,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "PrimitiveInt": "Int", "PrimitiveFloat": "Float", "PrimitiveString": "Text",
    "PrimitiveStringMultiline": "Text (Multiline)", "PrimitiveBoolean": "Boolean",
}
