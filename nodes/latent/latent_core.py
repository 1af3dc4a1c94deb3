"""ComfyUI's core latent batch and transform nodes: pick, repeat, rotate, flip, crop, paste and blend latents.

Each returns a new LATENT dict that keeps the input's other keys (noise_mask, batch_index) unless it changes them.
"""
from __future__ import annotations

import logging
import math

from graph_engine import InvalidNodeInput

from .latent_nodes import LATENT_SCALE
from .resize import MAX_RESOLUTION, resize

log = logging.getLogger(__name__)

PYTHON_MODULE = "nodes"
FLIP_METHODS = ("x-axis: vertically", "y-axis: horizontally")
ROTATIONS = ("none", "90 degrees", "180 degrees", "270 degrees")


def _pixels(**options) -> tuple[str, dict]:
    """An INT input in pixels that the node divides by 8 (one latent cell)."""
    return ("INT", {"min": 0, "max": MAX_RESOLUTION, "step": 8, **options})


def _mask_to_batch(masks, batch: int):
    """Noise masks [n, 1, H, W] repeated in turn until there is one for each of `batch` latents."""
    if masks.shape[0] >= batch:
        return masks
    return masks.repeat((math.ceil(batch / masks.shape[0]),) + (1,) * (masks.ndim - 1))[:batch]


class LatentFromBatch:
    CATEGORY = "model/latent/batch"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "frombatch"
    DESCRIPTION = ("Take `length` latents of a batch from `batch_index` on (negative counts from the end); they keep "
                   "their place in the batch for the sampler's noise.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",),
                             "batch_index": ("INT", {"default": 0, "min": -MAX_RESOLUTION, "max": MAX_RESOLUTION}),
                             "length": ("INT", {"default": 1, "min": 1, "max": 64})}}

    def frombatch(self, samples: dict, batch_index: int, length: int):
        latents = samples["samples"]
        batch = latents.shape[0]
        start = batch_index + batch if batch_index < 0 else batch_index
        start = max(0, min(batch - 1, start))
        length = min(batch - start, length)
        out = dict(samples)
        out["samples"] = latents[start:start + length].clone()
        if "noise_mask" in samples:
            masks = samples["noise_mask"]
            out["noise_mask"] = masks.clone() if masks.shape[0] == 1 else \
                _mask_to_batch(masks, batch)[start:start + length].clone()
        if "batch_index" in samples:
            out["batch_index"] = list(samples["batch_index"][start:start + length])
        else:
            out["batch_index"] = list(range(start, start + length))
        return (out,)


class RepeatLatentBatch:
    CATEGORY = "model/latent/batch"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "repeat"
    DESCRIPTION = "The whole batch `amount` times over; each copy gets its own noise (batch indices move on)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "amount": ("INT", {"default": 1, "min": 1, "max": 64})}}

    def repeat(self, samples: dict, amount: int):
        latents = samples["samples"]
        out = dict(samples)
        out["samples"] = latents.repeat((amount,) + (1,) * (latents.ndim - 1))
        masks = samples.get("noise_mask")
        if masks is not None and masks.shape[0] > 1:  # one mask serves every latent as it is
            out["noise_mask"] = masks.repeat((amount,) + (1,) * (masks.ndim - 1))
        if "batch_index" in samples:
            indices = list(samples["batch_index"])
            span = max(indices) - min(indices) + 1
            out["batch_index"] = indices + [index + copy * span for copy in range(1, amount) for index in indices]
        return (out,)


class LatentRotate:
    CATEGORY = "model/latent/transform"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "rotate"
    DESCRIPTION = "Rotate the latents clockwise by a quarter, half or three quarters of a turn."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "rotation": (list(ROTATIONS),)}}

    def rotate(self, samples: dict, rotation: str):
        import torch

        quarter_turns = ROTATIONS.index(rotation) if rotation in ROTATIONS else 0
        out = dict(samples)
        out["samples"] = torch.rot90(samples["samples"], k=quarter_turns, dims=[3, 2])
        return (out,)


class LatentFlip:
    CATEGORY = "model/latent/transform"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "flip"
    DESCRIPTION = "Mirror the latents top to bottom (x-axis) or left to right (y-axis)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "flip_method": (list(FLIP_METHODS),)}}

    def flip(self, samples: dict, flip_method: str):
        import torch

        out = dict(samples)
        if flip_method.startswith("x"):
            out["samples"] = torch.flip(samples["samples"], dims=[2])
        elif flip_method.startswith("y"):
            out["samples"] = torch.flip(samples["samples"], dims=[3])
        return (out,)


class LatentCrop:
    CATEGORY = "model/latent/transform"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "crop"
    DESCRIPTION = ("Cut a width x height pixel area at (x, y) out of the latents (in whole latent cells of 8 pixels); "
                   "the corner is moved in so that at least 64 pixels remain.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "width": _pixels(default=512, min=64),
                             "height": _pixels(default=512, min=64), "x": _pixels(default=0),
                             "y": _pixels(default=0)}}

    def crop(self, samples: dict, width: int, height: int, x: int, y: int):
        latents = samples["samples"]
        minimum = 64 // LATENT_SCALE
        left = max(0, min(x // LATENT_SCALE, latents.shape[3] - minimum))
        top = max(0, min(y // LATENT_SCALE, latents.shape[2] - minimum))
        out = dict(samples)
        out["samples"] = latents[:, :, top:top + height // LATENT_SCALE, left:left + width // LATENT_SCALE]
        return (out,)


def feather_weights(length: int, feather: int, ramp_start: bool, ramp_end: bool):
    """Per-row (or column) weights of a pasted latent: ramps of `feather` cells up from its start edge and down
    to its end edge, each only where that edge lies inside the target.

    Rows past a short side are indexed as Python slices index them, so a feather wider than the pasted latent
    weighs the same rows ComfyUI's does.
    """
    import torch

    weights = torch.ones(length)
    for step in range(feather):
        factor = (step + 1) / feather
        if ramp_start:
            weights[step:step + 1] *= factor
        if ramp_end:
            weights[length - 1 - step:length - step] *= factor
    return weights


def _check_pair(to_latents, from_latents, node: str, either_may_be_one: bool = False) -> None:
    """Raise for latents that cannot be combined: other channels, or batches that are neither equal nor one latent
    (on the `from` side; on either side with `either_may_be_one`)."""
    if from_latents.ndim != to_latents.ndim or from_latents.shape[1] != to_latents.shape[1]:
        raise InvalidNodeInput(
            f"{node}: the two latents differ in kind ({tuple(to_latents.shape)} and {tuple(from_latents.shape)}): "
            f"both must come from the same kind of model (the same number of channels)")
    batches = (to_latents.shape[0], from_latents.shape[0])
    if batches[1] != batches[0] and batches[1] != 1 and not (either_may_be_one and batches[0] == 1):
        raise InvalidNodeInput(
            f"{node}: a batch of {from_latents.shape[0]} latents cannot go onto a batch of {to_latents.shape[0]}: "
            f"give one latent, or as many as the other batch has")


class LatentComposite:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "composite"
    DESCRIPTION = ("Paste samples_from onto samples_to with its top left corner at (x, y) pixels (whole latent "
                   "cells); `feather` pixels along the inner edges blend into what lies below.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples_to": ("LATENT",), "samples_from": ("LATENT",), "x": _pixels(default=0),
                             "y": _pixels(default=0), "feather": _pixels(default=0)}}

    def composite(self, samples_to: dict, samples_from: dict, x: int, y: int, feather: int = 0):
        target, source = samples_to["samples"], samples_from["samples"]
        _check_pair(target, source, "LatentComposite")
        left, top, feather = x // LATENT_SCALE, y // LATENT_SCALE, feather // LATENT_SCALE
        height, width = target.shape[2], target.shape[3]
        if left >= width or top >= height:
            log.warning("LatentComposite: the corner (%d, %d) lies outside samples_to (%d x %d pixels): nothing pasted",
                        x, y, width * LATENT_SCALE, height * LATENT_SCALE)
            return (dict(samples_to, samples=target.clone()),)
        source = source[:, :, :height - top, :width - left]  # the part that fits
        rows, columns = source.shape[2], source.shape[3]
        out = dict(samples_to)
        pasted = target.clone()
        region = pasted[:, :, top:top + rows, left:left + columns]
        if feather == 0:
            region[...] = source
        else:
            row_weights = feather_weights(rows, feather, top != 0, top + rows < height)
            column_weights = feather_weights(columns, feather, left != 0, left + columns < width)
            mask = (row_weights[:, None] * column_weights[None, :]).to(source.device, source.dtype)
            region[...] = source * mask + region * (1.0 - mask)
        out["samples"] = pasted
        return (out,)


class LatentBlend:
    CATEGORY = "experimental"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "blend"
    DESCRIPTION = ("samples1 x blend_factor + samples2 x (1 - blend_factor); samples2 is first resized (bicubic, "
                   "center crop) to samples1's size when they differ.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples1": ("LATENT",), "samples2": ("LATENT",),
                             "blend_factor": ("FLOAT", {"default": 0.5, "min": 0, "max": 1, "step": 0.01})}}

    def blend(self, samples1: dict, samples2: dict, blend_factor: float):
        first, second = samples1["samples"], samples2["samples"]
        _check_pair(first, second, "LatentBlend", either_may_be_one=True)
        if first.shape[2:] != second.shape[2:]:
            second = resize(second, first.shape[3], first.shape[2], "bicubic", "center")
        out = dict(samples1)
        out["samples"] = first * blend_factor + second * (1 - blend_factor)
        return (out,)


NODE_CLASS_MAPPINGS = {"LatentFromBatch": LatentFromBatch, "RepeatLatentBatch": RepeatLatentBatch,
                       "LatentRotate": LatentRotate, "LatentFlip": LatentFlip, "LatentCrop": LatentCrop,
                       "LatentComposite": LatentComposite, "LatentBlend": LatentBlend}
NODE_DISPLAY_NAME_MAPPINGS = {"LatentFromBatch": "Get Latent From Batch", "RepeatLatentBatch": "Repeat Latent Batch",
                              "LatentRotate": "Rotate Latent", "LatentFlip": "Flip Latent", "LatentCrop": "Crop Latent",
                              "LatentComposite": "Latent Composite", "LatentBlend": "Latent Blend"}
