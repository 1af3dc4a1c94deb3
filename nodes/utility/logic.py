"""Logic nodes (ComfyUI's comfy_extras.nodes_logic): Not, And, Or on any values by Python's truth rules, the lazy
If/Else switch, and the Custom Combo whose choices the user writes on the canvas."""
from __future__ import annotations

from typing import Any, Iterator

from graph_engine import InvalidNodeInput
from graph_engine.dynamic_inputs import autogrow_input
from graph_engine.specs import ANY_TYPE, MATCH_TYPE


def truth(value: Any, input_name: str) -> bool:
    """Python's truth of `value`; a value with no single truth (a tensor of several numbers) is refused by name."""
    try:
        return bool(value)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise InvalidNodeInput(f"{input_name} ({type(value).__name__}) is neither true nor false: {exc}; connect a "
                               "BOOLEAN, a number or a text") from None


def values_input() -> dict[str, dict]:
    """And and Or grow from one to ten inputs: values.value0 ..."""
    return {"required": {"values": autogrow_input("value", (ANY_TYPE, {}), prefix="value", minimum=1, maximum=10)}}


def truths(values: dict[str, Any]) -> Iterator[bool]:
    """The truth of each connected entry of `values`, in order, computed only as far as it is asked for."""
    for name, value in values.items():
        yield truth(value, f"values.{name}")


class ComfyNotNode:
    CATEGORY = "utilities/logic"
    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"
    DESCRIPTION = "True when the value is false by Python's rules (false, 0, empty text or list, none)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": (ANY_TYPE, {})}}

    def execute(self, value: Any) -> tuple[bool]:
        return (not truth(value, "value"),)


class ComfyAndNode:
    CATEGORY = "utilities/logic"
    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"
    DESCRIPTION = "True when every connected value is true by Python's rules; stops at the first false one."

    @classmethod
    def INPUT_TYPES(cls):
        return values_input()

    def execute(self, values: dict[str, Any]) -> tuple[bool]:
        return (all(truths(values)),)


class ComfyOrNode:
    CATEGORY = "utilities/logic"
    RETURN_TYPES = ("BOOLEAN",)
    FUNCTION = "execute"
    DESCRIPTION = "True when any connected value is true by Python's rules; stops at the first true one."

    @classmethod
    def INPUT_TYPES(cls):
        return values_input()

    def execute(self, values: dict[str, Any]) -> tuple[bool]:
        return (any(truths(values)),)


class ComfySwitchNode:
    CATEGORY = "utilities/logic"
    RETURN_TYPES = (MATCH_TYPE,)  # the type both branches receive
    RETURN_NAMES = ("output",)
    FUNCTION = "execute"
    EXPERIMENTAL = True
    DESCRIPTION = "on_true when switch is true, else on_false; only the chosen branch runs."

    @classmethod
    def INPUT_TYPES(cls):
        branch = (MATCH_TYPE, {"lazy": True, "template": {"allowed_types": ANY_TYPE, "template_id": "switch"}})
        return {"required": {"switch": ("BOOLEAN", {}), "on_false": branch, "on_true": branch}}

    def check_lazy_status(self, switch: bool, on_false: Any = None, on_true: Any = None) -> list[str]:
        if switch and on_true is None:
            return ["on_true"]
        if not switch and on_false is None:
            return ["on_false"]
        return []

    def execute(self, switch: bool, on_false: Any = None, on_true: Any = None) -> tuple[Any]:
        return (on_true if switch else on_false,)


class CustomCombo:
    CATEGORY = "utilities"
    RETURN_TYPES = ("STRING", "INT")
    RETURN_NAMES = ("STRING", "INDEX")
    FUNCTION = "execute"
    EXPERIMENTAL = True
    DESCRIPTION = "The choice picked from options the user writes on the canvas, and its position."

    @classmethod
    def INPUT_TYPES(cls):
        # ComfyUI's canvas writes the options and sends the picked one's position as `index`; ComfyUI passes every
        # input it is sent, our engine only declared ones, so index is declared
        return {"required": {"choice": ("COMBO", {"options": []})}, "optional": {"index": ("INT", {"default": 0})}}

    @classmethod
    def VALIDATE_INPUTS(cls, choice: str) -> bool:
        return True  # the choices are the user's own, written on the canvas: none is listed here

    def execute(self, choice: str, index: int = 0) -> tuple[str, int]:
        return (choice, index)


PYTHON_MODULE = "comfy_extras.nodes_logic"  # ComfyUI's module of these nodes
NODE_CLASS_MAPPINGS = {"ComfyNotNode": ComfyNotNode, "ComfyAndNode": ComfyAndNode, "ComfyOrNode": ComfyOrNode,
                       "ComfySwitchNode": ComfySwitchNode, "CustomCombo": CustomCombo}
NODE_DISPLAY_NAME_MAPPINGS = {"ComfyNotNode": "Not", "ComfyAndNode": "And", "ComfyOrNode": "Or",
                              "ComfySwitchNode": "If/Else Switch", "CustomCombo": "Custom Combo"}
