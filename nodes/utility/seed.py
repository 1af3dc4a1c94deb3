"""SeedNode: one seed for several samplers (ComfyUI's comfy_extras.nodes_seed)."""
from __future__ import annotations

from .primitives import INT_LIMIT


class SeedNode:
    CATEGORY = "utilities"
    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("seed",)
    FUNCTION = "execute"
    DESCRIPTION = "A seed to share between nodes; the canvas can change it after each run."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"min": 0, "max": INT_LIMIT, "control_after_generate": "fixed"})}}

    def execute(self, seed: int) -> tuple[int]:
        return (seed,)


PYTHON_MODULE = "comfy_extras.nodes_seed"  # ComfyUI's module of this node
NODE_CLASS_MAPPINGS = {"SeedNode": SeedNode}
NODE_DISPLAY_NAME_MAPPINGS = {"SeedNode": "Seed"}
