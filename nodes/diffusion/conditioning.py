"""ComfyUI's conditioning transforms: combining, blending and limiting prompts to an area, a mask or a part of sampling.

Each node returns new CONDITIONING (a list of [tensor, options] entries) and leaves its input as it was; the
options it sets are read by the sampler's guidance (nodes/runtime/guidance).
"""
from __future__ import annotations

import logging

from graph_engine import InvalidNodeInput
from nodes.latent.resize import MAX_RESOLUTION

TRANSFORM = "model/conditioning/transform"
STRENGTH = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01})

logger = logging.getLogger(__name__)


def with_options(conditioning: list, values: dict) -> list:
    """A copy of CONDITIONING whose every entry's options also hold `values`; the tensors are shared."""
    return [[tensor, {**options, **values}] for tensor, options in conditioning]


def first_entry(conditioning: list, name: str):
    """The first entry of `name`, the one ComfyUI applies (it warns when there are more)."""
    if not conditioning:
        raise InvalidNodeInput(f"{name} is empty: connect the output of a text encoder")
    if len(conditioning) > 1:
        logger.warning("%s holds %d entries; only the first is applied, as in ComfyUI", name, len(conditioning))
    return conditioning[0]


def _same_width(to, source, what: str) -> None:
    if to.shape[-1] != source.shape[-1]:
        raise InvalidNodeInput(f"{what}: conditioning_to has {to.shape[-1]} channels per token and conditioning_from "
                               f"{source.shape[-1]}; both must come from the same model's CLIP")


class ConditioningCombine:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "combine"
    DESCRIPTION = "Both conditionings guide each step; their predictions are averaged where they overlap."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning_1": ("CONDITIONING",), "conditioning_2": ("CONDITIONING",)}}

    def combine(self, conditioning_1, conditioning_2):
        return (list(conditioning_1) + list(conditioning_2),)


class ConditioningAverage:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "addWeighted"
    DESCRIPTION = ("Blends the first entry of conditioning_from into each entry of conditioning_to: "
                   "to * strength + from * (1 - strength), token by token (from is cut or zero-padded to length).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",),
                             "conditioning_to_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0,
                                                                    "step": 0.01})}}

    def addWeighted(self, conditioning_to, conditioning_from, conditioning_to_strength: float):
        import torch

        source, source_options = first_entry(conditioning_from, "conditioning_from")
        pooled_from = source_options.get("pooled_output")
        weight = conditioning_to_strength
        out = []
        for tensor, options in conditioning_to:
            _same_width(tensor, source, "ConditioningAverage")
            blended_from = source[:, :tensor.shape[1]]
            missing = tensor.shape[1] - blended_from.shape[1]
            if missing > 0:
                padding = blended_from.new_zeros((blended_from.shape[0], missing, blended_from.shape[2]))
                blended_from = torch.cat([blended_from, padding], dim=1)
            options = dict(options)
            pooled_to = options.get("pooled_output")
            if pooled_from is not None:
                options["pooled_output"] = (pooled_from if pooled_to is None
                                            else pooled_to * weight + pooled_from * (1.0 - weight))
            out.append([tensor * weight + blended_from * (1.0 - weight), options])
        return (out,)


class ConditioningConcat:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "concat"
    DESCRIPTION = "Appends the tokens of conditioning_from's first entry to each entry of conditioning_to."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning_to": ("CONDITIONING",), "conditioning_from": ("CONDITIONING",)}}

    def concat(self, conditioning_to, conditioning_from):
        import torch

        source = first_entry(conditioning_from, "conditioning_from")[0]
        out = []
        for tensor, options in conditioning_to:
            _same_width(tensor, source, "ConditioningConcat")
            out.append([torch.cat((tensor, source.to(tensor.device)), dim=1), dict(options)])
        return (out,)


class ConditioningSetArea:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    DESCRIPTION = "Limits the conditioning to a rectangle of the image (pixels, in steps of 8), with a strength."

    @classmethod
    def INPUT_TYPES(cls):
        side = {"min": 64, "max": MAX_RESOLUTION, "step": 8}
        offset = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {"conditioning": ("CONDITIONING",),
                             "width": ("INT", {"default": 64, **side}), "height": ("INT", {"default": 64, **side}),
                             "x": ("INT", dict(offset)), "y": ("INT", dict(offset)), "strength": STRENGTH}}

    def append(self, conditioning, width: int, height: int, x: int, y: int, strength: float):
        area = (height // 8, width // 8, y // 8, x // 8)  # latent pixels, as ComfyUI stores it
        return (with_options(conditioning, {"area": area, "strength": strength, "set_area_to_bounds": False}),)


class ConditioningSetAreaPercentage:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    DESCRIPTION = "Limits the conditioning to a rectangle given as fractions of the image's width and height."

    @classmethod
    def INPUT_TYPES(cls):
        fraction = {"min": 0, "max": 1.0, "step": 0.01}
        return {"required": {"conditioning": ("CONDITIONING",),
                             "width": ("FLOAT", {"default": 1.0, **fraction}),
                             "height": ("FLOAT", {"default": 1.0, **fraction}),
                             "x": ("FLOAT", {"default": 0, **fraction}), "y": ("FLOAT", {"default": 0, **fraction}),
                             "strength": STRENGTH}}

    def append(self, conditioning, width: float, height: float, x: float, y: float, strength: float):
        area = ("percentage", height, width, y, x)  # resolved against the latent's size when sampling starts
        return (with_options(conditioning, {"area": area, "strength": strength, "set_area_to_bounds": False}),)


class ConditioningSetAreaStrength:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    DESCRIPTION = "Sets how much the conditioning weighs where it overlaps others."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "strength": STRENGTH}}

    def append(self, conditioning, strength: float):
        return (with_options(conditioning, {"strength": strength}),)


class ConditioningSetMask:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "append"
    DESCRIPTION = ("Limits the conditioning to a mask (scaled to the latent), weighted by strength; 'mask bounds' "
                   "also denoises only the mask's bounding box with it, which keeps small regions detailed.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "mask": ("MASK",), "strength": STRENGTH,
                             "set_cond_area": (["default", "mask bounds"],)}}

    def append(self, conditioning, mask, set_cond_area: str, strength: float):
        import torch

        if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
            raise InvalidNodeInput(f"mask must be a MASK tensor [batch, height, width], got "
                                   f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}")
        if mask.ndim == 2:
            mask = mask.unsqueeze(0)
        return (with_options(conditioning, {"mask": mask, "set_area_to_bounds": set_cond_area != "default",
                                            "mask_strength": strength}),)


class ConditioningZeroOut:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "zero_out"
    DESCRIPTION = "All zeros of the same shapes: an empty prompt for models trained with one (SDXL Turbo's negative)."

    ZEROED_OPTIONS = ("pooled_output", "conditioning_lyrics", "conditioning_scale")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",)}}

    def zero_out(self, conditioning):
        import torch

        out = []
        for tensor, options in conditioning:
            options = dict(options)
            for key in self.ZEROED_OPTIONS:
                if options.get(key) is not None:
                    options[key] = torch.zeros_like(options[key])
            out.append([torch.zeros_like(tensor), options])
        return (out,)


class ConditioningMultiply:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "multiply"
    DESCRIPTION = "Scales every entry's hidden states (and pooled output) by `multiplier`: a stronger or weaker prompt."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",),
                             "multiplier": ("FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01})}}

    def multiply(self, conditioning, multiplier: float):
        out = []
        for tensor, options in conditioning:
            options = dict(options)
            if options.get("pooled_output") is not None:
                options["pooled_output"] = options["pooled_output"] * multiplier
            out.append([tensor * multiplier, options])
        return (out,)


class ConditioningSetTimestepRange:
    CATEGORY = TRANSFORM
    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "set_range"
    DESCRIPTION = "Applies the conditioning only from `start` to `end` of sampling (0: first step, 1: last)."

    @classmethod
    def INPUT_TYPES(cls):
        fraction = {"min": 0.0, "max": 1.0, "step": 0.001}
        return {"required": {"conditioning": ("CONDITIONING",), "start": ("FLOAT", {"default": 0.0, **fraction}),
                             "end": ("FLOAT", {"default": 1.0, **fraction})}}

    def set_range(self, conditioning, start: float, end: float):
        return (with_options(conditioning, {"start_percent": start, "end_percent": end}),)


NODE_CLASS_MAPPINGS = {
    "ConditioningCombine": ConditioningCombine, "ConditioningAverage": ConditioningAverage,
    "ConditioningConcat": ConditioningConcat, "ConditioningSetArea": ConditioningSetArea,
    "ConditioningSetAreaPercentage": ConditioningSetAreaPercentage,
    "ConditioningSetAreaStrength": ConditioningSetAreaStrength, "ConditioningSetMask": ConditioningSetMask,
    "ConditioningZeroOut": ConditioningZeroOut, "ConditioningSetTimestepRange": ConditioningSetTimestepRange,
    "ConditioningMultiply": ConditioningMultiply,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "ConditioningCombine": "Conditioning (Combine)", "ConditioningAverage": "Conditioning (Average)",
    "ConditioningConcat": "Conditioning (Concat)", "ConditioningSetArea": "Conditioning (Set Area)",
    "ConditioningSetAreaPercentage": "Conditioning (Set Area with Percentage)",
    "ConditioningSetAreaStrength": "Conditioning (Set Area Strength)",
    "ConditioningSetMask": "Conditioning (Set Mask)", "ConditioningZeroOut": "Conditioning Zero Out",
    "ConditioningSetTimestepRange": "ConditioningSetTimestepRange", "ConditioningMultiply": "Conditioning (Multiply)",
}
