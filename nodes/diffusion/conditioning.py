"""ConditioningCombine and ConditioningSetArea: several prompts, each over the whole image or a rectangle."""
from __future__ import annotations

from nodes.latent.resize import MAX_RESOLUTION


class ConditioningCombine:
    CATEGORY = "model/conditioning/transform"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "combine"
    DESCRIPTION = "Both conditionings guide each step; their predictions are averaged where they overlap."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning_1": ("CONDITIONING",), "conditioning_2": ("CONDITIONING",)}}

    def combine(self, conditioning_1, conditioning_2):
        return (list(conditioning_1) + list(conditioning_2),)


class ConditioningSetArea:
    CATEGORY = "model/conditioning/transform"
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    DESCRIPTION = "Limits the conditioning to a rectangle of the image (pixels, in steps of 8), with a strength."

    @classmethod
    def INPUT_TYPES(cls):
        side = {"min": 64, "max": MAX_RESOLUTION, "step": 8}
        offset = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {"conditioning": ("CONDITIONING",),
                             "width": ("INT", {"default": 64, **side}), "height": ("INT", {"default": 64, **side}),
                             "x": ("INT", dict(offset)), "y": ("INT", dict(offset)),
                             "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01})}}

    def append(self, conditioning, width: int, height: int, x: int, y: int, strength: float):
        area = (height // 8, width // 8, y // 8, x // 8)  # latent pixels, as ComfyUI stores it
        return ([[tensor, {**options, "area": area, "strength": strength, "set_area_to_bounds": False}]
                 for tensor, options in conditioning],)


NODE_CLASS_MAPPINGS = {"ConditioningCombine": ConditioningCombine, "ConditioningSetArea": ConditioningSetArea}
NODE_DISPLAY_NAME_MAPPINGS = {"ConditioningCombine": "Conditioning (Combine)",
                              "ConditioningSetArea": "Conditioning (Set Area)"}
