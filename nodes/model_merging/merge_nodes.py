"""ComfyUI's model and CLIP merging nodes: the first input's clone with the second's weights patched in.

Per parameter, weight = w1 * strength_model + strength_patch * w2 (a ratio r keeps r of the first model), through
the weight-patch surface (runtime/models/weight_patches.py): the merge is a view of the shared modules, applied just
before they run, and the second model's own patches (a LoRA, an earlier merge) come with its weights."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graph_engine import InvalidNodeInput

PYTHON_MODULE = "comfy_extras.nodes_model_merging"
CATEGORY = "model/merging"
UNET_PREFIX = "diffusion_model."
RATIO = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})
MULTIPLIER = ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01})


def merged(first: Any, second: Any, strength_patch: float, strength_model: float, names: tuple[str, str],
           prefix: str | None = None) -> Any:
    """A clone of `first` whose parameters become first * strength_model + strength_patch * second."""
    return merged_by_ratio(first, second, lambda key: (strength_patch, strength_model), names, prefix)


def merged_by_ratio(first: Any, second: Any, strengths: Any, names: tuple[str, str], prefix: str | None = None) -> Any:
    """As `merged`, with `strengths(key)` giving (strength_patch, strength_model) per ComfyUI key."""
    check_same_family(first, second, names)
    result = first.clone()
    groups: dict[tuple[float, float], dict[str, Any]] = {}
    for key, patches in second.get_key_patches(prefix).items():
        groups.setdefault(strengths(key), {})[key] = patches
    for (strength_patch, strength_model), patches in groups.items():
        result.add_patches(patches, strength_patch, strength_model)
    return result


def check_same_family(first: Any, second: Any, names: tuple[str, str]) -> None:
    """Merging needs one architecture on both sides: ComfyUI would skip every key silently."""
    if first.architecture != second.architecture:
        raise InvalidNodeInput(f"{names[0]} is {first.architecture} ({first.source}) but {names[1]} is "
                               f"{second.architecture} ({second.source}): only models of one family can be merged")


def block_ratio(key: str, ratios: Mapping[str, float], default: float) -> float:
    """The ratio of the longest block name that the UNet key (without diffusion_model.) starts with."""
    inner = key[len(UNET_PREFIX):]
    matches = [name for name in ratios if inner.startswith(name)]
    return ratios[max(matches, key=len)] if matches else default


class ModelMergeSimple:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model1": ("MODEL",), "model2": ("MODEL",), "ratio": RATIO}}

    def merge(self, model1, model2, ratio: float):
        return (merged(model1, model2, 1.0 - ratio, ratio, ("model1", "model2"), UNET_PREFIX),)


class ModelMergeSubtract:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model1": ("MODEL",), "model2": ("MODEL",), "multiplier": MULTIPLIER}}

    def merge(self, model1, model2, multiplier: float):
        """(model1 - model2) * multiplier."""
        return (merged(model1, model2, -multiplier, multiplier, ("model1", "model2"), UNET_PREFIX),)


class ModelMergeAdd:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model1": ("MODEL",), "model2": ("MODEL",)}}

    def merge(self, model1, model2):
        return (merged(model1, model2, 1.0, 1.0, ("model1", "model2"), UNET_PREFIX),)


class ModelMergeBlocks:
    """A ratio per UNet block name; the longest matching name wins, unmatched weights take the first ratio."""

    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model1": ("MODEL",), "model2": ("MODEL",), "input": RATIO, "middle": RATIO,
                             "out": RATIO}}

    def merge(self, model1, model2, **ratios: float):
        declared = [name for name in self.INPUT_TYPES()["required"] if name in ratios]
        default = ratios[declared[0]]

        def strengths(key: str) -> tuple[float, float]:
            ratio = block_ratio(key, ratios, default)
            return 1.0 - ratio, ratio
        return (merged_by_ratio(model1, model2, strengths, ("model1", "model2"), UNET_PREFIX),)


class CLIPMergeSimple:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip1": ("CLIP",), "clip2": ("CLIP",), "ratio": RATIO}}

    def merge(self, clip1, clip2, ratio: float):
        return (merged(clip1, clip2, 1.0 - ratio, ratio, ("clip1", "clip2")),)


class CLIPMergeSubtract:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip1": ("CLIP",), "clip2": ("CLIP",), "multiplier": MULTIPLIER}}

    def merge(self, clip1, clip2, multiplier: float):
        return (merged(clip1, clip2, -multiplier, multiplier, ("clip1", "clip2")),)


class CLIPMergeAdd:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("CLIP",)
    FUNCTION = "merge"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip1": ("CLIP",), "clip2": ("CLIP",)}}

    def merge(self, clip1, clip2):
        return (merged(clip1, clip2, 1.0, 1.0, ("clip1", "clip2")),)


NODE_CLASS_MAPPINGS = {"ModelMergeSimple": ModelMergeSimple, "ModelMergeBlocks": ModelMergeBlocks,
                       "ModelMergeSubtract": ModelMergeSubtract, "ModelMergeAdd": ModelMergeAdd,
                       "CLIPMergeSimple": CLIPMergeSimple, "CLIPMergeSubtract": CLIPMergeSubtract,
                       "CLIPMergeAdd": CLIPMergeAdd}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
