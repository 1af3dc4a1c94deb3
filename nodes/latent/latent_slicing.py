"""ComfyUI's nodes that join and cut latents along an axis (comfy_extras.nodes_latent): LatentConcat, LatentCut
and LatentCutToBatch.

The axes are named from the end as ComfyUI names them: x is the width, y the height, t the one before (the frames
of a video latent [B, C, T, H, W]; on an image latent [B, C, H, W] that is the channels).
"""
from __future__ import annotations

import math

from graph_engine import InvalidNodeInput

from .batching import repeat_to_batch_size
from .resize import MAX_RESOLUTION

PYTHON_MODULE = "comfy_extras.nodes_latent"
CATEGORY = "model/latent/advanced"
AXES_FROM_END = {"x": 1, "y": 2, "t": 3}  # how far from the last dimension each axis lies


def axis_index(latents, axis: str) -> int:
    """The dimension of `latents` that axis 'x', 'y' or 't' (a leading '-' is ignored) names."""
    return latents.ndim - AXES_FROM_END[axis.lstrip("-")]


class LatentConcat:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = ("samples2 joined after samples1 along x (right), y (below) or t; '-x', '-y', '-t' put it before. "
                   "samples2 is repeated or cut to samples1's batch.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples1": ("LATENT", {}), "samples2": ("LATENT", {}),
                             "dim": (["x", "-x", "y", "-y", "t", "-t"], {})}}

    def execute(self, samples1: dict, samples2: dict, dim: str):
        import torch

        first = samples1["samples"]
        second = repeat_to_batch_size(samples2["samples"], first.shape[0])
        parts = (second, first) if dim.startswith("-") else (first, second)
        axis = axis_index(first, dim)
        others = [size for index, size in enumerate(first.shape) if index != axis]
        if second.ndim != first.ndim or others != [s for i, s in enumerate(second.shape) if i != axis]:
            raise InvalidNodeInput(
                f"LatentConcat: latents of shape {tuple(first.shape)} and {tuple(samples2['samples'].shape)} cannot "
                f"be joined along {dim.lstrip('-')}: every other size must be the same (resize one of them first)")
        out = dict(samples1)
        out["samples"] = torch.cat(parts, dim=axis)
        return (out,)


class LatentCut:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = ("`amount` cells (or frames) along x, y or t from `index` on; a negative index counts from the end. "
                   "Both are kept inside the latent.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {}), "dim": (["x", "y", "t"], {}),
                             "index": ("INT", {"default": 0, "min": -MAX_RESOLUTION, "max": MAX_RESOLUTION, "step": 1}),
                             "amount": ("INT", {"default": 1, "min": 1, "max": MAX_RESOLUTION, "step": 1})}}

    def execute(self, samples: dict, dim: str, index: int, amount: int):
        import torch

        latents = samples["samples"]
        axis = axis_index(latents, dim)
        size = latents.shape[axis]
        if index >= 0:
            index = min(index, size - 1)
            amount = min(size - index, amount)
        else:
            index = max(index, -size)
            amount = min(-index, amount)
        out = dict(samples)
        out["samples"] = torch.narrow(latents, axis, index, amount)
        return (out,)


class LatentCutToBatch:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = ("Cut each latent along t, x or y into slices of `slice_size` and stack the slices as a batch; a "
                   "rest shorter than a slice is dropped. Cutting an image latent along t leaves it as it is.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {}), "dim": (["t", "x", "y"], {}),
                             "slice_size": ("INT", {"default": 1, "min": 1, "max": MAX_RESOLUTION, "step": 1})}}

    def execute(self, samples: dict, dim: str, slice_size: int):
        latents = samples["samples"]
        axis = axis_index(latents, dim)
        if axis < 2:  # the batch or channel axis: nothing to cut
            return (samples,)
        moved = latents.movedim(axis, 1)
        length = moved.shape[1]
        if length < slice_size:
            slice_size = length
        else:
            moved = moved[:, :math.floor(length / slice_size) * slice_size]
        out = dict(samples)
        out["samples"] = moved.reshape([-1, slice_size, *moved.shape[2:]]).movedim(1, axis)
        return (out,)


NODE_CLASS_MAPPINGS = {"LatentConcat": LatentConcat, "LatentCut": LatentCut, "LatentCutToBatch": LatentCutToBatch}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
